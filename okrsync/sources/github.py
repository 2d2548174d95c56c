"""GitHub (and GitHub Enterprise): pull issues incrementally, keep one managed comment each.

Requests go through PyGithub's requester (its auth, throttling and transport) but not
through its object model: a listed `Issue` is incomplete, and reading a missing
attribute silently costs one request per item. Reading the listing's JSON directly
makes that N+1 impossible, and a small paginator follows the `Link` headers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import requests
import structlog
from github import Auth, Github, GithubException

from okrsync.config import GithubSourceConfig
from okrsync.domain import Bucket, WorkItem
from okrsync.sources._base import (
    PlannedWrite,
    PullResult,
    RequestCounter,
    WriteOutcome,
    finished_pull,
    utc_from_epoch_ms,
    write_managed_comment,
)
from okrsync.sources._errors import AuthError, FatalError, RetriableError, SourceError
from okrsync.sources._headers import header, server_date
from okrsync.sources._retry import (
    RETRIABLE_STATUSES,
    call_with_retries,
    retry_after_seconds,
)

T = TypeVar("T")
log = structlog.get_logger(__name__)

SOURCE = "github"
# An HTML comment: invisible on the page, and how okrsync finds its own comment again.
MARKER = "<!-- okrsync:managed -->"
PAGE_SIZE = 100
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')
_ISSUE_URL = re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)$")


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
            if not self.first_headers:
                self.first_headers = headers
            yield list(data or [])
            match = _NEXT_LINK.search(header(headers, "link") or "")
            url, query = (match.group(1), None) if match else (None, None)


class GithubSource:
    """A GitHub connection for one sync cycle: pages of 100, comments edited in place."""

    name = SOURCE

    def __init__(
        self,
        config: GithubSourceConfig,
        token: str | None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 5,
    ):
        self.config = config
        self.requests = RequestCounter()
        self._sleep = sleep
        self._attempts = attempts
        self._points = re.compile(config.points_label_pattern, re.IGNORECASE)
        self._github = Github(
            auth=_auth(config, token),
            base_url=config.url,
            per_page=PAGE_SIZE,
            timeout=config.timeout,
            retry=None,  # tenacity retries instead, honouring Retry-After and the reset time
            seconds_between_requests=config.seconds_between_requests,
            seconds_between_writes=config.seconds_between_writes,
        )

    def close(self) -> None:
        self._github.close()

    # ------------------------------------------------------------------ pull

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        since = None if bookmark_ms is None else max(0, bookmark_ms - self.config.overlap * 1000)
        before = self.requests.total
        seen: dict[str, WorkItem] = {}
        server_started: datetime | None = None
        for repo in self.config.repos:
            params = {"state": "all", "sort": "updated", "direction": "asc", "per_page": PAGE_SIZE}
            if since is not None:
                params["since"] = utc_from_epoch_ms(since).strftime("%Y-%m-%dT%H:%M:%SZ")
            paginator = LinkPaginator(self._get)
            for page in paginator.pages(f"/repos/{repo}/issues", params):
                for raw in page:
                    if "pull_request" in raw:
                        continue  # the issues list includes pull requests; they count nowhere
                    item = self.work_item(raw)
                    seen[item.key] = item  # sorted by updated: a change mid-walk repeats it
            server_started = server_started or server_date(paginator.first_headers)
        log.info("github.pulled", items=len(seen), full=bookmark_ms is None, since_ms=since)
        return finished_pull(
            SOURCE, seen, bookmark_ms, started_at, server_started, self.requests.total - before
        )

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
                found += [self.work_item(raw, parent=parent.key) for raw in page]
        return found

    # ------------------------------------------------------------------ write-back

    def apply(self, write: PlannedWrite) -> WriteOutcome:
        """Bring the one managed comment of an issue up to date."""
        ref = IssueRef.parse(write.item_key)
        body = f"{MARKER}\n{write.body}"
        return write_managed_comment(
            write,
            lambda known: self._call("edit comment", lambda: self._edit(ref, known, body)),
            lambda: self._call("write comment", lambda: self._adopt_or_create(ref, body)),
        )

    def _edit(self, ref: IssueRef, comment_id: str, body: str) -> bool:
        try:
            self._send(
                "PATCH", f"/repos/{ref.repo}/issues/comments/{comment_id}", body={"body": body}
            )
        except GithubException as error:
            if error.status == 404:
                return False  # deleted by someone: find or post again
            raise
        return True

    def _adopt_or_create(self, ref: IssueRef, body: str) -> tuple[str, str]:
        pages = LinkPaginator(lambda url, params: self._send("GET", url, params)).pages(
            f"/repos/{ref.repo}/issues/{ref.number}/comments", {"per_page": PAGE_SIZE}
        )
        for page in pages:
            for comment in page:
                if MARKER in (comment.get("body") or ""):
                    comment_id = str(comment["id"])
                    self._edit(ref, comment_id, body)
                    return comment_id, "edited"
        _, created = self._send(
            "POST", f"/repos/{ref.repo}/issues/{ref.number}/comments", body={"body": body}
        )
        return str(created["id"]), "created"

    # ------------------------------------------------------------------ transport

    def _get(self, url: str, params: dict[str, Any] | None) -> tuple[dict[str, Any], Any]:
        return self._call("GET " + url.split("?")[0], lambda: self._send("GET", url, params))

    def _send(
        self, method: str, url: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> tuple[dict[str, Any], Any]:
        """One request through PyGithub's requester, counted whatever it answers."""
        try:
            headers, data = self._github.requester.requestJsonAndCheck(
                method, url, parameters=params, input=body
            )
        except GithubException as error:
            self.requests.record(method, error.status)
            raise
        self.requests.record(method, 200)
        return headers, data

    def _call(self, what: str, action: Callable[[], T]) -> T:
        return call_with_retries(
            lambda: _translated(what, action),
            attempts=self._attempts,
            sleep=self._sleep,
            on_wait=self.requests.record_wait,
        )


def _auth(config: GithubSourceConfig, token: str | None) -> Auth.Auth:
    if config.app is not None:
        key = Path(config.app.private_key_file).read_text(encoding="utf-8")
        app = Auth.AppAuth(config.app.app_id, key)
        return app.get_installation_auth(config.app.installation_id)
    if not token:
        raise AuthError(SOURCE, "no token: set the variable named by sources.github.token_env")
    return Auth.Token(token)


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


def _translated(what: str, action: Callable[[], T]) -> T:
    """Run a client call, turning library errors into ours, with no credentials in them."""
    try:
        return action()
    except GithubException as error:
        raise _source_error(what, error) from None
    except requests.Timeout:
        raise RetriableError(SOURCE, f"{what}: timed out") from None
    except requests.ConnectionError:
        raise RetriableError(SOURCE, f"{what}: connection failed") from None


def _source_error(what: str, error: GithubException) -> SourceError:
    status = error.status
    headers = {str(k): str(v) for k, v in (error.headers or {}).items()}
    message = error.data.get("message") if isinstance(error.data, dict) else None
    text = f"{what}: HTTP {status}" + (f": {str(message)[:300]}" if message else "")
    rate_limited = status == 429 or (
        status == 403 and header(headers, "x-ratelimit-remaining") == "0"
    )
    if rate_limited or status in RETRIABLE_STATUSES:
        return RetriableError(SOURCE, text, status, retry_after_seconds(headers))
    if status in (401, 403):
        return AuthError(
            SOURCE, f"{what}: HTTP {status}: check the token and its permissions", status
        )
    return FatalError(SOURCE, text, status)
