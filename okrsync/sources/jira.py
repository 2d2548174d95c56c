"""Jira Cloud and Server/Data Center: pull issues incrementally, keep one managed comment each.

Cloud pages through `/rest/api/2/search/jql` with `nextPageToken` (the old `/search`
answers 410 there); Server/Data Center keeps `/rest/api/2/search` with `startAt`. The
`jira` library picks between them from `serverInfo.deploymentType`, which is read once
when the client connects.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar, cast

import requests
import structlog
from jira import JIRA, JIRAError

from okrsync.config import JiraSourceConfig
from okrsync.domain import Bucket, WorkItem
from okrsync.sources._base import (
    PlannedWrite,
    PullResult,
    RequestCounter,
    WriteOutcome,
    finished_pull,
    write_managed_comment,
)
from okrsync.sources._errors import AuthError, FatalError, RetriableError, SourceError
from okrsync.sources._retry import (
    RETRIABLE_STATUSES,
    call_with_retries,
    retry_after_seconds,
)

T = TypeVar("T")
log = structlog.get_logger(__name__)

SOURCE = "jira"
# The managed comment carries this entity property: hidden from readers, and it survives
# Jira Cloud's conversion between wiki markup and ADF, unlike any text marker would.
MARKER_PROPERTY = "okrsync.managed"
_STATUS_CATEGORY_BUCKETS = {
    "new": Bucket.TODO,
    "indeterminate": Bucket.IN_PROGRESS,
    "done": Bucket.DONE,
}
_JIRA_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"


class JiraSource:
    """A Jira connection for one sync cycle: fields resolved once, pages of `page_size`."""

    name = SOURCE

    def __init__(
        self,
        config: JiraSourceConfig,
        token: str,
        email: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 5,
    ):
        self.config = config
        self.requests = RequestCounter()
        self._sleep = sleep
        self._attempts = attempts
        # The connect's serverInfo answers the first pull's clock; later pulls ask again.
        self._connect_info_unused = True
        self._server_time: datetime | None = None
        self._client = self._call("connect", lambda: self._connect(token, email))
        self.is_cloud = self._client.deploymentType == "Cloud"
        self._field_ids = self._call("resolve fields", lambda: dict(self._client._fields_cache))
        self.story_points_field = self._field_id(config.story_points_field)
        self.epic_link_field = None if self.is_cloud else self._field_id(config.epic_link_field)

    # ------------------------------------------------------------------ connection

    def _connect(self, token: str, email: str | None) -> JIRA:
        auth: dict[str, Any] = {"basic_auth": (email, token)} if email else {"token_auth": token}
        session_hook = self._count_response
        client = JIRA(
            server=self.config.url,
            timeout=self.config.timeout,
            max_retries=0,  # tenacity retries instead, honouring Retry-After
            get_server_info=False,
            options={"rest_api_version": "2", "check_update": False},
            **auth,
        )
        client._session.hooks["response"].append(session_hook)
        info = client.server_info()
        self._server_time = _server_time(info)
        client.deploymentType = info.get("deploymentType")
        client._version = tuple(info.get("versionNumbers", (0, 0, 0)))
        return client

    def _count_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests.record(response.request.method or "GET", response.status_code)

    def _field_id(self, name_or_id: str | None) -> str | None:
        """A field configured by display name (any case) or as `customfield_NNNNN`."""
        if not name_or_id:
            return None
        if re.fullmatch(r"customfield_\d+", name_or_id):
            return name_or_id
        wanted = name_or_id.casefold()
        for clause_name, field_id in self._field_ids.items():
            if clause_name.casefold() == wanted:
                return str(field_id)
        raise FatalError(SOURCE, f"no field named {name_or_id!r} on this Jira")

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    # ------------------------------------------------------------------ pull

    def fields(self) -> list[str]:
        wanted = ["summary", "status", "issuetype", "labels", "parent", "updated"]
        wanted += [f for f in (self.story_points_field, self.epic_link_field) if f]
        return wanted

    def jql(self, since_ms: int | None) -> str:
        base = f"({self.config.jql})"
        if since_ms is not None:
            # Epoch milliseconds: a date string would be read in the API user's time zone.
            base += f" AND updated >= {since_ms}"
        # Key order keeps page boundaries stable while issues change during the walk.
        return base + " ORDER BY key ASC"

    def _server_clock(self) -> datetime | None:
        """The server's time now: from the connect's serverInfo the first time, then fresh."""
        if self._connect_info_unused:
            self._connect_info_unused = False
            return self._server_time
        return _server_time(self._call("server info", self._client.server_info))

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        server_started = self._server_clock()
        since = None if bookmark_ms is None else max(0, bookmark_ms - self.config.overlap * 1000)
        jql = self.jql(since)
        before = self.requests.total
        seen: dict[str, WorkItem] = {}
        for raw in self._pages(jql):
            item = self.work_item(raw)
            seen[item.key] = item  # a page boundary shift may repeat an issue: keep one
        log.info("jira.pulled", items=len(seen), full=bookmark_ms is None, since_ms=since)
        return finished_pull(
            SOURCE, seen, bookmark_ms, started_at, server_started, self.requests.total - before
        )

    def _pages(self, jql: str) -> Iterator[dict[str, Any]]:
        fields = self.fields()
        size = self.config.page_size

        def cloud_page(token: str | None) -> dict[str, Any]:
            page = self._client.enhanced_search_issues(
                jql, nextPageToken=token, maxResults=size, fields=list(fields), json_result=True
            )
            return cast(dict[str, Any], page)

        def server_page(start: int) -> dict[str, Any]:
            return self._client.search_issues(
                jql, startAt=start, maxResults=size, fields=list(fields), json_result=True
            )

        if self.is_cloud:
            token: str | None = None
            while True:
                page = self._call("search", partial(cloud_page, token))
                yield from page.get("issues", [])
                token = page.get("nextPageToken")
                if not token or page.get("isLast", False):
                    return
        else:
            start = 0
            while True:
                page = self._call("search", partial(server_page, start))
                issues = page.get("issues", [])
                yield from issues
                start += len(issues)
                if not issues or start >= int(page.get("total", 0)):
                    return

    def work_item(self, raw: dict[str, Any]) -> WorkItem:
        fields = raw.get("fields") or {}
        status = fields.get("status") or {}
        category = (status.get("statusCategory") or {}).get("key", "new")
        parent = (fields.get("parent") or {}).get("key")
        if parent is None and self.epic_link_field:
            parent = fields.get(self.epic_link_field) or None
        points = fields.get(self.story_points_field) if self.story_points_field else None
        return WorkItem(
            source=SOURCE,
            key=raw["key"],
            title=fields.get("summary") or "",
            type=(fields.get("issuetype") or {}).get("name", ""),
            status=status.get("name", ""),
            bucket=_STATUS_CATEGORY_BUCKETS.get(category, Bucket.TODO),
            points=float(points) if isinstance(points, int | float) else None,
            labels=tuple(fields.get("labels") or ()),
            parent=parent,
            updated=datetime.strptime(fields["updated"], _JIRA_TIME_FORMAT),
            url=f"{self.config.url}/browse/{raw['key']}",
            remote_id=str(raw.get("id", "")),
        )

    def children(
        self, parents: Sequence[WorkItem], known: Mapping[str, Sequence[WorkItem]]
    ) -> list[WorkItem]:
        # Stories and sub-tasks sit in the JQL's scope and arrive with their parent link.
        return []

    # ------------------------------------------------------------------ write-back

    def apply(self, write: PlannedWrite) -> WriteOutcome:
        """Bring the one managed comment of an issue up to date."""
        return write_managed_comment(
            write,
            lambda known: self._call("edit comment", lambda: self._edit(write, known)),
            lambda: self._call("write comment", lambda: self._adopt_or_create(write)),
        )

    def _edit(self, write: PlannedWrite, comment_id: str) -> bool:
        """PUT the new body; False when the comment was deleted by someone meanwhile."""
        url = self._client._get_url(f"issue/{write.item_key}/comment/{comment_id}")
        try:
            self._client._session.put(url, data=json.dumps({"body": write.body}))
        except JIRAError as error:
            if error.status_code == 404:
                return False
            raise
        return True

    def _find_managed_comment(self, issue_key: str) -> str | None:
        start = 0
        while True:
            page = self._client._get_json(
                f"issue/{issue_key}/comment",
                params={"startAt": start, "maxResults": 100, "expand": "properties"},
            )
            comments = page.get("comments", [])
            for comment in comments:
                if any(p.get("key") == MARKER_PROPERTY for p in comment.get("properties", [])):
                    return str(comment["id"])
            start += len(comments)
            if not comments or start >= int(page.get("total", 0)):
                return None

    def _adopt_or_create(self, write: PlannedWrite) -> tuple[str, str]:
        existing = self._find_managed_comment(write.item_key)
        if existing is not None:
            self._edit(write, existing)
            return existing, "edited"
        url = self._client._get_url(f"issue/{write.item_key}/comment")
        body = {
            "body": write.body,
            "properties": [{"key": MARKER_PROPERTY, "value": {"target": write.target}}],
        }
        response = self._client._session.post(url, data=json.dumps(body))
        return str(response.json()["id"]), "created"

    # ------------------------------------------------------------------ errors

    def _call(self, what: str, action: Callable[[], T]) -> T:
        return call_with_retries(
            lambda: _translated(what, action),
            attempts=self._attempts,
            sleep=self._sleep,
            on_wait=self.requests.record_wait,
        )


def _server_time(info: dict[str, Any]) -> datetime | None:
    text = info.get("serverTime")
    try:
        return datetime.strptime(text, _JIRA_TIME_FORMAT) if isinstance(text, str) else None
    except ValueError:
        return None


def _translated(what: str, action: Callable[[], T]) -> T:
    """Run a client call, turning library errors into ours without their header dumps."""
    try:
        return action()
    except JIRAError as error:
        raise _source_error(what, error) from None
    except requests.Timeout:
        raise RetriableError(SOURCE, f"{what}: timed out") from None
    except requests.ConnectionError:
        raise RetriableError(SOURCE, f"{what}: connection failed") from None


def _source_error(what: str, error: JIRAError) -> SourceError:
    status = error.status_code
    response = error.response
    detail = _error_messages(response)
    message = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
    if status in RETRIABLE_STATUSES:
        headers = dict(response.headers) if response is not None else {}
        return RetriableError(SOURCE, message, status, retry_after_seconds(headers))
    if status in (401, 403):
        return AuthError(
            SOURCE, f"{what}: HTTP {status}: check the token and its permissions", status
        )
    return FatalError(SOURCE, message, status)


def _error_messages(response: requests.Response | None) -> str:
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    messages = list(body.get("errorMessages") or []) if isinstance(body, dict) else []
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, dict):
        messages += [f"{k}: {v}" for k, v in errors.items()]
    return "; ".join(str(m) for m in messages)[:500]
