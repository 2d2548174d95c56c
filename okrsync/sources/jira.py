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
from jira.client import TokenAuth
from pydantic import Field, field_validator
from requests.auth import AuthBase

from okrsync.config import (
    EnvName,
    SecretFile,
    SecretRef,
    SourceConfig,
    Strict,
    read_secret,
    secret_choice,
)
from okrsync.domain import Bucket, WorkItem
from okrsync.logs import redact_secrets
from okrsync.sources._base import PlannedWrite, PullResult, WriteOutcome, write_managed_comment
from okrsync.sources._core import (
    Clock,
    Connector,
    HttpError,
    Identity,
    SeamAdapter,
    Send,
    Sleep,
    json_body,
    since_ms,
)
from okrsync.sources._errors import FatalError

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
# What the `jira` library's session sends with every request: ours send the same.
_HEADERS = {
    "Accept": "application/json,*/*;q=0.9",
    "Cache-Control": "no-cache",
    "Content-Type": "application/json",
    "X-Atlassian-Token": "no-check",
}


class JiraAuthConfig(Strict):
    email_env: EnvName | None = None
    email_file: SecretFile | None = None  # instead of email_env: read from this file
    token_env: EnvName = "JIRA_API_TOKEN"
    token_file: SecretFile | None = None  # instead of token_env: read from this file

    def token(self) -> SecretRef:
        return secret_choice(self, "token", ("auth",)) or SecretRef(("auth", "token_env"), "")

    def email(self) -> SecretRef | None:
        """None: a bearer PAT (Server/DC); else Basic auth with this account's email (Cloud)."""
        return secret_choice(self, "email", ("auth",))


class JiraSourceConfig(SourceConfig):
    auth: JiraAuthConfig = JiraAuthConfig()
    jql: str
    story_points_field: str | None = "Story Points"
    epic_link_field: str = "Epic Link"
    page_size: int = Field(default=100, ge=1, le=100)

    @field_validator("jql")
    @classmethod
    def _no_order_by(cls, jql: str) -> str:
        if re.search(r"\border\s+by\b", jql, re.IGNORECASE):
            raise ValueError("leave ORDER BY out: okrsync orders the pull itself")
        return jql

    def secrets(self) -> Iterator[SecretRef]:
        yield self.auth.token()
        email = self.auth.email()
        if email is not None:
            yield email


class TokenPaginator:
    """Jira Cloud's `/search/jql`: follows `nextPageToken` until `isLast` or no token."""

    def __init__(self, fetch: Callable[[str | None], dict[str, Any]], items: str = "issues"):
        self._fetch = fetch
        self._items = items

    def records(self) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self._fetch(token)
            yield from page.get(self._items) or []
            token = page.get("nextPageToken")
            if not token or page.get("isLast", False):
                return


class StartAtPaginator:
    """Server/Data Center's `/search` (and any `startAt` list): `startAt` until `total`."""

    def __init__(self, fetch: Callable[[int], dict[str, Any]], items: str = "issues"):
        self._fetch = fetch
        self._items = items

    def records(self) -> Iterator[dict[str, Any]]:
        start = 0
        while True:
            page = self._fetch(start)
            records = list(page.get(self._items) or [])
            yield from records
            start += len(records)
            if not records or start >= int(page.get("total", 0)):
                return


class JiraSource(Connector):
    """A Jira connection for one sync cycle: fields resolved once, pages of `page_size`.

    Searches, `serverInfo` and the field list go through the `jira` library's public
    calls; comments with their entity properties (which it cannot write or expand) go
    through requests built here. Both leave through `send`, the one transport seam.
    """

    name = SOURCE

    def __init__(
        self,
        config: JiraSourceConfig,
        token: str,
        email: str | None = None,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
        attempts: int = 5,
        transport: Send | None = None,
        session: requests.Session | None = None,
    ):
        super().__init__(
            transport=transport,
            session=session,
            timeout=config.timeout,
            clock=clock,
            sleep=sleep,
            attempts=attempts,
        )
        self.config = config
        self._api = f"{config.url}/rest/api/2"
        self._auth: AuthBase | tuple[str, str] = (email, token) if email else TokenAuth(token)
        # The field list fetched on connect, kept to answer the library's own lazy lookup
        # of it (it translates field names before every search): one GET, as ever.
        self._field_answer: requests.Response | None = None
        # The connect's serverInfo answers the first pull's clock; later pulls ask again.
        self._connect_info_unused = True
        self._server_time: datetime | None = None
        self._client = self.call("connect", lambda: self._connect(token, email))
        self.is_cloud = self._client.deploymentType == "Cloud"
        self._field_ids = self.call("resolve fields", self._resolve_fields)
        self.story_points_field = self._field_id(config.story_points_field)
        self.epic_link_field = None if self.is_cloud else self._field_id(config.epic_link_field)

    # ------------------------------------------------------------------ connection

    def _connect(self, token: str, email: str | None) -> JIRA:
        auth: dict[str, Any] = {"basic_auth": (email, token)} if email else {"token_auth": token}
        client = JIRA(
            server=self.config.url,
            timeout=self.config.timeout,
            max_retries=0,  # tenacity retries instead, honouring Retry-After
            get_server_info=False,  # asked below, through the seam, and counted
            options={"rest_api_version": "2", "check_update": False},
            **auth,
        )
        # jira 3.10 takes no session or transport: the seam becomes its session's adapter,
        # the one private member touched (nothing is set on the client but the public
        # `deploymentType`).
        seam = SeamAdapter(self.send)
        for scheme in ("https://", "http://"):
            client._session.mount(scheme, seam)
        info = client.server_info()
        self._server_time = _server_time(info)
        # Public: the library picks `/search/jql` (Cloud) or `/search` from it.
        client.deploymentType = info.get("deploymentType")
        return client

    def _resolve_fields(self) -> dict[str, str]:
        """Field ids by every clause name (`Story Points`, `cf[10026]` ...)."""
        ids: dict[str, str] = {}
        for field in self._client.fields():
            for clause_name in field.get("clauseNames") or ():
                ids[clause_name] = str(field["id"])
        return ids

    def send(self, request: requests.PreparedRequest) -> requests.Response:
        if request.method == "GET" and request.url == f"{self._api}/field":
            if self._field_answer is not None:
                return self._field_answer  # the library's lookup of what we already read
            response = super().send(request)
            if response.ok:
                self._field_answer = response
            return response
        return super().send(request)

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
        super().close()

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
        return _server_time(self.call("server info", self._client.server_info))

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        server_started = self._server_clock()
        since = since_ms(bookmark_ms, self.config.overlap)
        issues = self.paginator(self.jql(since)).records()
        return self.pulled(
            [issues], self.work_item, bookmark_ms, since, started_at, lambda: server_started
        )

    def labels_in_use(self) -> set[str]:
        """The labels of the labelled issues in the JQL's scope: one search asking for
        `labels` only, in pages of `page_size` (after the connect's two requests)."""
        jql = f"({self.config.jql}) AND labels is not EMPTY ORDER BY key ASC"
        found: set[str] = set()
        for raw in self.paginator(jql, fields=["labels"]).records():
            labels = (raw.get("fields") or {}).get("labels") or ()
            found.update(label for label in labels if isinstance(label, str))
        return found

    def paginator(
        self, jql: str, fields: Sequence[str] | None = None
    ) -> TokenPaginator | StartAtPaginator:
        """Cloud's token pages or Server's `startAt` pages of one search, each page retried;
        `fields` defaults to what a pull reads."""
        fields = list(fields) if fields is not None else self.fields()
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
            return TokenPaginator(lambda token: self.call("search", partial(cloud_page, token)))
        return StartAtPaginator(lambda start: self.call("search", partial(server_page, start)))

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
            lambda known: self.call("edit comment", lambda: self._edit(write, known)),
            lambda: self.call("write comment", lambda: self._adopt_or_create(write)),
        )

    def _edit(self, write: PlannedWrite, comment_id: str) -> bool:
        """PUT the new body; False when the comment was deleted by someone meanwhile."""
        try:
            self._request(
                "PUT", f"issue/{write.item_key}/comment/{comment_id}", body={"body": write.body}
            )
        except HttpError as error:
            if error.status == 404:
                return False
            raise
        return True

    def _marked_comments(self, issue_key: str) -> list[tuple[str, Identity]]:
        """(id, author) of every comment of the issue that carries the marker property."""

        def page(start: int) -> dict[str, Any]:
            query = {"startAt": start, "maxResults": 100, "expand": "properties"}
            response = self._request("GET", f"issue/{issue_key}/comment", params=query)
            return json_body(SOURCE, f"GET issue/{issue_key}/comment", response)

        return [
            (_comment_id(comment), _user_keys(comment.get("author")))
            for comment in StartAtPaginator(page, items="comments").records()
            if any(p.get("key") == MARKER_PROPERTY for p in comment.get("properties") or [])
        ]

    def _adopt_or_create(self, write: PlannedWrite) -> tuple[str, str]:
        """Edit the oldest managed comment the API user wrote (deleting any newer ones), or
        post one; someone else's comment with the property is left alone."""
        issue = write.item_key
        try:
            ours = self.ours(write.target, self._marked_comments(issue))
            for index, comment_id in enumerate(ours):
                if self._edit(write, comment_id):
                    newer = ours[index + 1 :]
                    self.drop_duplicates(
                        write.target, comment_id, newer, partial(self._delete, issue)
                    )
                    return comment_id, "edited"
            body = {
                "body": write.body,
                "properties": [{"key": MARKER_PROPERTY, "value": {"target": write.target}}],
            }
            response = self._request("POST", f"issue/{issue}/comment", body=body)
        except HttpError as error:
            if error.status == 404:
                raise self.target_gone("write comment", issue, 404) from None
            raise
        return _comment_id(json_body(SOURCE, f"POST issue/{issue}/comment", response)), "created"

    def _delete(self, issue_key: str, comment_id: str) -> None:
        try:
            self._request("DELETE", f"issue/{issue_key}/comment/{comment_id}")
        except HttpError as error:
            if error.status != 404:  # already gone is what was wanted
                raise

    def who_am_i(self) -> Identity:
        me = json_body(SOURCE, "GET myself", self._request("GET", "myself"))
        keys = _user_keys(me)
        if not keys:
            raise FatalError(SOURCE, "GET myself: the answer names no user")
        return keys

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> requests.Response:
        """One REST call the library has no public method for, shaped as the library's own
        (its headers, JSON as text); an error answer raises `HttpError`."""
        request = requests.Request(
            method,
            f"{self._api}/{path}",
            params=params,
            data=None if body is None else json.dumps(body),
            headers=_HEADERS,
            auth=self._auth,
        )
        response = self.send(self.prepare(request))
        if not response.ok:
            raise HttpError(response.status_code, response.headers, _error_messages(response))
        return response

    # ------------------------------------------------------------------ errors

    def call(self, what: str, action: Callable[[], T]) -> T:
        """`action` retried, with the library's errors (which dump headers) made ours."""

        def unwrapped() -> T:
            try:
                return action()
            except JIRAError as error:
                response = error.response
                headers = response.headers if response is not None else {}
                raise HttpError(
                    error.status_code or 0, headers, _error_messages(response)
                ) from None

        return super().call(what, unwrapped)

    # ------------------------------------------------------------------ counts (metrics)

    def count(self, jql: str) -> int:
        """How many issues `jql` matches: one request. Cloud: the approximate count
        (`POST /rest/api/3/search/approximate-count`; recent changes may lag, and the JQL
        must be bounded); Server/Data Center: `search` with `maxResults=0`, its `total`."""
        if self.is_cloud:
            answer = self.call("count", lambda: self._approximate_count(jql))
            found = answer.get("count")
        else:
            answer = self.call("count", lambda: self._search_total(jql))
            found = answer.get("total")
        if isinstance(found, bool) or not isinstance(found, int) or found < 0:
            raise FatalError(SOURCE, "count: the answer has no count")
        return found

    def _approximate_count(self, jql: str) -> dict[str, Any]:
        url = f"{self.config.url}/rest/api/3/search/approximate-count"
        request = requests.Request(
            "POST", url, data=json.dumps({"jql": jql}), headers=_HEADERS, auth=self._auth
        )
        response = self.send(self.prepare(request))
        if not response.ok:
            raise HttpError(response.status_code, response.headers, _error_messages(response))
        return json_body(SOURCE, "POST search/approximate-count", response)

    def _search_total(self, jql: str) -> dict[str, Any]:
        # Not the library's search_issues: it reads maxResults=0 as "fetch every issue".
        params = {"jql": jql, "maxResults": 0, "fields": "id"}
        return json_body(SOURCE, "GET search", self._request("GET", "search", params=params))


def _user_keys(user: Any) -> Identity:
    """A user's identity: `accountId` on Cloud; `key`, else `name`, on Server."""
    if not isinstance(user, dict):
        return frozenset()
    for field in ("accountId", "key", "name"):
        if user.get(field):
            return frozenset({f"{field}:{user[field]}"})
    return frozenset()


def _comment_id(comment: Any) -> str:
    if not isinstance(comment, dict) or comment.get("id") is None:
        raise FatalError(SOURCE, "a comment in the answer has no id")
    return str(comment["id"])


def _server_time(info: dict[str, Any]) -> datetime | None:
    text = info.get("serverTime")
    try:
        return datetime.strptime(text, _JIRA_TIME_FORMAT) if isinstance(text, str) else None
    except ValueError:
        return None


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


def connect(config: JiraSourceConfig, environ: Mapping[str, str]) -> JiraSource:
    """A connection with the token (and, for Jira Cloud, the account's email): each read
    from its variable or file in `environ` (or resolved there by the connector factory),
    stripped and registered for redaction."""
    email_ref = config.auth.email()
    email = read_secret(email_ref, environ) if email_ref is not None else None
    token = read_secret(config.auth.token(), environ)
    if email:
        redact_secrets.add_basic_auth(email, token)
    return JiraSource(config, token=token, email=email)
