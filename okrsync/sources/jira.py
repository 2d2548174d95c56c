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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

from okrsync.config import read_secret
from okrsync.domain import Bucket, WorkItem
from okrsync.logs import get_logger, redact_secrets
from okrsync.sources._base import (
    UNLINKED_NOTE,
    CommentState,
    OperationOutcome,
    PlannedWrite,
    PullResult,
    RetireTarget,
    SetComment,
    SetField,
    SetKRIssue,
    SetKRLinks,
    SetLabels,
    SetProperty,
    TargetOperation,
    WriteOutcome,
    text_fingerprint,
    write_managed_comment,
)
from okrsync.sources._core import (
    Clock,
    Connector,
    HttpError,
    Identity,
    Send,
    Sleep,
    json_body,
    seam_adapter,
    since_ms,
)
from okrsync.sources._errors import FatalError

# The settings, in their own module for the config (which never loads this one).
from okrsync.sources.jira_config import (
    CLOUD_PAGE_MAX as CLOUD_PAGE_MAX,
)
from okrsync.sources.jira_config import (
    SERVER_PAGE_MAX as SERVER_PAGE_MAX,
)
from okrsync.sources.jira_config import (
    SOURCE as SOURCE,
)
from okrsync.sources.jira_config import (
    JiraAuthConfig as JiraAuthConfig,
)
from okrsync.sources.jira_config import (
    JiraSourceConfig as JiraSourceConfig,
)
from okrsync.sources.jira_config import (
    JiraWritebackConfig as JiraWritebackConfig,
)
from okrsync.sources.jira_config import (
    KRIssuesConfig as KRIssuesConfig,
)

if TYPE_CHECKING:  # the clients load with the first connection, not with the config model
    import requests
    from jira import JIRA
    from requests.auth import AuthBase

T = TypeVar("T")
log = get_logger(__name__)

# The managed comment carries this entity property: hidden from readers, and it survives
# Jira Cloud's conversion between wiki markup and ADF, unlike any text marker would. It
# is read with `expand=properties` whatever API version wrote the comment.
MARKER_PROPERTY = "okrsync.managed"
# A KR's own issue (`writeback.jira.kr_issues`) carries {"kr": "<KR id>"} here: its
# identity, by which a search finds it again when the store lost its key.
KR_PROPERTY = "okrsync.kr"
# The planned body of a Jira comment is its wiki markup, then this line and the ADF
# document as one line of JSON (okrsync/render/jira.py makes it; none with `format: wiki`).
ADF_SEPARATOR = "\n\n-- ADF (Jira Cloud, REST v3) --\n"
_STATUS_CATEGORY_BUCKETS = {
    "new": Bucket.TODO,
    "indeterminate": Bucket.IN_PROGRESS,
    "done": Bucket.DONE,
}
# What the `jira` library's session sends with every request: ours send the same.
_HEADERS = {
    "Accept": "application/json,*/*;q=0.9",
    "Cache-Control": "no-cache",
    "Content-Type": "application/json",
    "X-Atlassian-Token": "no-check",
}


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
    """A Jira connection for one sync cycle: fields resolved once, the largest pages.

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
        from jira.client import TokenAuth

        self._api = f"{config.url}/rest/api/2"
        self._api_v3 = f"{config.url}/rest/api/3"  # comments in ADF, on Cloud
        self._auth: AuthBase | tuple[str, str] = (email, token) if email else TokenAuth(token)
        # The field list fetched on connect, kept to answer the library's own lazy lookup
        # of it (it translates field names before every search): one GET, as ever.
        self._field_answer: requests.Response | None = None
        # The connect's serverInfo answers the first pull's clock; later pulls ask again.
        self._connect_info_unused = True
        self._server_time: datetime | None = None
        self._client = self.call("connect", lambda: self._connect(token, email))
        self.is_cloud = self._client.deploymentType == "Cloud"
        # Write-back: fields by name (any case) as GET /field lists them, read with the
        # field ids on connect; select options per project from editmeta, when needed.
        self._fields_by_name: dict[str, list[dict[str, Any]]] = {}
        self._allowed_values: dict[str, tuple[str, dict[str, list[Any]]]] = {}
        # Cleared when Jira refuses notifyUsers=false to this account: for this cycle,
        # edits are sent without it (and may notify watchers).
        self._quiet_edits = True
        # KR issues (`writeback.jira.kr_issues`) by (project, issue type): KR id -> keys,
        # oldest first; one search per cycle, when a KR's key is not stored (see
        # `find_kr_issues`), with the issues created since added.
        self._kr_issues: dict[tuple[str, str], _KRIssueIndex] = {}
        self._field_ids = self.call("resolve fields", self._resolve_fields)
        self.story_points_field = self._field_id(config.story_points_field)
        self.epic_link_field = None if self.is_cloud else self._field_id(config.epic_link_field)

    # ------------------------------------------------------------------ connection

    def _connect(self, token: str, email: str | None) -> JIRA:
        from jira import JIRA

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
        seam = seam_adapter(self.send)
        for scheme in ("https://", "http://"):
            client._session.mount(scheme, seam)
        # The seam's transport reads the proxy and CA settings of the environment (once
        # per host) and ignores what the session would pass it: the session need not walk
        # the environment on every request (a twentieth of a full pull's CPU).
        client._session.trust_env = False
        info = client.server_info()
        self._server_time = _server_time(info)
        # Public: the library picks `/search/jql` (Cloud) or `/search` from it.
        client.deploymentType = info.get("deploymentType")
        return client

    def _resolve_fields(self) -> dict[str, str]:
        """Field ids by every clause name (`Story Points`, `cf[10026]` ...); the fields by
        name and by id kept for write-back (`writeback.jira.fields`)."""
        ids: dict[str, str] = {}
        by_name: dict[str, list[dict[str, Any]]] = {}
        for field in self._client.fields():
            for clause_name in field.get("clauseNames") or ():
                ids[clause_name] = str(field["id"])
            for name in {str(field.get("name") or "").casefold(), str(field["id"]).casefold()}:
                by_name.setdefault(name, []).append(field)
        self._fields_by_name = by_name
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
        """What `work_item` reads, and nothing else (`id` and `key` always come)."""
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
        `labels` only, in the largest pages (after the connect's two requests)."""
        jql = f"({self.config.jql}) AND labels is not EMPTY ORDER BY key ASC"
        found: set[str] = set()
        for raw in self.paginator(jql, fields=["labels"]).records():
            labels = (raw.get("fields") or {}).get("labels") or ()
            found.update(label for label in labels if isinstance(label, str))
        return found

    def paginator(
        self,
        jql: str,
        fields: Sequence[str] | None = None,
        properties: Sequence[str] = (),
    ) -> TokenPaginator | StartAtPaginator:
        """Cloud's token pages or Server's `startAt` pages of one search, each page retried;
        `fields` defaults to what a pull reads. `properties` (up to 5 issue property
        keys, sent comma-separated) puts their values under each issue's `properties`."""
        fields = list(fields) if fields is not None else self.fields()
        wanted = ",".join(properties) or None
        size = self.config.search_page_size(self.is_cloud)

        def cloud_page(token: str | None) -> dict[str, Any]:
            page = self._client.enhanced_search_issues(
                jql,
                nextPageToken=token,
                maxResults=size,
                fields=list(fields),
                properties=wanted,
                json_result=True,
            )
            return cast(dict[str, Any], page)

        def server_page(start: int) -> dict[str, Any]:
            return self._client.search_issues(
                jql,
                startAt=start,
                maxResults=size,
                fields=list(fields),
                properties=wanted,
                json_result=True,
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
            updated=jira_time(fields["updated"]),
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

    def comment_body(self, body: str) -> tuple[str, str | dict[str, Any]]:
        """(API base, body) of a comment write: the ADF document through REST v3 on Jira
        Cloud when the planned body has one, else the wiki markup through v2."""
        wiki, separator, document = body.rpartition(ADF_SEPARATOR)
        if not separator:
            return self._api, body
        if self.is_cloud:
            try:
                adf = json.loads(document)
            except ValueError:
                adf = None  # not a body okrsync rendered: the wiki part is still good
            if isinstance(adf, dict):
                return self._api_v3, adf
        return self._api, wiki

    def _edit(self, write: PlannedWrite, comment_id: str) -> bool:
        """PUT the new body (on Cloud with notifyUsers=false); False when the comment was
        deleted by someone meanwhile."""
        path = f"issue/{write.item_key}/comment/{comment_id}"
        api, body = self.comment_body(write.body)
        response = self._quiet_put(path, json.dumps({"body": body}), api=api)
        if response.status_code == 404:
            return False
        if not response.ok:
            raise HttpError(response.status_code, response.headers, _error_messages(response))
        return True

    def _quiet_put(self, path: str, data: str, api: str | None = None) -> requests.Response:
        """An edit that notifies no one: on Cloud `notifyUsers=false`, unless Jira refused
        it to this account earlier in the cycle; a refusal (403, or a 400 about
        notifications) is logged once and the edit sent again without it."""
        if self.is_cloud and self._quiet_edits:
            response = self._response("PUT", path, {"notifyUsers": "false"}, data, api=api)
            if not _refuses_quiet_edits(response):
                return response
            self._quiet_edits = False
            log.warning(
                "jira.notify_users_refused",
                status=response.status_code,
                detail="this account may not pass notifyUsers=false: edits this cycle may "
                "notify watchers",
            )
        return self._response("PUT", path, None, data, api=api)

    # ------------------------------------------------------------------ fields and property

    def apply_operations(self, operations: Sequence[TargetOperation]) -> Iterator[OperationOutcome]:
        """One issue's fields in ONE `PUT issue/{key}` (Cloud: `?notifyUsers=false`), then
        its property with `PUT issue/{key}/properties/{property}`; see `WritesOperations`.
        A KR's own issue (`SetKRIssue`, `SetKRLinks`): see `apply_kr_issue`."""
        if any(isinstance(op, SetKRIssue | SetKRLinks) for op in operations):
            yield from self.apply_kr_issue(operations)
            return
        fields = [op for op in operations if isinstance(op, SetField)]
        if fields:
            yield from self._set_fields(fields)
        for operation in operations:
            if isinstance(operation, RetireTarget):
                yield self._retire(operation)
            elif isinstance(operation, SetProperty):
                self.call("write property", partial(self._put_property, operation))
                yield OperationOutcome(operation)
            elif isinstance(operation, SetLabels):
                yield OperationOutcome(operation, error="okrsync writes no labels to Jira")

    # ------------------------------------------------------------------ reconcile, retire

    def check_comment(self, item_key: str, comment_id: str, body: str) -> CommentState:
        """One `GET issue/{key}/comment/{id}` through the API the body is written with (v3
        and its ADF on Cloud, else v2 and wiki markup), compared by the text it holds."""
        api, expected = self.comment_body(body)
        return self.call(
            "read comment", partial(self._check_comment, item_key, comment_id, api, expected)
        )

    def _check_comment(
        self, issue: str, comment_id: str, api: str, expected: str | dict[str, Any]
    ) -> CommentState:
        path = f"issue/{issue}/comment/{comment_id}"
        response = self._response("GET", path, None, None, api=api)
        if response.status_code == 404:
            return "deleted"
        if not response.ok:
            raise HttpError(response.status_code, response.headers, _error_messages(response))
        found = json_body(SOURCE, "GET comment", response).get("body")
        same = text_fingerprint(_comment_text(found)) == text_fingerprint(_comment_text(expected))
        return "same" if same else "edited"

    def _retire(self, operation: RetireTarget) -> OperationOutcome:
        """The managed comment made the one-line note (a v2 edit: the marker property
        stays) or deleted, the fields set to null in ONE `PUT issue/{key}`, each property
        deleted (`DELETE issue/{key}/properties/{property}`; a 404 is fine)."""
        issue, comment_id, note_id = operation.item_key, operation.comment_id, ""
        if comment_id is not None and operation.mode == "note":
            note = SetComment(operation.target, SOURCE, issue, UNLINKED_NOTE, "", comment_id)
            if self.call("retire comment", partial(self._edit, note, comment_id)):
                note_id = comment_id
        elif comment_id is not None:
            self.call("delete comment", partial(self._delete, issue, comment_id))
        cleared: dict[str, Any] = {}
        for name in operation.fields:
            ids = {str(field["id"]) for field in self._fields_by_name.get(name.casefold(), [])}
            if len(ids) == 1:
                cleared[ids.pop()] = None
        if cleared:
            refused = self.call("clear fields", partial(self._put_fields, issue, cleared))
            if refused:
                detail = "; ".join(f"{k}: {v}" for k, v in refused.items())
                return OperationOutcome(operation, error=f"clear fields on {issue}: {detail}")
        for key in operation.properties:
            self.call("delete property", partial(self._delete_property, issue, key))
        return OperationOutcome(operation, remote_id=note_id)

    def _delete_property(self, issue: str, key: str) -> None:
        response = self._response("DELETE", f"issue/{issue}/properties/{key}", None, None)
        if response.status_code != 404 and not response.ok:  # 404: gone already
            raise HttpError(response.status_code, response.headers, _error_messages(response))

    def _set_fields(self, fields: Sequence[SetField]) -> Iterator[OperationOutcome]:
        issue = fields[0].item_key
        edits: dict[str, tuple[SetField, Any, str]] = {}  # field id -> (op, value, display)
        for operation in fields:
            try:
                field_id, value, display = self._field_edit(operation)
            except _Unwritable as problem:
                yield OperationOutcome(operation, error=str(problem))
                continue
            edits[field_id] = (operation, value, display)
        while edits:
            values = {field_id: value for field_id, (_, value, _) in edits.items()}
            refused = self.call("write fields", partial(self._put_fields, issue, values))
            if not refused:
                for operation, _, display in edits.values():
                    yield OperationOutcome(operation, remote_id=display)
                return
            # Jira named fields it would not take (another screen, an option gone since
            # editmeta): each is an error, the others are sent again.
            if not refused.keys() & edits.keys():
                detail = "; ".join(f"{k}: {v}" for k, v in refused.items())
                raise FatalError(SOURCE, f"write fields on {issue}: {detail}"[:500])
            for field_id, message in refused.items():
                if field_id in edits:
                    operation = edits.pop(field_id)[0]
                    yield OperationOutcome(
                        operation,
                        error=f"field {operation.name!r} ({field_id}) on {issue}: Jira "
                        f"refused the value: {message}"[:500],
                    )

    def _put_fields(self, issue: str, values: dict[str, Any]) -> dict[str, str]:
        """PUT the fields; {} when done, else the field errors of Jira's 400."""
        response = self._quiet_put(f"issue/{issue}", json.dumps({"fields": values}))
        if response.status_code == 400:
            refused = _field_errors(response)
            if refused:
                return refused
        if response.status_code == 404:
            raise self.target_gone("write fields", issue, 404)
        if not response.ok:
            raise HttpError(response.status_code, response.headers, _error_messages(response))
        return {}

    def _put_property(self, operation: SetProperty) -> None:
        path = f"issue/{operation.item_key}/properties/{operation.key}"
        response = self._response("PUT", path, None, operation.value)
        if response.status_code == 404:
            raise self.target_gone("write property", operation.item_key, 404)
        if not response.ok:
            raise HttpError(response.status_code, response.headers, _error_messages(response))

    def _field_edit(self, operation: SetField) -> tuple[str, Any, str]:
        """(field id, value as Jira takes it, display) of one field operation, or
        `_Unwritable` naming the field: unknown, ambiguous, of a type that cannot hold
        the value, not on the issue's edit screen, or without the option."""
        name = operation.name
        found = self._fields_by_name.get(name.casefold(), [])
        if not found:
            raise _Unwritable(f"no field named {name!r} on this Jira (writeback.jira.fields)")
        if len({str(field["id"]) for field in found}) > 1:
            ids = ", ".join(sorted(str(field["id"]) for field in found))
            raise _Unwritable(f"{len(found)} fields are named {name!r} ({ids}): name one by id")
        field = found[0]
        field_id, kind = str(field["id"]), (field.get("schema") or {}).get("type")
        holds, value = operation.holds, operation.value
        if kind == "option" and holds == "health":
            option = self._option(operation.item_key, field_id, name, str(value))
            return field_id, {"id": str(option["id"])}, str(option.get("value", value))
        if kind == "number" and holds in ("outcome", "delivery"):
            return field_id, value, operation.display
        if kind == "string":
            return field_id, None if value is None else operation.display, operation.display
        shape = {"option": "a select", "number": "a number", None: "an unknown"}.get(
            kind, f"a {kind}"
        )
        raise _Unwritable(
            f"field {name!r} is {shape} field, which cannot hold {holds} "
            "(health: select or text; outcome, delivery: number or text; key_results: text)"
        )

    def _option(self, issue: str, field_id: str, name: str, wanted: str) -> dict[str, Any]:
        """The select option named `wanted` (any case) from the edit metadata: read once
        per project and cycle, and again for this issue when it lacks the field or option."""
        project = issue.rsplit("-", 1)[0]
        read_for, allowed = self._allowed_values.get(project) or self._read_allowed(project, issue)
        option = _named_option(allowed.get(field_id), wanted)
        if option is None and read_for != issue:
            _, allowed = self._read_allowed(project, issue)
            option = _named_option(allowed.get(field_id), wanted)
        if option is not None:
            return option
        options = allowed.get(field_id)
        if options is None:
            raise _Unwritable(f"field {name!r} ({field_id}) is not on the edit screen of {issue}")
        names = ", ".join(str(o.get("value")) for o in options if isinstance(o, dict))
        raise _Unwritable(f"field {name!r} has no option {wanted!r} (it has: {names or 'none'})")

    def _read_allowed(self, project: str, issue: str) -> tuple[str, dict[str, list[Any]]]:
        meta = self.call("read edit metadata", partial(self._editmeta, issue))
        self._allowed_values[project] = (issue, meta)
        return issue, meta

    def _editmeta(self, issue: str) -> dict[str, list[Any]]:
        """Field id -> allowed values (empty for fields without a list) of the edit screen."""
        answer = json_body(SOURCE, "GET editmeta", self._request("GET", f"issue/{issue}/editmeta"))
        fields = answer.get("fields") or {}
        return {
            str(field_id): list(meta.get("allowedValues") or [])
            for field_id, meta in fields.items()
            if isinstance(meta, dict)
        }

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
            api, text = self.comment_body(write.body)
            body = {
                "body": text,
                "properties": [{"key": MARKER_PROPERTY, "value": {"target": write.target}}],
            }
            response = self._request("POST", f"issue/{issue}/comment", body=body, api=api)
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

    # ------------------------------------------------------------------ KR issues

    def apply_kr_issue(self, operations: Sequence[TargetOperation]) -> Iterator[OperationOutcome]:
        """A KR's own issue (`writeback.jira.kr_issues`): found (the stored key, else by
        its `okrsync.kr` property in one search per cycle, see `_kr_index_of`) or created
        once, its summary and description set (`SetKRIssue`, whose outcome keeps the
        key); then its fields in one PUT and its links (`SetKRLinks`), on the key found.
        The cycle holds the `pull:jira` lease meanwhile, so no other okrsync process
        creates the same issue at once."""
        key, created = operations[0].item_key, False
        for operation in operations:
            if isinstance(operation, SetKRIssue):
                key, created = self.call(
                    "write KR issue", partial(self._ensure_kr_issue, operation)
                )
                yield OperationOutcome(operation, remote_id=key)
        rest = [replace(op, item_key=key) for op in operations if not isinstance(op, SetKRIssue)]
        if not key:  # planning gives every later operation the key, or a SetKRIssue before
            for operation in rest:
                yield OperationOutcome(operation, error=f"{operation.target}: no KR issue known")
            return
        fields = [op for op in rest if isinstance(op, SetField)]
        if fields:
            yield from self._set_fields(fields)
        for operation in rest:
            if isinstance(operation, SetKRLinks):
                self.call("link KR issue", partial(self._set_kr_links, operation, created))
                yield OperationOutcome(operation, remote_id=",".join(operation.links))

    def _ensure_kr_issue(self, operation: SetKRIssue) -> tuple[str, bool]:
        """(key, created): the stored key brought up to date, else the oldest issue with
        the KR's property (a newer duplicate is logged and left alone: people may have
        worked on it), else a new issue carrying the property from its first instant."""
        if operation.item_key and self._update_kr_issue(operation.item_key, operation):
            return operation.item_key, False
        index = self._kr_index(operation)
        if operation.item_key:  # gone: never the one found below
            index.pop_key(operation.kr_id, operation.item_key)
        found = index.keys(operation.kr_id)
        if found:
            if len(found) > 1:
                log.warning(
                    "jira.kr_issue_duplicate",
                    kr=operation.kr_id,
                    kept=found[0],
                    duplicates=found[1:],
                    detail="several issues carry this KR's okrsync.kr property: okrsync "
                    "keeps the oldest and leaves the others alone (delete them by hand)",
                )
            if not self._update_kr_issue(found[0], operation):
                index.pop_key(operation.kr_id, found[0])
                raise self.target_gone("write KR issue", found[0], 404)
            return found[0], False
        try:
            key = self._create_kr_issue(operation)
        except BaseException:
            # The create may have happened with its answer lost: the retry searches again.
            self._kr_issues.pop(index.scope, None)
            raise
        index.add(operation.kr_id, key)
        return key, True

    def find_kr_issues(self, kr_id: str, project: str, issue_type: str) -> list[str]:
        """Keys of the issues of `project` and `issue_type` whose `okrsync.kr` property
        names `kr_id`, oldest first (by `created`, then id): see `_kr_index`."""
        return self._kr_index_of(project, issue_type).keys(kr_id)

    def _kr_index(self, operation: SetKRIssue) -> _KRIssueIndex:
        return self._kr_index_of(operation.project, operation.issue_type)

    def _kr_index_of(self, project: str, issue_type: str) -> _KRIssueIndex:
        """This cycle's KR issues of `project` and `issue_type`, searched on first need.

        Not by JQL on the property (`issue.property[okrsync.kr].kr = ...`): Jira searches
        an entity property only when an app declared it for indexing, which an API token
        cannot. One search instead lists every issue of the project and type, asking for
        the property's value (`properties=okrsync.kr`) and `created`; an issue without the
        property (a person's own) is ignored. The index is kept for the cycle (the
        connector lives for one) and completed with the issues created since."""
        scope = (project.upper(), issue_type.casefold())
        index = self._kr_issues.get(scope)
        if index is None:
            search = self.paginator(
                kr_issues_jql(project, issue_type), fields=["created"], properties=[KR_PROPERTY]
            )
            index = self._kr_issues[scope] = _KRIssueIndex.of(scope, search.records())
        return index

    def _create_kr_issue(self, operation: SetKRIssue) -> str:
        """`POST issue` with project, issue type, summary, description and the property."""
        api, description = self.comment_body(operation.description)
        body = {
            "fields": {
                "project": {"key": operation.project},
                "issuetype": {"name": operation.issue_type},
                "summary": operation.summary,
                "description": description,
            },
            "properties": [{"key": KR_PROPERTY, "value": {"kr": operation.kr_id}}],
        }
        response = self._request("POST", "issue", body=body, api=api)
        created = json_body(SOURCE, "POST issue", response)
        if not created.get("key"):
            raise FatalError(SOURCE, "POST issue: the answer names no key")
        log.info("jira.kr_issue_created", kr=operation.kr_id, issue=created["key"])
        return str(created["key"])

    def _update_kr_issue(self, key: str, operation: SetKRIssue) -> bool:
        """Summary and description in one quiet `PUT issue/{key}`; False when it is gone."""
        api, description = self.comment_body(operation.description)
        data = json.dumps({"fields": {"summary": operation.summary, "description": description}})
        response = self._quiet_put(f"issue/{key}", data, api=api)
        if response.status_code == 404:
            return False
        if not response.ok:
            raise HttpError(response.status_code, response.headers, _error_messages(response))
        return True

    def _set_kr_links(self, operation: SetKRLinks, created: bool) -> None:
        """Link the KR issue to each wanted item (`POST issueLink`, the KR issue inward)
        and unlink the items okrsync linked before and no longer wants (`DELETE
        issueLink/{id}`). The issue's links are read once (`GET issue?fields=issuelinks`),
        not at all for an issue created this cycle; only links of `link_type` count."""
        stale = set(operation.previous) - set(operation.links)
        if not operation.links and not stale:
            return
        present = {} if created else self._kr_links(operation.item_key, operation.link_type)
        for key in operation.links:
            if key not in present:
                body = {
                    "type": {"name": operation.link_type},
                    "inwardIssue": {"key": operation.item_key},
                    "outwardIssue": {"key": key},
                }
                self._request("POST", "issueLink", body=body)
        for key in sorted(stale):
            if key in present:
                try:
                    self._request("DELETE", f"issueLink/{present[key]}")
                except HttpError as error:
                    if error.status != 404:  # already gone is what was wanted
                        raise

    def _kr_links(self, issue: str, link_type: str) -> dict[str, str]:
        """The issue's links of `link_type` (any case): other issue's key -> link id."""
        params = {"fields": "issuelinks"}
        answer = json_body(SOURCE, "GET issue", self._request("GET", f"issue/{issue}", params))
        links: dict[str, str] = {}
        for link in (answer.get("fields") or {}).get("issuelinks") or ():
            kind = str((link.get("type") or {}).get("name") or "")
            other = link.get("outwardIssue") or link.get("inwardIssue") or {}
            if kind.casefold() == link_type.casefold() and other.get("key"):
                links[str(other["key"])] = str(link.get("id"))
        return links

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
        api: str | None = None,
    ) -> requests.Response:
        """One REST call the library has no public method for, shaped as the library's own
        (its headers, JSON as text); an error answer raises `HttpError`. `api`: the base
        URL of another API version (v3 for ADF comments), default v2."""
        data = None if body is None else json.dumps(body)
        response = self._response(method, path, params, data, api=api)
        if not response.ok:
            raise HttpError(response.status_code, response.headers, _error_messages(response))
        return response

    def _response(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        data: str | None,
        api: str | None = None,
    ) -> requests.Response:
        """The answer to one such call, whatever its status; `data` is JSON text."""
        import requests

        request = requests.Request(
            method,
            f"{api or self._api}/{path}",
            params=params,
            data=data,
            headers=_HEADERS,
            auth=self._auth,
        )
        return self.send(self.prepare(request))

    # ------------------------------------------------------------------ errors

    def call(self, what: str, action: Callable[[], T]) -> T:
        """`action` retried, with the library's errors (which dump headers) made ours."""
        from jira import JIRAError

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
        import requests

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


@dataclass
class _KRIssueIndex:
    """The KR issues of one (project key, issue type) scope: KR id -> keys, oldest first."""

    scope: tuple[str, str]
    by_kr: dict[str, list[str]]

    @classmethod
    def of(cls, scope: tuple[str, str], issues: Iterable[dict[str, Any]]) -> _KRIssueIndex:
        """From searched issues with `fields.created` and `properties`: those whose
        `okrsync.kr` property names a KR (`{"kr": "<id>"}`), by `created`, then id."""
        found: dict[str, list[tuple[str, int, str]]] = {}
        for raw in issues:
            value = (raw.get("properties") or {}).get(KR_PROPERTY)
            kr_id = value.get("kr") if isinstance(value, dict) else None
            if not raw.get("key") or not isinstance(kr_id, str) or not kr_id:
                continue
            created = str((raw.get("fields") or {}).get("created") or "")
            issue_id = int(raw["id"]) if str(raw.get("id") or "").isdigit() else 0
            found.setdefault(kr_id, []).append((created, issue_id, str(raw["key"])))
        return cls(scope, {kr: [key for *_, key in sorted(keys)] for kr, keys in found.items()})

    def keys(self, kr_id: str) -> list[str]:
        return list(self.by_kr.get(kr_id, ()))

    def add(self, kr_id: str, key: str) -> None:
        """An issue created this cycle: the newest."""
        self.by_kr.setdefault(kr_id, []).append(key)

    def pop_key(self, kr_id: str, key: str) -> None:
        """An issue found gone."""
        keys = self.by_kr.get(kr_id)
        if keys and key in keys:
            keys.remove(key)


def kr_issues_jql(project: str, issue_type: str) -> str:
    """The JQL that lists the candidate KR issues: `project = "OKR" AND issuetype = "Key
    Result" ORDER BY key ASC` (each value quoted, `"` and `\\` escaped)."""
    where = f"project = {_jql_string(project)} AND issuetype = {_jql_string(issue_type)}"
    return f"{where} ORDER BY key ASC"


def _jql_string(value: str) -> str:
    """A JQL string literal: double-quoted, `"` and `\\` escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _named_option(options: list[Any] | None, wanted: str) -> dict[str, Any] | None:
    for option in options or ():
        if (
            isinstance(option, dict)
            and str(option.get("value", "")).casefold() == wanted.casefold()
        ):
            return option
    return None


class _Unwritable(ValueError):
    """A field operation that cannot be sent: its message names the field (and option)."""


def _refuses_quiet_edits(response: requests.Response) -> bool:
    """Whether Jira refused `notifyUsers=false` to this account (it needs admin rights)."""
    if response.status_code == 403:
        return True
    return response.status_code == 400 and "notif" in _error_messages(response).casefold()


def _field_errors(response: requests.Response) -> dict[str, str]:
    """The `errors` of a Jira 400 (field id -> message), or {}."""
    try:
        body = response.json()
    except ValueError:
        return {}
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict):
        return {}
    return {str(k): str(v) for k, v in errors.items()}


def _user_keys(user: Any) -> Identity:
    """A user's identity: `accountId` on Cloud; `key`, else `name`, on Server."""
    if not isinstance(user, dict):
        return frozenset()
    for field in ("accountId", "key", "name"):
        if user.get(field):
            return frozenset({f"{field}:{user[field]}"})
    return frozenset()


def _comment_text(body: Any) -> str:
    """The text of a comment body: wiki markup as it is, or an ADF document's text nodes
    (and the labels of its status nodes) in order."""
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return " ".join(_comment_text(node) for node in body)
    if not isinstance(body, dict):
        return ""
    attrs = body.get("attrs")
    label = attrs.get("text") if isinstance(attrs, dict) and body.get("type") == "status" else None
    own = body.get("text") if isinstance(body.get("text"), str) else label
    inner = _comment_text(body.get("content") or [])
    return f"{own or ''} {inner}".strip()


def _comment_id(comment: Any) -> str:
    if not isinstance(comment, dict) or comment.get("id") is None:
        raise FatalError(SOURCE, "a comment in the answer has no id")
    return str(comment["id"])


def jira_time(text: str) -> datetime:
    """A Jira timestamp ("2026-11-28T10:00:00.000+0000"). `fromisoformat` reads Jira's
    form at a twentieth of `strptime`'s cost (paid for every issue of a pull); a time
    without its UTC offset is refused, as `strptime`'s `%z` refused it."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"a time without its UTC offset: {text!r}")
    return moment


def _server_time(info: dict[str, Any]) -> datetime | None:
    text = info.get("serverTime")
    try:
        return jira_time(text) if isinstance(text, str) else None
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
