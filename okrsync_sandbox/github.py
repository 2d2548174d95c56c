"""A stateful, local GitHub (api.github.com REST API) for integration tests and the demo.

PyGithub talks to it over HTTP. Requests and responses are checked against GitHub's
published description (trimmed copy in specs/github.json); the places where GitHub or
PyGithub knowingly differ from that description are listed in `GITHUB_RELAXATIONS`.

Behaviour copied from GitHub on purpose, because clients must cope with it:
- The issues list includes pull requests (with a `pull_request` key); issues and pull
  requests share one sequence of numbers per repository.
- Lists page with `per_page` (default 30, at most 100) and `page`. The `Link` header has
  absolute prev/next/last/first URLs that keep the other query parameters and, like
  GitHub's, address the repository by id: `/repositories/{id}/issues?...&page=2`.
- `since` keeps what was updated at or after that instant; timestamps are whole seconds.
- The repository's labels list (`GET /repos/{owner}/{repo}/labels`) has every label
  defined there, in creation order, whether an issue carries it or not; a label is
  defined when an issue first gets it (or by `add_labels`, or `POST .../labels` with its
  `color` and `description`; a name it has already is 422 `already_exists`). Adding
  labels to an issue answers the issue's labels; removing one it lacks is 404.
- Listed issues have no `closed_by` (a single GET has it), so reading it through
  PyGithub's object model costs one request per issue.
- Creating or editing a comment bumps the issue's `updated_at`, as do label changes,
  closing, reopening and linking sub-issues. A closed sub-issue does not bump its parent.
- Every response carries the rate-limit headers. Each authenticated request except
  GET /rate_limit spends one of 5000 an hour; with none left the answer is 403 "API rate
  limit exceeded".
- Conditional requests: every 2xx with a body carries a weak `ETag` (a hash of the body).
  A GET whose `If-None-Match` names the ETag the answer would have is answered 304 Not
  Modified with no body, its `ETag` and the rate-limit headers, and, as GitHub documents
  ("a 304 response does not count against your primary rate limit"), spends nothing: the
  request is given back, so `X-RateLimit-Remaining` is what it was before it. GitHub's
  description declares 304 only on some operations (GET /user, /search/issues ...), not
  on the lists (issues, sub-issues, comments, labels); GitHub answers them so all the
  same, and the sandbox does (a relaxation in `GITHUB_RELAXATIONS`).
- The issue search (`GET /search/issues`) has a limit of its own, 30 requests a minute
  (`X-RateLimit-Resource: search`), and does not spend the hour's; with none left it
  answers 403 (or `search_limit_status`, e.g. 429) "API rate limit exceeded" with
  `X-RateLimit-Remaining: 0` and the minute's reset. Its query understands `repo:`,
  `is:issue|pr|open|closed`, `state:`, `label:` (and `-label:`), `no:label` and title
  words; `total_count` counts every match.
- Errors are `{"message", "documentation_url", "status"}`; invalid parameters are
  422 "Validation Failed" with `errors`.
- Comments are written as the token's user (`user_token()` adds tokens of other people);
  a GitHub App installation token (`add_app_installation()`) writes as `<slug>[bot]`, with
  `performed_via_github_app` set, and has no `GET /user` (403, as on GitHub).
"""

from __future__ import annotations

import copy
import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from okrsync_sandbox._github_model import (
    CLOSE_REASONS,
    App,
    Comment,
    GitHubView,
    Issue,
    Label,
    Repo,
    User,
    etag,
    label_color,
)
from okrsync_sandbox._openapi import Relaxation, SpecValidator
from okrsync_sandbox._server import ApiError, Fault, HttpRequest, HttpResponse, SandboxServer

SPEC_PATH = Path(__file__).with_name("specs") / "github.json"
API_VERSION = "2022-11-28"
RATE_LIMIT = 5000  # an hour, for a personal access token
SEARCH_RATE_LIMIT = 30  # a minute: the search API's own limit, apart from the hour's
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100
MAX_SUB_ISSUES = 100  # GitHub's limit per parent

DOCS_URL = "https://docs.github.com/rest"
RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY_DOCS = f"{RATE_LIMIT_DOCS}#about-secondary-rate-limits"
SECONDARY_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
NOT_FOR_INTEGRATIONS = "Resource not accessible by integration"

# Ids as large as GitHub's (issue and comment ids pass 2**31) and apart per kind, so that
# a client that mixes up an issue id, a number and a comment id fails visibly.
_FIRST_IDS = {
    "user": 1001,
    "repo": 700_000_001,
    "issue": 2_000_000_001,
    "comment": 3_000_000_001,
    "label": 6_000_000_001,
}

_REPO = "/repos/{owner}/{repo}"
_BY_ID = "/repositories/{repository_id}"
_ISSUE = "/issues/{issue_number}"

# --- where the description and GitHub disagree -----------------------------------------

# Lists whose Link URLs GitHub writes with the repository id instead of owner/repo.
_REPOSITORY_ID_LISTS = ("/issues", "/labels", f"{_ISSUE}/comments", f"{_ISSUE}/sub_issues")
_OWNER_REPO_PARAMETERS = ("#/components/parameters/owner", "#/components/parameters/repo")


def _operations(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for operations in spec["paths"].values():
        yield from operations.values()


def _serve_repository_id_paths(spec: dict[str, Any]) -> None:
    repository_id = {
        "name": "repository_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    for suffix in _REPOSITORY_ID_LISTS:
        operation = copy.deepcopy(spec["paths"][_REPO + suffix]["get"])
        operation.pop("operationId", None)
        kept = [p for p in operation["parameters"] if p.get("$ref") not in _OWNER_REPO_PARAMETERS]
        operation["parameters"] = [repository_id, *kept]
        spec["paths"][_BY_ID + suffix] = {"get": operation}


def _accept_bare_label_array(spec: dict[str, Any]) -> None:
    body = spec["paths"][f"{_REPO}{_ISSUE}/labels"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    schema["oneOf"].append({"type": "array", "minItems": 1, "items": {"type": "string"}})


def _schemas(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in the description that may be a schema (a superset: every dict)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _schemas(value)
    elif isinstance(node, list):
        for item in node:
            yield from _schemas(item)


def _allow_null_in_nullable_enums(spec: dict[str, Any]) -> None:
    for schema in _schemas(spec):
        enum = schema.get("enum")
        if schema.get("nullable") is True and isinstance(enum, list) and None not in enum:
            enum.append(None)


def _declare_not_modified_on_reads(spec: dict[str, Any]) -> None:
    for operations in spec["paths"].values():
        if "get" in operations:
            operations["get"]["responses"].setdefault(
                "304", {"$ref": "#/components/responses/not_modified"}
            )


def _declare_everywhere(status: str, response: str) -> Callable[[dict[str, Any]], None]:
    """A patch that lets every served operation answer `status` with a shared response."""

    def patch(spec: dict[str, Any]) -> None:
        for operation in _operations(spec):
            operation["responses"].setdefault(
                status, {"$ref": f"#/components/responses/{response}"}
            )

    return patch


GITHUB_RELAXATIONS: tuple[Relaxation, ...] = (
    Relaxation(
        why="GitHub's Link headers page issues, labels, comments and sub-issues through "
        "/repositories/{repository_id}/..., undocumented aliases of the /repos/{owner}/"
        "{repo}/... lists; clients follow those URLs, so they are served and checked alike.",
        patch=_serve_repository_id_paths,
    ),
    Relaxation(
        why="Nullable enums such as issue.state_reason do not list null, so the null "
        "GitHub sends for a never-closed issue fails (OpenAPI 3.0.3 wants null in the enum).",
        patch=_allow_null_in_nullable_enums,
    ),
    Relaxation(
        why="PyGithub's add_to_labels posts a bare JSON array of names; GitHub accepts it "
        "(the description says so in prose) but the schema only has {labels: [...]}.",
        patch=_accept_bare_label_array,
    ),
    Relaxation(
        why="Any GET answers 304 Not Modified (no body) to an If-None-Match naming the "
        "current ETag, as GitHub's conditional-request docs say; only a few operations "
        "(GET /user, /search/issues) declare 304, none of the lists.",
        patch=_declare_not_modified_on_reads,
    ),
    Relaxation(
        why="Any operation answers 401 Bad credentials to a wrong or missing token; "
        "only GET /user declares it.",
        patch=_declare_everywhere("401", "requires_authentication"),
    ),
    Relaxation(
        why="Any operation answers 403 API rate limit exceeded once the hour's requests "
        "are spent; few declare 403.",
        patch=_declare_everywhere("403", "forbidden"),
    ),
    Relaxation(
        why="GitHub answers a spent rate limit with 403 or 429 (its rate-limit docs say "
        "either); the search API's minute limit does so on GET /search/issues, which "
        "declares neither 429 nor its shape.",
        patch=_declare_everywhere("429", "forbidden"),
    ),
    Relaxation(
        why="Any operation on a missing resource answers 404 Not Found: editing or deleting "
        "a deleted comment does, yet those operations do not declare 404.",
        patch=_declare_everywhere("404", "not_found"),
    ),
    Relaxation(
        why="GitHub answers 422 Validation Failed to invalid query parameters (e.g. since) "
        "on list operations that do not declare 422.",
        patch=_declare_everywhere("422", "validation_failed"),
    ),
)


@functools.cache
def github_spec_validator() -> SpecValidator:
    """The validator for every GitHub sandbox of the process: the description loads once."""
    return SpecValidator(SPEC_PATH, relax=GITHUB_RELAXATIONS)


# --- errors ----------------------------------------------------------------------------


class GitHubError(ApiError):
    """An answer in GitHub's error shape, with its documentation link and `errors`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        documentation_url: str = DOCS_URL,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers=headers)
        self.errors = [dict(e) for e in errors]
        self.documentation_url = documentation_url


def _not_found() -> GitHubError:
    return GitHubError(HTTPStatus.NOT_FOUND, "Not Found")


def _invalid(resource: str, name: str) -> GitHubError:
    errors = [{"resource": resource, "field": name, "code": "invalid"}]
    return GitHubError(HTTPStatus.UNPROCESSABLE_ENTITY, "Validation Failed", errors=errors)


# --- the sandbox -----------------------------------------------------------------------


class GitHubSandbox(SandboxServer):
    """A local GitHub. See the module docstring for the behaviour it copies from GitHub.

    Authenticate with `Authorization: token <token>` or `Bearer <token>`. The API is at
    the root of `url` (PyGithub's `base_url`), like api.github.com.
    """

    json_media_type = "application/json; charset=utf-8"
    rate_limit_message = SECONDARY_LIMIT
    api_login = "okrsync"

    def __init__(self, token: str = "ghp_sandboxtoken", *, strict: bool = True, port: int = 0):
        super().__init__(validator=github_spec_validator(), strict=strict, port=port)
        self.token = token
        self.rate_limit_remaining = RATE_LIMIT
        self._window_reset: datetime | None = None
        self.search_remaining = SEARCH_RATE_LIMIT
        self.search_limit_status = 403
        self.search_requests = 0  # every /search/issues request that reached the limit check
        self._search_reset: datetime | None = None
        self._request_count = 0
        self.not_modified_count = 0  # 304s answered (free conditional requests)
        self.label_creations = 0  # POST /repos/{owner}/{repo}/labels that made a label
        self._repos: dict[str, Repo] = {}  # by lower-case full name
        self._users: dict[str, User] = {}  # by lower-case login
        self._next_id = dict(_FIRST_IDS)
        self.api_user = self._user(self.api_login)
        # Token -> who it acts as: the API user's, other people's, App installations'.
        self._tokens: dict[str, tuple[User, App | None]] = {}
        self._caller: tuple[User, App | None] = (self.api_user, None)  # of this request
        self._deleted: set[tuple[int, int]] = set()  # (repository id, number) of deleted issues
        self._register_routes()

    # --- test-facing API ----------------------------------------------------------------

    def add_repo(self, full_name: str) -> None:
        """Create `owner/name` (an organization's private repository) unless it exists."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"{full_name!r} is not owner/name")
        with self._lock:
            if full_name.lower() not in self._repos:
                self._repos[full_name.lower()] = Repo(
                    self._new_id("repo"), self._user(owner, "Organization"), name, self._stamp()
                )

    def add_issue(
        self,
        repo: str,
        title: str,
        labels: Iterable[str] = (),
        state: str = "open",
        state_reason: str | None = None,
        body: str = "",
        updated_at: datetime | None = None,
        user: str = "alex",
        created_at: datetime | None = None,
    ) -> int:
        """Open (or file already closed) an issue as a person would; returns its number."""
        if state not in ("open", "closed"):
            raise ValueError(f"state must be open or closed, not {state!r}")
        if state == "closed":
            state_reason = state_reason or "completed"
            _check_close_reason(state_reason)
        elif state_reason not in (None, "reopened"):
            raise ValueError(f"an open issue has no state_reason {state_reason!r}")
        with self._lock:
            issue = self._new_issue(repo, title, labels, body, user, created_at, updated_at)
            if state == "closed":
                issue.state, issue.state_reason = "closed", state_reason
                issue.closed_at, issue.closed_by = issue.updated_at, issue.user
            elif state_reason is not None:
                issue.state_reason = state_reason
            return issue.number

    def add_pull_request(
        self,
        repo: str,
        title: str,
        labels: Iterable[str] = (),
        updated_at: datetime | None = None,
        user: str = "alex",
    ) -> int:
        """Open a pull request; it is listed with the issues, as on GitHub."""
        with self._lock:
            pull = self._new_issue(repo, title, labels, "", user, None, updated_at)
            pull.is_pull_request = True
            return pull.number

    def add_sub_issue(self, repo: str, number: int, child_repo: str, child_number: int) -> None:
        """Make child_repo#child_number a sub-issue of repo#number (same owner, as GitHub
        requires; at most one parent; no cycles). Both issues' `updated_at` move."""
        with self._lock:
            parent, child = self.find_issue(repo, number), self.find_issue(child_repo, child_number)
            _check_sub_issue(parent, child)
            parent.children.append(child)
            child.parent = parent
            parent.updated_at = child.updated_at = self._stamp()

    def close_issue(
        self, repo: str, number: int, reason: str = "completed", user: str = "alex"
    ) -> None:
        _check_close_reason(reason)
        with self._lock:
            issue = self.find_issue(repo, number)
            issue.state, issue.state_reason = "closed", reason
            issue.closed_at = issue.updated_at = self._stamp()
            issue.closed_by = self._user(user)

    def reopen_issue(self, repo: str, number: int) -> None:
        with self._lock:
            issue = self.find_issue(repo, number)
            issue.state, issue.state_reason = "open", "reopened"
            issue.closed_at, issue.closed_by = None, None
            issue.updated_at = self._stamp()

    def add_labels(self, repo: str, names: Iterable[str]) -> None:
        """Define repository labels (on no issue yet); those that exist are kept."""
        with self._lock:
            self._labels(self._repos[repo.lower()], names)

    def set_labels(self, repo: str, number: int, labels: Iterable[str]) -> None:
        """Replace the issue's labels (creating repository labels as needed)."""
        with self._lock:
            issue = self.find_issue(repo, number)
            issue.labels = self._labels(issue.repo, labels)
            issue.updated_at = self._stamp()

    def repo_labels(self, repo: str) -> dict[str, str]:
        """The repository's labels: name -> colour, in creation order."""
        with self._lock:
            labels = sorted(self._repos[repo.lower()].labels.values(), key=lambda label: label.id)
            return {label.name: label.color for label in labels}

    def issue(self, repo: str, number: int) -> dict[str, Any]:
        """A snapshot of the stored issue (plain values, not GitHub JSON)."""
        with self._lock:
            issue = self.find_issue(repo, number)
            return {
                "id": issue.id,
                "number": issue.number,
                "title": issue.title,
                "state": issue.state,
                "state_reason": issue.state_reason,
                "labels": [label.name for label in issue.labels],
                "pull_request": issue.is_pull_request,
                "parent": issue.parent and issue.parent.ref,
                "sub_issues": [child.ref for child in issue.children],
                "comments": len(issue.comments),
                "created_at": issue.created_at,
                "updated_at": issue.updated_at,
                "closed_at": issue.closed_at,
            }

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        """The issue's comments, oldest first."""
        with self._lock:
            return [
                {
                    "id": c.id,
                    "body": c.body,
                    "user": c.user.login,
                    "created_at": c.created_at,
                    "updated_at": c.updated_at,
                }
                for c in self.find_issue(repo, number).comments
            ]

    def add_comment(self, repo: str, number: int, body: str, user: str = "alex") -> int:
        """A comment written by `user` (a person by default; `api_login` for the token's
        user); returns its id."""
        with self._lock:
            return self._add_comment(self.find_issue(repo, number), body, self._user(user)).id

    def edit_comment(self, repo: str, number: int, comment_id: int, body: str) -> None:
        """Edit a comment as a person with write access would (its author stays)."""
        with self._lock:
            issue = self.find_issue(repo, number)
            comment = next(c for c in issue.comments if c.id == comment_id)
            comment.body = body
            comment.updated_at = issue.updated_at = self._stamp()

    def delete_comment(self, repo: str, number: int, comment_id: int) -> None:
        """Delete a comment as a person with write access would."""
        with self._lock:
            issue = self.find_issue(repo, number)
            issue.comments.remove(next(c for c in issue.comments if c.id == comment_id))

    def delete_issue(self, repo: str, number: int) -> None:
        """Delete an issue as an admin would: it answers 410 Gone from then on."""
        with self._lock:
            found = self._repos[repo.lower()]
            del found.issues[number]
            self._deleted.add((found.id, number))

    def user_token(self, login: str, token: str) -> None:
        """Let `token` act as `login` (another person) on the API."""
        with self._lock:
            self._tokens[token] = (self._user(login), None)

    def add_app_installation(
        self, app_id: int, token: str = "ghs_sandboxinstallation", slug: str = "okrsync"
    ) -> str:
        """A GitHub App installation whose token is `token`; returns the bot's login."""
        with self._lock:
            created = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
            app = App(app_id, slug, slug.title(), self._user("acme", "Organization"), created)
            bot = self._user(f"{slug}[bot]", "Bot")
            self._tokens[token] = (bot, app)
            return bot.login

    def revoke_token(self, token: str | None = None) -> None:
        """Revoke `token` (default: the API user's): it answers 401 from now on."""
        with self._lock:
            if token is None or token == self.token:
                self.token = f"revoked-{self.token}"
            self._tokens.pop(token or "", None)

    def fail_next(
        self,
        n: int,
        status: int = 429,
        retry_after: str | None = None,
        rate_limit_reset: datetime | int | None = None,
    ) -> None:
        """Answer the next `n` requests as GitHub does when it throttles.

        403 without `retry_after`: the primary limit (X-RateLimit-Remaining: 0, and
        X-RateLimit-Reset at `rate_limit_reset`, default the current window's end).
        403 with `retry_after`, or 429: a secondary limit (Retry-After when given).
        Any other status: a bare error of that status.
        """
        with self._lock:
            self.inject_faults(n, self._fault(status, retry_after, rate_limit_reset))

    def repository_id(self, repo: str) -> int:
        """The repository's id, as GitHub's Link URLs (/repositories/{id}/...) use it."""
        with self._lock:
            return self._repos[repo.lower()].id

    def find_issue(self, repo: str, number: int) -> Issue:
        """The stored issue or pull request; KeyError when there is none."""
        with self._lock:
            found = self._repos.get(repo.lower())
            if found is None or number not in found.issues:
                raise KeyError(f"{repo}#{number}")
            return found.issues[number]

    # --- state helpers ------------------------------------------------------------------

    def _stamp(self, moment: datetime | None = None) -> datetime:
        """An instant as GitHub keeps it: UTC, whole seconds."""
        moment = moment or self.now()
        if moment.tzinfo is None:
            raise ValueError("timestamps must be aware datetimes (GitHub stores instants)")
        return moment.astimezone(UTC).replace(microsecond=0)

    def _new_id(self, kind: str) -> int:
        self._next_id[kind] += 1
        return self._next_id[kind] - 1

    def _user(self, login: str, kind: str = "User") -> User:
        if login.lower() not in self._users:
            self._users[login.lower()] = User(self._new_id("user"), login, kind)
        return self._users[login.lower()]

    def _labels(self, repo: Repo, names: Iterable[str]) -> list[Label]:
        """The repository's labels by name (case-insensitive), made when missing, once each."""
        labels: dict[str, Label] = {}
        for name in names:
            if not name.strip():
                raise ValueError("a label needs a name")
            key = name.lower()
            if key not in repo.labels:
                repo.labels[key] = Label(self._new_id("label"), name, label_color(name))
            labels.setdefault(key, repo.labels[key])
        return list(labels.values())

    def _new_issue(
        self,
        repo_name: str,
        title: str,
        labels: Iterable[str],
        body: str,
        user: str,
        created_at: datetime | None,
        updated_at: datetime | None,
    ) -> Issue:
        self.add_repo(repo_name)
        repo = self._repos[repo_name.lower()]
        created = self._stamp(created_at or updated_at)
        issue = Issue(
            id=self._new_id("issue"),
            number=repo.next_number(),
            repo=repo,
            title=title,
            body=body or None,
            user=self._user(user),
            labels=self._labels(repo, labels),
            created_at=created,
            updated_at=self._stamp(updated_at) if updated_at else created,
        )
        repo.issues[issue.number] = issue
        return issue

    def _add_comment(
        self, issue: Issue, body: str, author: User, app: App | None = None
    ) -> Comment:
        moment = self._stamp()
        comment = Comment(self._new_id("comment"), body, author, moment, moment, app)
        issue.comments.append(comment)
        issue.updated_at = moment  # GitHub: a new comment updates its issue
        return comment

    # --- rate limit, faults, headers ----------------------------------------------------

    def _window_end(self) -> datetime:
        """The end of the current hour of requests; a new one starts after it."""
        now = self._stamp()
        if self._window_reset is None or now >= self._window_reset:
            if self._window_reset is not None:
                self.rate_limit_remaining = RATE_LIMIT
            self._window_reset = now + timedelta(hours=1)
        return self._window_reset

    def _search_window_end(self) -> datetime:
        """The end of the current minute of searches; a new one starts after it."""
        now = self._stamp()
        if self._search_reset is None or now >= self._search_reset:
            self.search_remaining = SEARCH_RATE_LIMIT
            self._search_reset = now + timedelta(minutes=1)
        return self._search_reset

    def _search_headers(self) -> dict[str, str]:
        remaining = max(self.search_remaining, 0)
        return {
            "X-RateLimit-Limit": str(SEARCH_RATE_LIMIT),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(int(self._search_window_end().timestamp())),
            "X-RateLimit-Used": str(SEARCH_RATE_LIMIT - remaining),
            "X-RateLimit-Resource": "search",
        }

    def _spend_search(self) -> None:
        self._search_window_end()
        self.search_requests += 1
        if self.search_remaining <= 0:
            raise GitHubError(
                self.search_limit_status,
                f"API rate limit exceeded for user ID {self.api_user.id}.",
                documentation_url=RATE_LIMIT_DOCS,
                headers=self._search_headers(),
            )
        self.search_remaining -= 1

    def _spend_request(self, request: HttpRequest) -> None:
        self._window_end()
        if request.path.rstrip("/") == "/rate_limit":
            return  # GitHub: checking the rate limit does not count against it
        if request.path.startswith("/search/"):
            self._spend_search()  # the search API's own minute, not the hour's
            return
        if self.rate_limit_remaining <= 0:
            raise GitHubError(
                HTTPStatus.FORBIDDEN,
                f"API rate limit exceeded for user ID {self.api_user.id}.",
                documentation_url=RATE_LIMIT_DOCS,
            )
        self.rate_limit_remaining -= 1

    def _rate_headers(self) -> dict[str, str]:
        reset = int(self._window_end().timestamp())
        remaining = max(self.rate_limit_remaining, 0)
        return {
            "X-RateLimit-Limit": str(RATE_LIMIT),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Used": str(RATE_LIMIT - remaining),
            "X-RateLimit-Resource": "core",
        }

    def _fault(self, status: int, retry_after: str | None, reset: datetime | int | None) -> Fault:
        if status not in (403, 429):
            return Fault(status, retry_after)
        if status == 403 and retry_after is None:
            reset_at = reset if reset is not None else self._window_end()
            epoch = int(reset_at.timestamp()) if isinstance(reset_at, datetime) else reset_at
            headers = {
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Used": str(RATE_LIMIT),
                "X-RateLimit-Reset": str(epoch),
            }
            message = f"API rate limit exceeded for user ID {self.api_user.id}."
            return Fault(403, None, message, headers)
        return Fault(status, retry_after, SECONDARY_LIMIT)

    def finish_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """GitHub's headers on every answer (the handler's own, e.g. a fault's, win); a
        GET whose If-None-Match names the answer's ETag becomes a free 304."""
        self._request_count += 1
        count = self._request_count
        tag = None
        if 200 <= response.status < 300 and response.body is not None:
            tag = etag(response.payload())
            if request.method == "GET" and _names_etag(request.header("if-none-match"), tag):
                response = self._not_modified(request, response, tag)
        headers = {
            **self._rate_headers(),
            "X-GitHub-Api-Version-Selected": API_VERSION,
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Request-Id": f"C0DE:{count:05X}:{count * 7919:06X}:{count * 104729:06X}",
        }
        if tag is not None:
            headers["ETag"] = tag
        headers.update(response.headers)
        return HttpResponse(response.status, response.body, headers, response.media_type)

    def _not_modified(self, request: HttpRequest, response: HttpResponse, tag: str) -> HttpResponse:
        """The 304 for an unchanged answer: no body, and the request it spent given back."""
        self.not_modified_count += 1
        if request.path.startswith("/search/"):
            self.search_remaining += 1
            return HttpResponse(HTTPStatus.NOT_MODIFIED, None, self._search_headers())
        self.rate_limit_remaining += 1
        return HttpResponse(HTTPStatus.NOT_MODIFIED, None)

    # --- HTTP: routes, auth, errors -----------------------------------------------------

    def _register_routes(self) -> None:
        add = self.router.add
        add("GET", "/rate_limit", self._get_rate_limit)
        add("GET", "/user", self._get_user)
        add("GET", _REPO, self._get_repo)
        for base in (_REPO, _BY_ID):
            add("GET", f"{base}/issues", self._list_issues)
            add("GET", f"{base}/labels", self._list_labels)
            add("GET", f"{base}{_ISSUE}/comments", self._list_comments)
            add("GET", f"{base}{_ISSUE}/sub_issues", self._list_sub_issues)
        add("GET", f"{_REPO}{_ISSUE}", self._get_issue)
        add("GET", f"{_REPO}{_ISSUE}/parent", self._get_parent)
        add("POST", f"{_REPO}{_ISSUE}/comments", self._create_comment)
        add("GET", f"{_REPO}/issues/comments/{{comment_id}}", self._get_comment)
        add("PATCH", f"{_REPO}/issues/comments/{{comment_id}}", self._edit_comment)
        add("DELETE", f"{_REPO}/issues/comments/{{comment_id}}", self._delete_comment)
        add("POST", f"{_REPO}{_ISSUE}/labels", self._add_labels)
        add("DELETE", f"{_REPO}{_ISSUE}/labels/{{name}}", self._remove_label)
        add("POST", f"{_REPO}/labels", self._create_label)
        add("GET", "/search/issues", self._search_issues)

    def authenticate(self, request: HttpRequest) -> None:
        """A personal access token as `token X` or `Bearer X`; then spend one request."""
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() not in ("token", "bearer"):
            raise GitHubError(HTTPStatus.UNAUTHORIZED, "Bad credentials")
        if token == self.token:
            self._caller = (self.api_user, None)
        elif token in self._tokens:
            self._caller = self._tokens[token]
        else:
            raise GitHubError(HTTPStatus.UNAUTHORIZED, "Bad credentials")
        self._spend_request(request)

    def invalid_request_error(self, problems: list[str]) -> ApiError:
        errors = [{"code": "invalid", "message": problem} for problem in problems]
        return GitHubError(HTTPStatus.UNPROCESSABLE_ENTITY, "Validation Failed", errors=errors)

    def error_body(self, error: ApiError) -> Any:
        message = error.messages[0] if error.messages else HTTPStatus(error.status).phrase
        if isinstance(error, GitHubError):
            docs, errors = error.documentation_url, error.errors
        else:  # the server's own answers (unknown route, crash) and injected faults
            docs, errors = _documentation_for(message), []
            message = "Not Found" if error.status == HTTPStatus.NOT_FOUND else message
        body: dict[str, Any] = {"message": message, "documentation_url": docs}
        if errors:
            body["errors"] = errors
        body["status"] = str(error.status)
        return body

    def _view(self) -> GitHubView:
        return GitHubView(self.url)

    def _repo_for(self, request: HttpRequest) -> Repo:
        params = request.path_params
        if "repository_id" in params:
            wanted = params["repository_id"]
            repo = next((r for r in self._repos.values() if str(r.id) == wanted), None)
        else:
            repo = self._repos.get(f"{params['owner']}/{params['repo']}".lower())
        if repo is None:
            raise _not_found()
        return repo

    def _issue_for(self, request: HttpRequest) -> Issue:
        repo = self._repo_for(request)
        number = request.path_params["issue_number"]
        issue = repo.issues.get(int(number)) if number.isdigit() else None
        if issue is None and number.isdigit() and (repo.id, int(number)) in self._deleted:
            raise GitHubError(HTTPStatus.GONE, "This issue was deleted")
        if issue is None:
            raise _not_found()
        return issue

    def _comment_for(self, request: HttpRequest) -> tuple[Issue, Comment]:
        repo = self._repo_for(request)
        wanted = request.path_params["comment_id"]
        for issue in repo.issues.values():
            for comment in issue.comments:
                if str(comment.id) == wanted:
                    return issue, comment
        raise _not_found()

    # --- HTTP: paging -------------------------------------------------------------------

    def _page(
        self,
        request: HttpRequest,
        items: Sequence[Any],
        link_path: str,
        render: Callable[[Any], dict[str, Any]],
    ) -> HttpResponse:
        """One page of `items`, with GitHub's Link header when there are other pages."""
        per_page, page = _paging(request)
        last = max(1, math.ceil(len(items) / per_page))
        shown = [render(item) for item in items[(page - 1) * per_page : page * per_page]]
        link = self._link_header(request, link_path, page, last)
        return HttpResponse(200, shown, {"Link": link} if link else {})

    def _link_header(self, request: HttpRequest, path: str, page: int, last: int) -> str | None:
        kept = [(k, v) for k, values in request.query.items() if k != "page" for v in values]

        def link(rel: str, number: int) -> str:
            query = urlencode([*kept, ("page", str(number))])
            return f'<{self.url}{path}?{query}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link("prev", min(page - 1, last)))
        if page < last:
            links += [link("next", page + 1), link("last", last)]
        if page > 1:
            links.append(link("first", 1))
        return ", ".join(links) or None

    # --- HTTP: account, repository ------------------------------------------------------

    def _get_rate_limit(self, request: HttpRequest) -> HttpResponse:
        reset = int(self._window_end().timestamp())
        remaining = max(self.rate_limit_remaining, 0)
        core = {
            "limit": RATE_LIMIT,
            "used": RATE_LIMIT - remaining,
            "remaining": remaining,
            "reset": reset,
            "resource": "core",
        }
        search_reset = int(self._search_window_end().timestamp())
        search = {
            "limit": SEARCH_RATE_LIMIT,
            "used": SEARCH_RATE_LIMIT - max(self.search_remaining, 0),
            "remaining": max(self.search_remaining, 0),
            "reset": search_reset,
            "resource": "search",
        }
        graphql = {**core, "used": 0, "remaining": RATE_LIMIT, "resource": "graphql"}
        body = {"resources": {"core": core, "search": search, "graphql": graphql}, "rate": core}
        return HttpResponse(200, body)

    def _get_user(self, request: HttpRequest) -> HttpResponse:
        user, app = self._caller
        if app is not None:  # an installation token is no user
            raise GitHubError(
                HTTPStatus.FORBIDDEN,
                NOT_FOR_INTEGRATIONS,
                documentation_url=f"{DOCS_URL}/users/users#get-the-authenticated-user",
            )
        created = datetime(2020, 1, 6, 9, 0, tzinfo=UTC)
        return HttpResponse(200, self._view().authenticated_user(user, created))

    def _get_repo(self, request: HttpRequest) -> HttpResponse:
        repo = self._repo_for(request)
        stamps = [repo.created_at, *(i.updated_at for i in repo.issues.values())]
        return HttpResponse(200, self._view().repository(repo, max(stamps)))

    # --- HTTP: issues -------------------------------------------------------------------

    def _list_issues(self, request: HttpRequest) -> HttpResponse:
        repo = self._repo_for(request)
        state = _choice(request, "state", ("open", "closed", "all"), "open")
        sort = _choice(request, "sort", ("created", "updated", "comments"), "created")
        direction = _choice(request, "direction", ("asc", "desc"), "desc")
        since = _since(request, "Issue")
        wanted = {n.strip().lower() for n in (request.first("labels") or "").split(",") if n}
        found = [
            issue
            for issue in repo.issues.values()
            if state in ("all", issue.state)
            and (since is None or issue.updated_at >= since)
            and wanted <= {label.name.lower() for label in issue.labels}
        ]
        found.sort(key=_ISSUE_ORDER[sort], reverse=direction == "desc")
        view = self._view()
        return self._page(request, found, f"/repositories/{repo.id}/issues", view.issue)

    def _get_issue(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, self._view().issue(self._issue_for(request), single=True))

    def _search_issues(self, request: HttpRequest) -> HttpResponse:
        query = (request.first("q") or "").strip()
        if not query:
            raise GitHubError(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "Validation Failed",
                errors=[{"resource": "Search", "field": "q", "code": "missing"}],
            )
        wanted = _search_filter(query)
        found = [
            issue
            for repo in self._repos.values()
            for issue in repo.issues.values()
            if wanted(issue)
        ]
        found.sort(key=lambda issue: issue.created_at, reverse=True)
        per_page, page = _paging(request)
        view = self._view()
        items = [
            _search_item(view.issue(issue))
            for issue in found[(page - 1) * per_page : page * per_page]
        ]
        body = {
            "total_count": len(found),
            "incomplete_results": False,
            "items": items,
            "search_type": "lexical",
        }
        return HttpResponse(200, body, self._search_headers())

    def _get_parent(self, request: HttpRequest) -> HttpResponse:
        parent = self._issue_for(request).parent
        if parent is None:
            raise _not_found()
        return HttpResponse(200, self._view().issue(parent, single=True))

    def _list_sub_issues(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        path = f"/repositories/{issue.repo.id}/issues/{issue.number}/sub_issues"
        return self._page(request, issue.children, path, self._view().issue)

    # --- HTTP: comments -----------------------------------------------------------------

    def _list_comments(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        since = _since(request, "IssueComment")
        found = [c for c in issue.comments if since is None or c.updated_at >= since]
        path = f"/repositories/{issue.repo.id}/issues/{issue.number}/comments"
        view = self._view()
        return self._page(request, found, path, lambda c: view.comment(issue, c))

    def _create_comment(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        comment = self._add_comment(issue, _comment_body(request), *self._caller)
        view = self._view()
        location = {"Location": view.comment_url(issue.repo, comment)}
        return HttpResponse(HTTPStatus.CREATED, view.comment(issue, comment), location)

    def _get_comment(self, request: HttpRequest) -> HttpResponse:
        issue, comment = self._comment_for(request)
        return HttpResponse(200, self._view().comment(issue, comment))

    def _edit_comment(self, request: HttpRequest) -> HttpResponse:
        issue, comment = self._comment_for(request)
        body = _comment_body(request)
        if body != comment.body:
            comment.body = body
            comment.updated_at = issue.updated_at = self._stamp()
        return HttpResponse(200, self._view().comment(issue, comment))

    def _delete_comment(self, request: HttpRequest) -> HttpResponse:
        issue, comment = self._comment_for(request)
        issue.comments.remove(comment)
        return HttpResponse(HTTPStatus.NO_CONTENT)

    # --- HTTP: labels -------------------------------------------------------------------

    def _list_labels(self, request: HttpRequest) -> HttpResponse:
        repo = self._repo_for(request)
        view = self._view()
        labels = sorted(repo.labels.values(), key=lambda label: label.id)
        path = f"/repositories/{repo.id}/labels"
        return self._page(request, labels, path, lambda label: view.label(repo, label))

    def _create_label(self, request: HttpRequest) -> HttpResponse:
        """`POST /repos/{owner}/{repo}/labels`: 201 with the label; a name the repository
        has (any case) is 422 `already_exists`, as GitHub answers."""
        repo = self._repo_for(request)
        body = request.json()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise _invalid("Label", "name")
        if name.lower() in repo.labels:
            errors = [{"resource": "Label", "field": "name", "code": "already_exists"}]
            raise GitHubError(HTTPStatus.UNPROCESSABLE_ENTITY, "Validation Failed", errors=errors)
        color = str(body.get("color") or label_color(name)).removeprefix("#").lower()
        if not re.fullmatch(r"[0-9a-f]{6}", color):
            raise _invalid("Label", "color")
        description = body.get("description")
        label = Label(
            self._new_id("label"),
            name,
            color,
            description if isinstance(description, str) else None,
        )
        repo.labels[name.lower()] = label
        self.label_creations += 1
        return HttpResponse(HTTPStatus.CREATED, self._view().label(repo, label))

    def _add_labels(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        added = self._labels(issue.repo, _label_names(request))
        before = list(issue.labels)
        issue.labels += [label for label in added if label not in before]
        if issue.labels != before:
            issue.updated_at = self._stamp()
        return self._labels_response(issue)

    def _remove_label(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        name = request.path_params["name"].lower()
        kept = [label for label in issue.labels if label.name.lower() != name]
        if len(kept) == len(issue.labels):
            raise GitHubError(HTTPStatus.NOT_FOUND, "Label does not exist")
        issue.labels = kept
        issue.updated_at = self._stamp()
        return self._labels_response(issue)

    def _labels_response(self, issue: Issue) -> HttpResponse:
        view = self._view()
        return HttpResponse(200, [view.label(issue.repo, label) for label in issue.labels])


_ISSUE_ORDER: dict[str, Callable[[Issue], tuple[Any, int]]] = {
    # The number breaks ties, so that pages stay stable whatever the direction.
    "created": lambda i: (i.created_at, i.number),
    "updated": lambda i: (i.updated_at, i.number),
    "comments": lambda i: (len(i.comments), i.number),
}


def _names_etag(if_none_match: str | None, tag: str) -> bool:
    """Whether an If-None-Match header matches `tag`: `*`, or one of its entity tags by
    weak comparison (the `W/` prefix ignored), as RFC 9110 has it for If-None-Match."""
    if not if_none_match:
        return False
    wanted = tag.removeprefix("W/")
    entries = (entry.strip() for entry in if_none_match.split(","))
    return any(entry == "*" or entry.removeprefix("W/") == wanted for entry in entries)


def _search_item(issue: dict[str, Any]) -> dict[str, Any]:
    """An issue as search results show it: with a `score`; an empty body is left out (the
    search item's `body` is a string, not nullable, unlike the issue's)."""
    item = {**issue, "score": 1.0}
    if item.get("body") is None:
        item.pop("body", None)
    return item


_SEARCH_TERM = re.compile(r'(-?)(?:(\w+):)?("[^"]*"|\S+)')


def _search_filter(query: str) -> Callable[[Issue], bool]:
    """What an issue search's query keeps: every qualifier and word must match."""
    tests: list[Callable[[Issue], bool]] = []
    for negated, qualifier, raw in _SEARCH_TERM.findall(query):
        value = raw.strip('"').lower()
        test: Callable[[Issue], bool]
        if qualifier == "repo":
            test = functools.partial(lambda v, i: i.repo.full_name.lower() == v, value)
        elif qualifier in ("is", "state") and value in ("open", "closed"):
            test = functools.partial(lambda v, i: i.state == v, value)
        elif qualifier in ("is", "type") and value in ("issue", "pr", "pull-request"):
            test = functools.partial(lambda v, i: i.is_pull_request == (v != "issue"), value)
        elif qualifier == "label":
            test = functools.partial(lambda v, i: v in {x.name.lower() for x in i.labels}, value)
        elif qualifier == "no" and value == "label":
            test = lambda i: not i.labels  # noqa: E731
        else:  # a word (or a qualifier the sandbox does not know): in the title
            word = f"{qualifier}:{value}" if qualifier else value
            test = functools.partial(lambda v, i: v in i.title.lower(), word)
        tests.append((lambda t: lambda i: not t(i))(test) if negated else test)
    return lambda issue: all(test(issue) for test in tests)


def _paging(request: HttpRequest) -> tuple[int, int]:
    """(per_page, page). Out-of-range values fall back to GitHub's bounds and defaults."""
    per_page = _integer(request.first("per_page"), DEFAULT_PER_PAGE)
    page = _integer(request.first("page"), 1)
    per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
    return per_page, max(page, 1)


def _integer(text: str | None, default: int) -> int:
    # Not an integer: a strict sandbox has refused the request already (a contract
    # violation); a lenient one serves the default.
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _choice(request: HttpRequest, name: str, allowed: Sequence[str], default: str) -> str:
    value = request.first(name)
    if value is None:
        return default
    if value not in allowed:
        raise _invalid("Issue", name)
    return value


def _since(request: HttpRequest, resource: str) -> datetime | None:
    text = request.first("since")
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(resource, "since") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _comment_body(request: HttpRequest) -> str:
    body = request.json()
    text = body.get("body") if isinstance(body, dict) else None
    if not isinstance(text, str):
        errors = [{"resource": "IssueComment", "field": "body", "code": "missing_field"}]
        raise GitHubError(HTTPStatus.UNPROCESSABLE_ENTITY, "Validation Failed", errors=errors)
    if not text.strip():
        errors = [{"resource": "IssueComment", "field": "body", "code": "custom"}]
        raise GitHubError(HTTPStatus.UNPROCESSABLE_ENTITY, "Body cannot be blank", errors=errors)
    return text


def _label_names(request: HttpRequest) -> list[str]:
    """Names from {"labels": [...]} or, as PyGithub sends, a bare array; items are names
    or {"name": ...} objects."""
    body = request.json()
    items = body.get("labels") if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise _invalid("Label", "labels")
    names = [item.get("name") if isinstance(item, dict) else item for item in items]
    if not all(isinstance(name, str) and name.strip() for name in names):
        raise _invalid("Label", "name")
    return [str(name) for name in names]


def _check_close_reason(reason: str) -> None:
    if reason not in CLOSE_REASONS:
        raise ValueError(f"close reason must be one of {', '.join(CLOSE_REASONS)}, not {reason!r}")


def _check_sub_issue(parent: Issue, child: Issue) -> None:
    if parent.is_pull_request or child.is_pull_request:
        raise ValueError("pull requests cannot have or be sub-issues")
    if parent.repo.owner != child.repo.owner:
        raise ValueError("a sub-issue must belong to a repository of the same owner")
    if child.parent is not None:
        raise ValueError(f"{child.ref} already has a parent: {child.parent.ref}")
    if child is parent or child in parent.ancestors():
        raise ValueError(f"{child.ref} cannot be a sub-issue of its own descendant")
    if len(parent.children) >= MAX_SUB_ISSUES:
        raise ValueError(f"{parent.ref} has {MAX_SUB_ISSUES} sub-issues already")


def _documentation_for(message: str) -> str:
    if message.startswith("API rate limit exceeded"):
        return RATE_LIMIT_DOCS
    if message == SECONDARY_LIMIT:
        return SECONDARY_DOCS
    return DOCS_URL


__all__ = ["GITHUB_RELAXATIONS", "GitHubError", "GitHubSandbox", "github_spec_validator"]
