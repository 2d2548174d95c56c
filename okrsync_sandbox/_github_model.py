"""GitHub's data as the sandbox stores it, and as GitHub's REST API shows it.

`GitHubView` renders stored repositories, issues, comments and users as GitHub JSON
(shapes of the description's `full-repository`, `issue`, `issue-comment`, `simple-user`
and `private-user` schemas), with every URL absolute and pointing at the sandbox. It
knows nothing of HTTP.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

CLOSE_REASONS = ("completed", "not_planned", "duplicate")
AUTHOR_ASSOCIATION = "MEMBER"  # everyone in the sandbox belongs to the repositories' org


# --- state -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    id: int
    login: str
    type: str = "User"  # or "Organization"


@dataclass(frozen=True, slots=True)
class Label:
    id: int
    name: str
    color: str  # six hex digits, no "#", as GitHub stores it
    description: str | None = None


@dataclass(frozen=True, slots=True)
class App:
    """A GitHub App: its installation token acts as the `<slug>[bot]` user."""

    id: int
    slug: str
    name: str
    owner: User
    created_at: datetime


@dataclass(eq=False, slots=True)
class Comment:
    id: int
    body: str
    user: User
    created_at: datetime
    updated_at: datetime
    app: App | None = None  # the GitHub App it was made through, if any


@dataclass(eq=False, slots=True)
class Repo:
    id: int
    owner: User
    name: str
    created_at: datetime
    labels: dict[str, Label] = field(default_factory=dict, repr=False)  # by lower-case name
    issues: dict[int, Issue] = field(default_factory=dict, repr=False)  # by number

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def next_number(self) -> int:
        """Issues and pull requests share one sequence per repository, as on GitHub."""
        return max(self.issues, default=0) + 1


@dataclass(eq=False, slots=True)
class Issue:
    """An issue, or a pull request (`is_pull_request`): GitHub lists both as issues."""

    id: int
    number: int
    repo: Repo = field(repr=False)
    title: str
    body: str | None
    user: User
    labels: list[Label]
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None
    closed_by: User | None = None
    is_pull_request: bool = False
    comments: list[Comment] = field(default_factory=list, repr=False)
    parent: Issue | None = field(default=None, repr=False)
    children: list[Issue] = field(default_factory=list, repr=False)

    @property
    def ref(self) -> str:
        return f"{self.repo.full_name}#{self.number}"

    def ancestors(self) -> Iterator[Issue]:
        parent = self.parent
        while parent is not None:
            yield parent
            parent = parent.parent


# --- JSON shapes -----------------------------------------------------------------------


def github_timestamp(moment: datetime) -> str:
    """GitHub's wire format for instants: 2026-11-24T10:00:00Z (UTC, whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    """A legacy global node id, e.g. MDU6SXNzdWUx for Issue 1 ("05:Issue1" in base64)."""
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def label_color(name: str) -> str:
    """A stable colour per label name (GitHub picks one at random when a label is made)."""
    return hashlib.sha256(name.lower().encode()).hexdigest()[:6]


def etag(payload: bytes) -> str:
    return f'W/"{hashlib.sha256(payload).hexdigest()}"'


class GitHubView:
    """Renders state as GitHub JSON. `base` is the sandbox URL: the API lives at its root
    (like api.github.com) and the "web" URLs (`html_url`) on the same host."""

    def __init__(self, base: str) -> None:
        self.api = base
        self.web = base

    # --- users and labels ---------------------------------------------------------------

    def user(self, user: User) -> dict[str, Any]:
        """A `simple-user`."""
        url = f"{self.api}/users/{user.login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": node_id(user.type, user.id),
            "avatar_url": f"{self.web}/avatars/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self.web}/{user.login}",
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def authenticated_user(self, user: User, created_at: datetime) -> dict[str, Any]:
        """A `private-user`: what GET /user shows the token's owner."""
        stamp = github_timestamp(created_at)
        return {
            **self.user(user),
            "user_view_type": "private",
            "name": user.login,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "notification_email": None,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": stamp,
            "updated_at": stamp,
            "private_gists": 0,
            "total_private_repos": 0,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": True,
            "plan": {
                "name": "free",
                "space": 976562499,
                "collaborators": 0,
                "private_repos": 10000,
            },
        }

    def label(self, repo: Repo, label: Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "node_id": node_id("Label", label.id),
            "url": f"{self.repo_url(repo)}/labels/{quote(label.name, safe='')}",
            "name": label.name,
            "color": label.color,
            "default": False,
            "description": label.description,
        }

    # --- repositories -------------------------------------------------------------------

    def repo_url(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.full_name}"

    def repository(self, repo: Repo, updated_at: datetime) -> dict[str, Any]:
        """A `full-repository`: a private repository of an organization, issues on."""
        open_count = sum(1 for i in repo.issues.values() if i.state == "open")
        created, updated = github_timestamp(repo.created_at), github_timestamp(updated_at)
        owner = self.user(repo.owner)
        return {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": True,
            "owner": owner,
            "html_url": f"{self.web}/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": self.repo_url(repo),
            **self._repository_urls(repo),
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "forks_count": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "size": 0,
            "default_branch": "main",
            "open_issues_count": open_count,  # GitHub counts open pull requests here too
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "private",
            "pushed_at": updated,
            "created_at": created,
            "updated_at": updated,
            "permissions": {
                "admin": True,
                "maintain": True,
                "push": True,
                "triage": True,
                "pull": True,
            },
            "allow_forking": False,
            "web_commit_signoff_required": False,
            "license": None,
            "forks": 0,
            "open_issues": open_count,
            "watchers": 0,
            "network_count": 0,
            "subscribers_count": 0,
            "organization": owner if repo.owner.type == "Organization" else None,
        }

    def _repository_urls(self, repo: Repo) -> dict[str, str]:
        """The hypermedia URL templates every repository object carries."""
        url = self.repo_url(repo)
        host = self.web.split("://", 1)[-1]
        templates = {
            "archive": "/{archive_format}{/ref}",
            "assignees": "/assignees{/user}",
            "blobs": "/git/blobs{/sha}",
            "branches": "/branches{/branch}",
            "collaborators": "/collaborators{/collaborator}",
            "comments": "/comments{/number}",
            "commits": "/commits{/sha}",
            "compare": "/compare/{base}...{head}",
            "contents": "/contents/{+path}",
            "contributors": "/contributors",
            "deployments": "/deployments",
            "downloads": "/downloads",
            "events": "/events",
            "forks": "/forks",
            "git_commits": "/git/commits{/sha}",
            "git_refs": "/git/refs{/sha}",
            "git_tags": "/git/tags{/sha}",
            "hooks": "/hooks",
            "issue_comment": "/issues/comments{/number}",
            "issue_events": "/issues/events{/number}",
            "issues": "/issues{/number}",
            "keys": "/keys{/key_id}",
            "labels": "/labels{/name}",
            "languages": "/languages",
            "merges": "/merges",
            "milestones": "/milestones{/number}",
            "notifications": "/notifications{?since,all,participating}",
            "pulls": "/pulls{/number}",
            "releases": "/releases{/id}",
            "stargazers": "/stargazers",
            "statuses": "/statuses/{sha}",
            "subscribers": "/subscribers",
            "subscription": "/subscription",
            "tags": "/tags",
            "teams": "/teams",
            "trees": "/git/trees{/sha}",
        }
        urls = {f"{name}_url": url + suffix for name, suffix in templates.items()}
        urls.update(
            {
                "git_url": f"git://{host}/{repo.full_name}.git",
                "ssh_url": f"git@{host.split(':')[0]}:{repo.full_name}.git",
                "clone_url": f"{self.web}/{repo.full_name}.git",
                "svn_url": f"{self.web}/{repo.full_name}",
            }
        )
        return urls

    # --- issues and comments ------------------------------------------------------------

    def issue_url(self, issue: Issue) -> str:
        return f"{self.repo_url(issue.repo)}/issues/{issue.number}"

    def issue(self, issue: Issue, *, single: bool = False) -> dict[str, Any]:
        """An `issue`. Listings leave out `closed_by`, as GitHub's do; a single GET has it."""
        url = self.issue_url(issue)
        kind = "pull" if issue.is_pull_request else "issues"
        shown: dict[str, Any] = {
            "url": url,
            "repository_url": self.repo_url(issue.repo),
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{self.web}/{issue.repo.full_name}/{kind}/{issue.number}",
            "id": issue.id,
            "node_id": node_id("PullRequest" if issue.is_pull_request else "Issue", issue.id),
            "number": issue.number,
            "title": issue.title,
            "user": self.user(issue.user),
            "labels": [self.label(issue.repo, label) for label in issue.labels],
            "state": issue.state,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": len(issue.comments),
            "created_at": github_timestamp(issue.created_at),
            "updated_at": github_timestamp(issue.updated_at),
            "closed_at": issue.closed_at and github_timestamp(issue.closed_at),
            "author_association": AUTHOR_ASSOCIATION,
            "type": None,
            "active_lock_reason": None,
            "sub_issues_summary": sub_issues_summary(issue),
            "issue_dependencies_summary": {
                "blocked_by": 0,
                "blocking": 0,
                "total_blocked_by": 0,
                "total_blocking": 0,
            },
            "body": issue.body or None,
            "reactions": self._reactions(url),
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": None,
            "state_reason": issue.state_reason,
            "parent_issue_url": issue.parent and self.issue_url(issue.parent),
        }
        if issue.is_pull_request:
            shown["draft"] = False
            shown["pull_request"] = self._pull_request_links(issue)
        if single:
            shown["closed_by"] = issue.closed_by and self.user(issue.closed_by)
        return shown

    def _pull_request_links(self, issue: Issue) -> dict[str, Any]:
        html = f"{self.web}/{issue.repo.full_name}/pull/{issue.number}"
        return {
            "url": f"{self.repo_url(issue.repo)}/pulls/{issue.number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "merged_at": None,
        }

    def comment(self, issue: Issue, comment: Comment) -> dict[str, Any]:
        """An `issue-comment`."""
        return {
            "url": self.comment_url(issue.repo, comment),
            "html_url": (
                f"{self.web}/{issue.repo.full_name}/issues/{issue.number}#issuecomment-{comment.id}"
            ),
            "issue_url": self.issue_url(issue),
            "id": comment.id,
            "node_id": node_id("IssueComment", comment.id),
            "user": self.user(comment.user),
            "created_at": github_timestamp(comment.created_at),
            "updated_at": github_timestamp(comment.updated_at),
            "author_association": AUTHOR_ASSOCIATION,
            "body": comment.body,
            "reactions": self._reactions(self.comment_url(issue.repo, comment)),
            "performed_via_github_app": comment.app and self.integration(comment.app),
        }

    def integration(self, app: App) -> dict[str, Any]:
        """An `integration`: the GitHub App a comment was made through."""
        stamp = github_timestamp(app.created_at)
        return {
            "id": app.id,
            "slug": app.slug,
            "node_id": node_id("Integration", app.id),
            "client_id": f"Iv1.{hashlib.sha256(app.slug.encode()).hexdigest()[:16]}",
            "owner": self.user(app.owner),
            "name": app.name,
            "description": None,
            "external_url": f"{self.web}/{app.owner.login}",
            "html_url": f"{self.web}/apps/{app.slug}",
            "created_at": stamp,
            "updated_at": stamp,
            "permissions": {"issues": "write", "metadata": "read"},
            "events": [],
        }

    def comment_url(self, repo: Repo, comment: Comment) -> str:
        return f"{self.repo_url(repo)}/issues/comments/{comment.id}"

    @staticmethod
    def _reactions(owner_url: str) -> dict[str, Any]:
        counts = ("total_count", "+1", "-1", "laugh", "hooray", "confused", "heart", "rocket")
        return {"url": f"{owner_url}/reactions", **dict.fromkeys(counts, 0), "eyes": 0}


def sub_issues_summary(issue: Issue) -> dict[str, int]:
    """Counts of the direct sub-issues; closed ones count as completed whatever the reason."""
    total = len(issue.children)
    completed = sum(1 for child in issue.children if child.state == "closed")
    return {
        "total": total,
        "completed": completed,
        "percent_completed": completed * 100 // total if total else 0,
    }
