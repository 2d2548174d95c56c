"""Asana: pull a project's tasks incrementally, fetch subtasks, keep one managed comment each.

Plain `requests` behind one seam, `send`: everything else builds requests and reads
responses, so tests and benchmarks see every request and its status. Pages of 100 follow
`next_page.offset`; Asana's offsets expire "as data may have changed", and an expired
one restarts that walk from the first page once.

Adoption: a comment is okrsync's when its `html_text` has the marker link okrsync writes
(`MARKER_LINK`: the marker address with the text "okrsync", whatever attributes Asana adds)
and its `created_by.gid` is the API user's (`GET /users/me`, asked once per cycle and only
when such a comment turns up). Someone else's is left alone: Asana answers 403 to editing it.

Custom fields (`writeback.asana.fields`): found by name in the configured projects' custom
field settings, read once per cycle by the first field write; every field of a task goes
in one `PUT /tasks/{gid}` (see `apply_operations`).
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from okrsync.config import read_secret
from okrsync.domain import Bucket, WorkItem
from okrsync.logs import get_logger
from okrsync.sources._base import (
    UNLINKED_NOTE,
    CommentState,
    OperationOutcome,
    PlannedWrite,
    PullResult,
    RetireTarget,
    SetField,
    TargetOperation,
    WriteOutcome,
    text_fingerprint,
    utc_from_epoch_ms,
    write_managed_comment,
)
from okrsync.sources._core import Clock, Connector, Identity, Send, Sleep, json_body, since_ms
from okrsync.sources._errors import FatalError
from okrsync.sources._headers import server_date

# The settings, in their own module for the config (which never loads this one).
from okrsync.sources.asana_config import (
    AsanaSourceConfig as AsanaSourceConfig,
)
from okrsync.sources.asana_config import (
    AsanaWritebackConfig as AsanaWritebackConfig,
)

if TYPE_CHECKING:  # requests loads with the first request, not with the config model
    import requests

log = get_logger(__name__)

SOURCE = "asana"
# A link to a `.invalid` address (which never resolves): the marker of the managed comment.
MARKER_URL = "https://okrsync.invalid/managed"
MARKER_LINK = f'<a href="{MARKER_URL}">okrsync</a>'
# The marker link as Asana keeps it: it may add attributes to the tag, never change the text.
_MARKER_LINK = re.compile(r'<a\s(?:[^>]*\s)?href="' + re.escape(MARKER_URL) + r'"[^>]*>okrsync</a>')
PAGE_SIZE = 100
_TASK_FIELDS = (
    "name",
    "completed",
    "modified_at",
    "tags.name",
    "parent",  # the compact parent: its gid is in it (`parent.gid` is not a listed field)
    "num_subtasks",
    "permalink_url",
    "resource_subtype",
)
_POINTS_FIELDS = ("custom_fields.name", "custom_fields.number_value")
STORY_FIELDS = "created_by,html_text,resource_subtype,type"
# What write-back reads of a project's custom field settings (the gids come regardless).
CUSTOM_FIELD_SETTING_FIELDS = ",".join(
    (
        "custom_field.enum_options.enabled",
        "custom_field.enum_options.name",
        "custom_field.name",
        "custom_field.resource_subtype",
        "custom_field.type",
    )
)
# Task kinds worth telling apart; default_task (and anything new) reads as a plain task.
_TASK_TYPES = {"milestone": "milestone", "approval": "approval"}
# How Asana words a 400 for an offset that is too old: it names the offset or the token.
_EXPIRED_OFFSET = re.compile(r"offset|pagination token", re.IGNORECASE)


class OffsetExpired(FatalError):
    """A 400 for the `offset` we sent: fatal for that request, but the walk can restart."""


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    next_offset: str | None
    server_date: datetime | None  # the HTTP `Date`: the server's clock when it answered


PageFetch = Callable[[str, Mapping[str, str]], Page]


class OffsetPaginator:
    """Follows `next_page.offset` until there is none; yields each record (by gid) once."""

    def __init__(self, fetch: PageFetch):
        self._fetch = fetch
        self.first_date: datetime | None = None

    def records(self, path: str, params: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        offset: str | None = None
        restarted = False
        while True:
            query = dict(params) if offset is None else {**params, "offset": offset}
            try:
                page = self._fetch(path, query)
            except OffsetExpired:
                if restarted:
                    raise
                # Once only: an offset that expires again means pages take too long to read.
                restarted, offset = True, None
                log.warning("asana.offset_expired", path=path, restart="first page")
                continue
            if self.first_date is None:
                self.first_date = page.server_date
            for record in page.records:
                gid = str(record.get("gid"))
                if gid not in seen:  # the restarted walk repeats what was already yielded
                    seen.add(gid)
                    yield record
            offset = page.next_offset
            if not offset:
                return


class AsanaSource(Connector):
    """An Asana connection for one sync cycle: pages of 100, comments edited in place."""

    name = SOURCE

    def __init__(
        self,
        config: AsanaSourceConfig,
        token: str,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
        attempts: int = 5,
        session: requests.Session | None = None,
        transport: Send | None = None,
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
        # On each request rather than the session: a session passed in may be shared.
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        fields = _TASK_FIELDS + (_POINTS_FIELDS if config.points_field else ())
        self.opt_fields = ",".join(sorted(fields))
        self._points_field = (config.points_field or "").strip().casefold()
        # The projects' custom fields by name, read by the first field write of the cycle.
        self._fields_by_name: dict[str, dict[str, Any]] | None = None

    # ------------------------------------------------------------------ pull

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        since = since_ms(bookmark_ms, self.config.overlap)
        paginators: list[OffsetPaginator] = []

        def tasks(project: str) -> Iterator[dict[str, Any]]:
            paginator = OffsetPaginator(self._get_page)
            paginators.append(paginator)
            return paginator.records("/tasks", self.tasks_query(project, since))

        def server_started() -> datetime | None:
            # The first answer's Date is the server's clock at the start of the pull.
            dates = (paginator.first_date for paginator in paginators)
            return next((date for date in dates if date is not None), None)

        scopes = (tasks(project) for project in self.config.projects)
        return self.pulled(scopes, self.work_item, bookmark_ms, since, started_at, server_started)

    def tasks_query(self, project: str, since_ms: int | None) -> dict[str, str]:
        query = {"project": project, "opt_fields": self.opt_fields, "limit": str(PAGE_SIZE)}
        if since_ms is not None:
            query["modified_since"] = _iso_utc(since_ms)
        return query

    def work_item(self, raw: dict[str, Any], parent: str | None = None) -> WorkItem:
        gid = str(raw["gid"])
        completed = bool(raw.get("completed"))
        num_subtasks = raw.get("num_subtasks")
        return WorkItem(
            source=SOURCE,
            key=gid,
            title=raw.get("name") or "",
            type=_TASK_TYPES.get(raw.get("resource_subtype") or "", "task"),
            status="completed" if completed else "incomplete",
            bucket=Bucket.DONE if completed else Bucket.TODO,
            points=self._points(raw),
            labels=tuple(tag["name"] for tag in raw.get("tags") or [] if tag.get("name")),
            parent=parent or (raw.get("parent") or {}).get("gid"),
            updated=_utc(raw["modified_at"]),
            url=raw.get("permalink_url") or "",
            remote_id=gid,
            child_count=num_subtasks if isinstance(num_subtasks, int) else None,
        )

    def _points(self, raw: dict[str, Any]) -> float | None:
        if not self._points_field:
            return None  # and `custom_fields` is neither asked for nor read
        for field in raw.get("custom_fields") or []:
            if (field.get("name") or "").strip().casefold() == self._points_field:
                value = field.get("number_value")
                return float(value) if isinstance(value, int | float) else None
        return None

    def children(
        self, parents: Sequence[WorkItem], known: Mapping[str, Sequence[WorkItem]]
    ) -> list[WorkItem]:
        """Subtasks of every parent that has any, fetched every cycle.

        `known` cannot save a request here: subtasks are never in the project listing, and
        `modified_since` does not see a subtask change, so what is stored may be stale.
        """
        found: list[WorkItem] = []
        for parent in parents:
            if not parent.child_count:
                continue
            query = {"opt_fields": self.opt_fields, "limit": str(PAGE_SIZE)}
            records = OffsetPaginator(self._get_page).records(
                f"/tasks/{parent.key}/subtasks", query
            )
            child = partial(self.work_item, parent=parent.key)
            found += [self.read_record(child, raw) for raw in records]
        return found

    def labels_in_use(self) -> set[str]:
        """The tags on the tasks of each configured project: the project's task listing
        asking for `tags.name` only, one request per 100 tasks. (Asana's tag listings are
        workspace-wide, not by project; subtasks, never in a project's listing, are not
        read.)"""
        found: set[str] = set()
        for project in self.config.projects:
            query = {"project": project, "opt_fields": "tags.name", "limit": str(PAGE_SIZE)}
            for raw in OffsetPaginator(self._get_page).records("/tasks", query):
                tags = raw.get("tags") or ()
                found.update(
                    tag["name"]
                    for tag in tags
                    if isinstance(tag, dict) and isinstance(tag.get("name"), str)
                )
        return found

    # ------------------------------------------------------------------ write-back

    def apply(self, write: PlannedWrite) -> WriteOutcome:
        """Bring the one managed comment (a story) of a task up to date."""
        body = _with_marker(write.body)
        return write_managed_comment(
            write,
            lambda known: self.retried(lambda: self._edit(known, body)),
            lambda: self.retried(lambda: self._adopt_or_create(write, body)),
        )

    def _edit(self, story_id: str, body: str) -> bool:
        """PUT the new text; False when someone deleted the comment meanwhile."""
        try:
            self._request("PUT", f"/stories/{story_id}", body={"data": {"html_text": body}})
        except FatalError as error:
            if error.status == 404:
                return False
            raise
        return True

    def _delete(self, story_id: str) -> None:
        try:
            self._request("DELETE", f"/stories/{story_id}")
        except FatalError as error:
            if error.status != 404:  # already gone is what was wanted
                raise

    def _adopt_or_create(self, write: PlannedWrite, body: str) -> tuple[str, str]:
        """Edit the oldest managed comment the API user wrote (deleting any newer ones), or
        post one; someone else's comment with the marker link is left alone."""
        task_gid = write.item_key
        query = {"opt_fields": STORY_FIELDS, "limit": str(PAGE_SIZE)}
        try:
            stories = OffsetPaginator(self._page).records(f"/tasks/{task_gid}/stories", query)
            marked = [(_story_gid(s), _author(s)) for s in stories if _is_managed(s)]
            ours = self.ours(write.target, marked)
            for index, story_gid in enumerate(ours):
                if self._edit(story_gid, body):
                    newer = ours[index + 1 :]
                    self.drop_duplicates(write.target, story_gid, newer, self._delete)
                    return story_gid, "edited"
            response = self._request(
                "POST", f"/tasks/{task_gid}/stories", body={"data": {"html_text": body}}
            )
        except FatalError as error:
            if error.status == 404 and not isinstance(error, OffsetExpired):
                raise self.target_gone("write comment", task_gid, 404) from None
            raise
        created = json_body(SOURCE, f"POST /tasks/{task_gid}/stories", response).get("data")
        return _story_gid(created), "created"

    # ------------------------------------------------------------------ custom fields

    def apply_operations(self, operations: Sequence[TargetOperation]) -> Iterator[OperationOutcome]:
        """One task's custom fields in ONE `PUT /tasks/{gid}` (see `WritesOperations`): each
        field found by name (any case) among the configured projects' custom field
        settings, read once per cycle; an enum's option by name (any case). A field or
        option missing is an outcome naming it, the other fields still written."""
        edits: dict[str, tuple[SetField, Any, str]] = {}  # field gid -> (op, value, display)
        for operation in operations:
            if isinstance(operation, RetireTarget):
                yield self._retire(operation)
                continue
            if not isinstance(operation, SetField):
                yield OperationOutcome(
                    operation, error=f"okrsync writes no {operation.op_key} to Asana"
                )
                continue
            try:
                field_gid, value, display = self._field_edit(operation)
            except _Unwritable as problem:
                yield OperationOutcome(operation, error=str(problem))
                continue
            edits[field_gid] = (operation, value, display)
        if not edits:
            return
        task = next(iter(edits.values()))[0].item_key
        values = {field_gid: value for field_gid, (_, value, _) in edits.items()}
        refused = self.retried(partial(self._put_custom_fields, task, values))
        for operation, _, display in edits.values():
            if refused:
                yield OperationOutcome(
                    operation,
                    error=f"field {operation.name!r} on task {task}: Asana refused the "
                    f"values: {refused}"[:500],
                )
            else:
                yield OperationOutcome(operation, remote_id=display)

    # ------------------------------------------------------------------ reconcile, retire

    def check_comment(self, item_key: str, comment_id: str, body: str) -> CommentState:
        """One `GET /stories/{gid}` (its `html_text`), compared by the text it holds: Asana
        may rewrite the markup (attributes, entities), never the words."""
        return self.retried(partial(self._check_comment, comment_id, body))

    def _check_comment(self, story_id: str, body: str) -> CommentState:
        try:
            response = self._request("GET", f"/stories/{story_id}", {"opt_fields": "html_text"})
        except FatalError as error:
            if error.status == 404:
                return "deleted"
            raise
        story = json_body(SOURCE, "GET /stories", response).get("data")
        found = story.get("html_text") if isinstance(story, dict) else None
        same = _rich_fingerprint(str(found or "")) == _rich_fingerprint(_with_marker(body))
        return "same" if same else "edited"

    def _retire(self, operation: RetireTarget) -> OperationOutcome:
        """The managed comment made the one-line note (marker link kept) or deleted, and
        the fields nulled in ONE `PUT /tasks/{gid}` (Asana has no labels or properties
        okrsync writes)."""
        task, story_id, note_id = operation.item_key, operation.comment_id, ""
        if story_id is not None and operation.mode == "note":
            note = _with_marker(f"<body>{UNLINKED_NOTE}</body>")
            if self.retried(partial(self._edit, story_id, note)):
                note_id = story_id
        elif story_id is not None:
            self.retried(partial(self._delete, story_id))
        if operation.fields:
            known = self._custom_fields()
            cleared: dict[str, Any] = {
                str(field["gid"]): None
                for name in operation.fields
                if (field := known.get(name.strip().casefold())) is not None
            }
            refused = self.retried(partial(self._put_custom_fields, task, cleared))
            if refused:
                return OperationOutcome(
                    operation, remote_id=note_id, error=f"clear fields on task {task}: {refused}"
                )
        return OperationOutcome(operation, remote_id=note_id)

    def _put_custom_fields(self, task: str, values: dict[str, Any]) -> str:
        """PUT the values; "" when done, else the message of Asana's 400 (it takes all of
        them or none)."""
        body = {"data": {"custom_fields": values}}
        try:
            self._request("PUT", f"/tasks/{task}", {"opt_fields": "modified_at"}, body=body)
        except FatalError as error:
            if error.status == 404:
                raise self.target_gone("write fields", task, 404) from None
            if error.status == 400:
                return str(error)
            raise
        return ""

    def _field_edit(self, operation: SetField) -> tuple[str, Any, str]:
        """(field gid, value as Asana takes it, display), or `_Unwritable` naming the field:
        unknown, of a type that cannot hold the value, or without the option."""
        name, holds, value = operation.name, operation.holds, operation.value
        field = self._custom_fields().get(name.strip().casefold())
        if field is None:
            projects = ", ".join(self.config.projects)
            raise _Unwritable(
                f"no custom field named {name!r} in Asana project(s) {projects} "
                "(writeback.asana.fields)"
            )
        field_gid = str(field["gid"])
        kind = field.get("resource_subtype") or field.get("type")
        if kind == "enum" and holds == "health":
            option = _named_option(field.get("enum_options"), str(value))
            if option is None:
                names = ", ".join(
                    str(o.get("name"))
                    for o in field.get("enum_options") or []
                    if o.get("enabled", True)
                )
                raise _Unwritable(
                    f"custom field {name!r} has no option {value!r} (it has: {names or 'none'})"
                )
            return field_gid, str(option["gid"]), str(option.get("name", value))
        if kind == "number" and holds in ("outcome", "delivery"):
            return field_gid, value, operation.display
        if kind == "text":
            return field_gid, None if value is None else operation.display, operation.display
        raise _Unwritable(
            f"custom field {name!r} is of type {kind}, which cannot hold {holds} "
            "(health: enum or text; outcome, delivery: number or text; key_results: text)"
        )

    def _custom_fields(self) -> dict[str, dict[str, Any]]:
        """The custom fields of the configured projects by name (case-folded), read once
        per cycle from each project's custom field settings."""
        if self._fields_by_name is None:
            found: dict[str, dict[str, Any]] = {}
            query = {"opt_fields": CUSTOM_FIELD_SETTING_FIELDS, "limit": str(PAGE_SIZE)}
            for project in self.config.projects:
                path = f"/projects/{project}/custom_field_settings"
                for setting in OffsetPaginator(self._get_page).records(path, query):
                    field = setting.get("custom_field")
                    if isinstance(field, dict) and field.get("gid") and field.get("name"):
                        found.setdefault(str(field["name"]).strip().casefold(), field)
            self._fields_by_name = found
        return self._fields_by_name

    def who_am_i(self) -> Identity:
        response = self._request("GET", "/users/me", {"opt_fields": "name"})
        me = json_body(SOURCE, "GET /users/me", response).get("data")
        gid = me.get("gid") if isinstance(me, dict) else None
        if not gid:
            raise FatalError(SOURCE, "GET /users/me: the answer names no user")
        return frozenset({f"gid:{gid}"})

    # ------------------------------------------------------------------ transport

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> requests.Response:
        """One request, checked: our errors come out, never the library's (they show headers)."""
        import requests

        what = f"{method} {path}"
        request = requests.Request(
            method, self.config.url + path, params=params, json=body, headers=self._headers
        )
        with self.translating(what):
            response = self.send(self.prepare(request))
        status = response.status_code
        if status >= 400:
            detail = _error_messages(response)
            offset_sent = "offset" in (params or {})
            if status == 400 and offset_sent and _EXPIRED_OFFSET.search(detail):
                raise OffsetExpired(SOURCE, f"{what}: HTTP {status}: {detail}", status)
            raise self.error(what, status, response.headers, detail)
        return response

    def _page(self, path: str, params: Mapping[str, str]) -> Page:
        response = self._request("GET", path, params)
        body = json_body(SOURCE, f"GET {path}", response)
        return Page(
            records=list(body.get("data") or []),
            next_offset=(body.get("next_page") or {}).get("offset"),
            server_date=server_date(response.headers),
        )

    def _get_page(self, path: str, params: Mapping[str, str]) -> Page:
        """One page, retried on its own: a retry never re-reads the pages before it."""
        return self.retried(lambda: self._page(path, params))


class _Unwritable(ValueError):
    """A field operation that cannot be sent: the message names the field or option."""


def _named_option(options: Any, wanted: str) -> dict[str, Any] | None:
    """The enabled enum option named `wanted`, any case."""
    key = wanted.strip().casefold()
    for option in options or []:
        if (
            isinstance(option, dict)
            and option.get("gid")
            and option.get("enabled", True)
            and str(option.get("name", "")).strip().casefold() == key
        ):
            return option
    return None


def _with_marker(body: str) -> str:
    """The body with the marker link before its last `</body>`, whatever the body already
    holds (a KR title may quote the marker address): Asana strips HTML comments, but a link
    survives its sanitising, and it is how the comment is found again."""
    if "</body>" not in body:
        return f"<body>{body}\n{MARKER_LINK}</body>"
    head, _, tail = body.rpartition("</body>")
    return f"{head}\n{MARKER_LINK}</body>{tail}"


def _rich_fingerprint(html_text: str) -> str:
    """The letters and digits of rich text's content (tags left out, entities read)."""
    return text_fingerprint(html.unescape(re.sub(r"<[^>]*>", " ", html_text)))


def _is_managed(story: Mapping[str, Any]) -> bool:
    """A comment holding the marker link okrsync writes (not the address alone, which
    anyone may quote or Asana may link)."""
    is_comment = story.get("type") == "comment" or story.get("resource_subtype") == "comment_added"
    return is_comment and _MARKER_LINK.search(story.get("html_text") or "") is not None


def _author(story: Mapping[str, Any]) -> Identity:
    created_by = story.get("created_by")
    gid = created_by.get("gid") if isinstance(created_by, dict) else None
    return frozenset({f"gid:{gid}"}) if gid else frozenset()


def _story_gid(story: Any) -> str:
    if not isinstance(story, dict) or not story.get("gid"):
        raise FatalError(SOURCE, "a story in the answer has no gid")
    return str(story["gid"])


def _iso_utc(epoch_milliseconds: int) -> str:
    moment = utc_from_epoch_ms(epoch_milliseconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _error_messages(response: requests.Response) -> str:
    """Asana's `errors[].message`, joined; nothing else of the answer (no headers)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    messages = [e.get("message") for e in errors or [] if isinstance(e, dict)]
    return "; ".join(str(m) for m in messages if m)[:500]


def connect(config: AsanaSourceConfig, environ: Mapping[str, str]) -> AsanaSource:
    """A connection with the personal access token from `environ`."""
    return AsanaSource(config, token=read_secret(config.token(), environ))
