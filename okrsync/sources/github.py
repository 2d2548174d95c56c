"""GitHub (and GitHub Enterprise): pull issues incrementally, keep one managed comment each.

Requests go through PyGithub's requester (its auth, throttling and transport), behind
the connector's transport seam, but not through its object model: a listed `Issue` is
incomplete, and reading a missing attribute silently costs one request per item.
Reading the listing's JSON directly makes that N+1 impossible, and a small paginator
follows the `Link` headers.

Rate limits, as GitHub documents them: `Retry-After` when it is there; else, with
`X-RateLimit-Remaining: 0`, until `X-RateLimit-Reset` (the primary limit, on a 403 or a
429); else a 429, or a 403 saying "secondary rate limit", waits a minute (`SECONDARY_WAIT`)
before each retry. Any other 403 is a permission problem (`AuthError`).

Adoption: a comment with the marker is adopted only when the okrsync account wrote it:
with a token, its `user.id` is the one `GET /user` answers (asked once per cycle, only when
a marked comment turns up); as a GitHub App installation (which has no `/user`), its
`performed_via_github_app.id` is the configured `app.app_id`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import requests
import structlog
from github import Auth, Github
from pydantic import Field, field_validator
from requests.structures import CaseInsensitiveDict

from okrsync.config import (
    EnvName,
    SecretFile,
    SecretRef,
    SourceConfig,
    Strict,
    compiled_pattern,
    read_secret,
    secret_choice,
)
from okrsync.domain import Bucket, WorkItem
from okrsync.sources._base import (
    PlannedWrite,
    PullResult,
    WriteOutcome,
    utc_from_epoch_ms,
    write_managed_comment,
)
from okrsync.sources._core import (
    Clock,
    Connector,
    HttpError,
    Identity,
    Send,
    Sleep,
    since_ms,
)
from okrsync.sources._errors import AuthError, FatalError, RetriableError, SourceError
from okrsync.sources._headers import header, server_date
from okrsync.sources._retry import retry_after_seconds

log = structlog.get_logger(__name__)

SOURCE = "github"
# An HTML comment: invisible on the page, and how okrsync finds its own comment again.
MARKER = "<!-- okrsync:managed -->"
PAGE_SIZE = 100
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')
_ISSUE_URL = re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)$")
# GitHub: "wait for at least one minute before retrying" a secondary limit without headers.
SECONDARY_WAIT = 60.0
_SECONDARY_LIMIT = re.compile(r"secondary rate limit|abuse detection", re.IGNORECASE)
# A deleted issue answers 410, one moved or hidden 404.
_GONE = (404, 410)


@dataclass(frozen=True)
class IssueRef:
    repo: str
    number: int

    @classmethod
    def parse(cls, key: str) -> IssueRef:
        repo, number = key.rsplit("#", 1)
        return cls(repo, int(number))

    @property
    def key(self) -> str:
        return f"{self.repo}#{self.number}"


class LinkPaginator:
    """Follows `rel="next"` until there is none; GitHub's URLs carry every parameter."""

    def __init__(self, fetch: Callable[[str, dict[str, Any] | None], tuple[dict[str, Any], Any]]):
        self._fetch = fetch
        self.first_headers: dict[str, Any] = {}

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        url: str | None = path
        query: dict[str, Any] | None = params
        while url is not None:
            headers, data = self._fetch(url, query)
            if not isinstance(data, list):  # never read as an empty page: nothing was listed
                raise FatalError(SOURCE, f"GET {url.split('?')[0]}: the answer is not a list")
            if not self.first_headers:
                self.first_headers = headers
            yield data
            match = _NEXT_LINK.search(header(headers, "link") or "")
            url, query = (match.group(1), None) if match else (None, None)


class GithubAppConfig(Strict):
    app_id: int
    private_key_file: str
    installation_id: int


class GithubSourceConfig(SourceConfig):
    url: str = "https://api.github.com"
    token_env: EnvName | None = "GITHUB_TOKEN"
    token_file: SecretFile | None = None  # instead of token_env: read the token from this file
    app: GithubAppConfig | None = None
    repos: list[Annotated[str, Field(pattern=r"^[\w.-]+/[\w.-]+$")]] = Field(min_length=1)
    points_label_pattern: str = r"^(?:points|sp)[:=](?P<points>\d+(?:\.\d+)?)$"
    # PyGithub's own spacing between calls (its defaults); GitHub asks integrations to
    # leave a second between writes to stay clear of the secondary rate limit.
    seconds_between_requests: float = Field(default=0.25, ge=0)
    seconds_between_writes: float = Field(default=1.0, ge=0)

    @field_validator("points_label_pattern")
    @classmethod
    def _pattern_with_points_group(cls, pattern: str) -> str:
        return compiled_pattern(pattern, "points_label_pattern", "points", "the number")

    def token(self) -> SecretRef | None:
        # A GitHub App signs with its key file instead of a token.
        return secret_choice(self, "token") if self.app is None else None

    def secrets(self) -> Iterator[SecretRef]:
        token = self.token()
        if token is not None:
            yield token


class RequesterTransport:
    """The default transport: PyGithub's requester, with its auth (a token, or a GitHub App's
    installation tokens), its spacing between requests and writes, and its connection.

    Only the wire goes through it, not its object model; its answer, whatever the
    status, comes back as a `requests.Response` for the connector to check.
    """

    def __init__(self, github: Github):
        self.github = github

    def __call__(self, request: requests.PreparedRequest) -> requests.Response:
        body = json.loads(request.body) if request.body else None
        # A full URL: the requester keeps its path and query (as for GitHub's own links).
        status, headers, output = self.github.requester.requestJson(
            request.method or "GET", request.url or "", input=body
        )
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict({str(k): str(v) for k, v in headers.items()})
        response._content = output.encode("utf-8")
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response


class GithubSource(Connector):
    """A GitHub connection for one sync cycle: pages of 100, comments edited in place."""

    name = SOURCE

    def __init__(
        self,
        config: GithubSourceConfig,
        token: str | None,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
        attempts: int = 5,
        transport: Send | None = None,
    ):
        self._github: Github | None = None
        if transport is None:
            self._github = Github(
                auth=_auth(config, token),
                base_url=config.url,
                per_page=PAGE_SIZE,
                timeout=config.timeout,
                retry=None,  # tenacity retries instead, honouring Retry-After and the reset
                seconds_between_requests=config.seconds_between_requests,
                seconds_between_writes=config.seconds_between_writes,
            )
            transport = RequesterTransport(self._github)
        super().__init__(
            transport=transport, timeout=config.timeout, clock=clock, sleep=sleep, attempts=attempts
        )
        self.config = config
        self._points = re.compile(config.points_label_pattern, re.IGNORECASE)

    def close(self) -> None:
        if self._github is not None:
            self._github.close()
        super().close()

    def error(
        self, what: str, status: int, headers: Mapping[str, Any], detail: str = ""
    ) -> SourceError:
        wait = self.rate_limit_wait(status, headers, detail)
        if wait is None:
            return super().error(what, status, headers, detail)
        message = f"{what}: HTTP {status}: {detail or 'rate limited'}"
        return RetriableError(SOURCE, message, status, wait)

    def rate_limit_wait(self, status: int, headers: Mapping[str, Any], detail: str) -> float | None:
        """Seconds to wait when a 403/429 is a rate limit (see the module docstring)."""
        if status not in (403, 429):
            return None
        told = retry_after_seconds({str(k): str(v) for k, v in headers.items()}, self._clock())
        if told is not None:
            return told
        if header(headers, "x-ratelimit-remaining") == "0" or status == 429:
            return SECONDARY_WAIT  # nothing remaining but no reset said, or a bare 429
        return SECONDARY_WAIT if _SECONDARY_LIMIT.search(detail) else None

    # ------------------------------------------------------------------ pull

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        since = since_ms(bookmark_ms, self.config.overlap)
        paginators: list[LinkPaginator] = []

        def issues(repo: str) -> Iterator[dict[str, Any]]:
            paginator = LinkPaginator(self._get)
            paginators.append(paginator)
            for page in paginator.pages(f"/repos/{repo}/issues", self.issues_query(since)):
                # The issues list includes pull requests; they count nowhere.
                yield from (raw for raw in page if "pull_request" not in raw)

        def server_started() -> datetime | None:
            dates = (server_date(paginator.first_headers) for paginator in paginators)
            return next((date for date in dates if date is not None), None)

        scopes = (issues(repo) for repo in self.config.repos)
        return self.pulled(scopes, self.work_item, bookmark_ms, since, started_at, server_started)

    def issues_query(self, since: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "state": "all",
            "sort": "updated",
            "direction": "asc",
            "per_page": PAGE_SIZE,
        }
        if since is not None:
            params["since"] = utc_from_epoch_ms(since).strftime("%Y-%m-%dT%H:%M:%SZ")
        return params

    def work_item(self, raw: dict[str, Any], parent: str | None = None) -> WorkItem:
        repo_match = re.search(r"/repos/([^/]+/[^/]+)$", raw.get("repository_url", ""))
        repo = repo_match.group(1) if repo_match else ""
        labels = tuple(label["name"] for label in raw.get("labels") or [] if label.get("name"))
        summary = raw.get("sub_issues_summary") or {}
        return WorkItem(
            source=SOURCE,
            key=IssueRef(repo, int(raw["number"])).key,
            title=raw.get("title") or "",
            type="issue",
            status=_status(raw),
            bucket=_bucket(raw),
            points=self._points_from(labels),
            labels=labels,
            parent=parent or _parent_key(raw.get("parent_issue_url")),
            updated=datetime.fromisoformat(raw["updated_at"]),
            url=raw.get("html_url") or "",
            remote_id=str(raw.get("id", "")),
            child_count=summary.get("total"),
        )

    def _points_from(self, labels: tuple[str, ...]) -> float | None:
        for label in labels:
            match = self._points.search(label.strip())
            if match:
                return float(match.group("points"))
        return None

    def children(
        self, parents: Sequence[WorkItem], known: Mapping[str, Sequence[WorkItem]]
    ) -> list[WorkItem]:
        """Sub-issues the listings did not bring: those in repositories not configured."""
        found: list[WorkItem] = []
        for parent in parents:
            listed = sum(
                1
                for child in known.get(parent.key, ())
                if IssueRef.parse(child.key).repo in self.config.repos
            )
            if not parent.child_count or parent.child_count <= listed:
                continue
            ref = IssueRef.parse(parent.key)
            pages = LinkPaginator(self._get).pages(
                f"/repos/{ref.repo}/issues/{ref.number}/sub_issues", {"per_page": PAGE_SIZE}
            )
            for page in pages:
                found += [
                    self.read_record(partial(self.work_item, parent=parent.key), raw)
                    for raw in page
                ]
        return found

    def labels_in_use(self) -> set[str]:
        """The labels of each configured repository (on an issue or not yet): one request
        per repository and 100 labels, following `Link`."""
        found: set[str] = set()
        for repo in self.config.repos:
            pages = LinkPaginator(self._get).pages(f"/repos/{repo}/labels", {"per_page": PAGE_SIZE})
            for page in pages:
                found.update(
                    label["name"]
                    for label in page
                    if isinstance(label, dict) and isinstance(label.get("name"), str)
                )
        return found

    # ------------------------------------------------------------------ write-back

    def apply(self, write: PlannedWrite) -> WriteOutcome:
        """Bring the one managed comment of an issue up to date."""
        ref = IssueRef.parse(write.item_key)
        body = f"{MARKER}\n{write.body}"
        return write_managed_comment(
            write,
            lambda known: self.call("edit comment", lambda: self._edit(ref, known, body)),
            lambda: self.call(
                "write comment", lambda: self._adopt_or_create(ref, write.target, body)
            ),
        )

    def _edit(self, ref: IssueRef, comment_id: str, body: str) -> bool:
        try:
            self._json(
                "PATCH", f"/repos/{ref.repo}/issues/comments/{comment_id}", body={"body": body}
            )
        except HttpError as error:
            if error.status in _GONE:
                return False  # deleted by someone (or with its issue): find or post again
            raise
        return True

    def _delete(self, ref: IssueRef, comment_id: str) -> None:
        try:
            self._json("DELETE", f"/repos/{ref.repo}/issues/comments/{comment_id}")
        except HttpError as error:
            if error.status not in _GONE:  # already gone is what was wanted
                raise

    def _adopt_or_create(self, ref: IssueRef, target: str, body: str) -> tuple[str, str]:
        """Edit the oldest managed comment the okrsync account wrote (deleting any newer
        ones), or post one; someone else's comment with the marker is left alone."""
        pages = LinkPaginator(lambda url, params: self._json("GET", url, params)).pages(
            f"/repos/{ref.repo}/issues/{ref.number}/comments", {"per_page": PAGE_SIZE}
        )
        try:
            marked = [
                (_comment_id(comment), _author(comment))
                for page in pages
                for comment in page
                if MARKER in (comment.get("body") or "")
            ]
            ours = self.ours(target, marked)
            for index, comment_id in enumerate(ours):
                if self._edit(ref, comment_id, body):
                    newer = ours[index + 1 :]
                    self.drop_duplicates(target, comment_id, newer, partial(self._delete, ref))
                    return comment_id, "edited"
            _, created = self._json(
                "POST", f"/repos/{ref.repo}/issues/{ref.number}/comments", body={"body": body}
            )
        except HttpError as error:
            if error.status in _GONE:
                raise self.target_gone("write comment", ref.key, error.status) from None
            raise
        return _comment_id(created), "created"

    def who_am_i(self) -> Identity:
        if self.config.app is not None:  # an installation token has no /user
            return frozenset({f"app:{self.config.app.app_id}"})
        _, user = self._json("GET", "/user")
        if not isinstance(user, dict) or user.get("id") is None:
            raise FatalError(SOURCE, "GET /user: the answer names no user")
        return frozenset({f"user:{user['id']}"})

    # ------------------------------------------------------------------ requests

    def _get(self, url: str, params: dict[str, Any] | None) -> tuple[dict[str, Any], Any]:
        """One page, retried on its own."""
        return self.call("GET " + url.split("?")[0], lambda: self._json("GET", url, params))

    def _json(
        self, method: str, url: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> tuple[dict[str, Any], Any]:
        """One request (a path, or a full URL from a `Link`): its headers and JSON; an error
        answer raises `HttpError` with GitHub's `message`."""
        full = url if "://" in url else self.config.url + url
        request = requests.Request(method, full, params=params, json=body)
        response = self.send(self.prepare(request))
        status = response.status_code
        try:
            data = response.json() if response.content else None
        except ValueError:
            if status < 400:  # an HTML page or JSON cut short, on a success: try again
                path = full.split("?")[0].removeprefix(self.config.url)
                raise RetriableError(
                    SOURCE, f"{method} {path}: the answer is not JSON", status
                ) from None
            data = None
        headers = dict(response.headers)
        if status >= 400:
            message = data.get("message") if isinstance(data, dict) else None
            raise HttpError(status, headers, _one_line(str(message))[:300] if message else "")
        return headers, data

    # ------------------------------------------------------------------ counts (metrics)

    def search_count(self, query: str) -> int:
        """`total_count` of an issue search (`GET /search/issues`, one request of one
        result). The search API has its own limit, 30 requests a minute: callers space
        their searches (okrsync.metrics' token bucket), and a 403/429 from it is retried
        after its `Retry-After` or `X-RateLimit-Reset` as every rate limit is (bounded)."""
        params = {"q": query, "per_page": 1}
        _, body = self.call(
            "GET /search/issues", lambda: self._json("GET", "/search/issues", params)
        )
        found = body.get("total_count") if isinstance(body, dict) else None
        if isinstance(found, bool) or not isinstance(found, int) or found < 0:
            raise FatalError(SOURCE, "GET /search/issues: the answer has no total_count")
        if body.get("incomplete_results"):
            log.warning("github.search_incomplete", query=query, total_count=found)
        return found


def _auth(config: GithubSourceConfig, token: str | None) -> Auth.Auth:
    if config.app is not None:
        key = Path(config.app.private_key_file).read_text(encoding="utf-8")
        app = Auth.AppAuth(config.app.app_id, key)
        return app.get_installation_auth(config.app.installation_id)
    if not token:
        raise AuthError(SOURCE, "no token: set the variable named by sources.github.token_env")
    return Auth.Token(token)


def _comment_id(comment: Any) -> str:
    if not isinstance(comment, dict) or comment.get("id") is None:
        raise FatalError(SOURCE, "a comment in the answer has no id")
    return str(comment["id"])


def _author(comment: dict[str, Any]) -> Identity:
    """Who wrote a comment: its user, and the GitHub App it was made through, if any."""
    keys = set()
    user = comment.get("user") or {}
    if isinstance(user, dict) and user.get("id") is not None:
        keys.add(f"user:{user['id']}")
    app = comment.get("performed_via_github_app") or {}
    if isinstance(app, dict) and app.get("id") is not None:
        keys.add(f"app:{app['id']}")
    return frozenset(keys)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _status(raw: dict[str, Any]) -> str:
    reason = raw.get("state_reason")
    return f"{raw.get('state', 'open')}:{reason}" if reason else str(raw.get("state", "open"))


def _bucket(raw: dict[str, Any]) -> Bucket:
    if raw.get("state") != "closed":
        return Bucket.TODO
    # Closed as not planned is dropped, not done: it counts nowhere.
    return Bucket.EXCLUDED if raw.get("state_reason") == "not_planned" else Bucket.DONE


def _parent_key(url: str | None) -> str | None:
    match = _ISSUE_URL.search(url or "")
    return f"{match['repo']}#{match['number']}" if match else None


def connect(config: GithubSourceConfig, environ: Mapping[str, str]) -> GithubSource:
    """A connection with the token from `environ`, or as the configured GitHub App."""
    ref = config.token()
    token = read_secret(ref, environ) if ref is not None else None
    return GithubSource(config, token=token)
