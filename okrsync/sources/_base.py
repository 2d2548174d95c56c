"""What every connector takes and gives: pull results, planned writes, write outcomes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol, runtime_checkable

from okrsync.config import WritebackValue
from okrsync.domain import WorkItem


@dataclass
class PullResult:
    """Items seen by one pull and the bookmark to save once they are stored.

    `etags`: page URL -> ETag of the list pages this pull read in full, to be saved (with
    the items, never before them) and sent as `If-None-Match` by the next pull."""

    source: str
    items: list[WorkItem]
    bookmark_ms: int | None
    full: bool
    requests: int = 0
    etags: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------- write-back operations
#
# A plan is a list of typed operations, each on one target (`jira:ONB-12`) and each with
# an operation key (`comment`, `field:OKR Health`, `property:okrsync.status`, `labels`)
# and the hash of its value. Planning keeps only the operations whose hash differs from
# the store's record for (target, operation key); the record of each is saved right after
# it succeeded. Records live in the `writebacks` table under `record_key`: the comment's
# under the plain target (as before typed operations), the others under
# "<target>#<operation key>".


@dataclass(frozen=True)
class SetComment:
    """The one managed comment of a target, brought up to date (edited, adopted or posted)."""

    target: str
    source: str
    item_key: str
    body: str
    content_hash: str
    known_remote_id: str | None

    @property
    def op_key(self) -> str:
        return "comment"

    @property
    def record_key(self) -> str:
        return self.target


# The name every connector's `apply` and older callers know the comment operation by.
PlannedWrite = SetComment


@dataclass(frozen=True)
class SetField:
    """One field of a target set to a value okrsync computed.

    `name` is the field as configured (Jira: as Jira shows it, resolved to an id by the
    connector); `holds` says what it carries; `value` is that value before the system's
    shape: the health word ("At risk"), a percent 0-100 rounded to 1 decimal (None: no
    data, the field is cleared), or comma-separated KR ids. `display` is how a person
    reads it; `previous` the display of the value okrsync last wrote (None: never).
    """

    target: str
    source: str
    item_key: str
    name: str
    holds: WritebackValue
    value: str | float | None
    display: str
    content_hash: str
    previous: str | None = None

    @property
    def op_key(self) -> str:
        return f"field:{self.name}"

    @property
    def record_key(self) -> str:
        return record_key(self.target, self.op_key)


@dataclass(frozen=True)
class SetProperty:
    """An entity property of a target (Jira: `okrsync.status`), `value` as JSON text.
    `content_hash` leaves out what changes without news (the `as_of` instant)."""

    target: str
    source: str
    item_key: str
    key: str
    value: str
    content_hash: str
    written_before: bool = False

    @property
    def op_key(self) -> str:
        return f"property:{self.key}"

    @property
    def record_key(self) -> str:
        return record_key(self.target, self.op_key)


# The labels okrsync owns on GitHub issues: `okr-health:` and the health, dashed.
HEALTH_LABEL_PREFIX = "okr-health:"


@dataclass(frozen=True)
class SetLabels:
    """Labels okrsync owns on a target (GitHub `okr-health:*`): `labels` are set, `remove`
    (others of okrsync's labels the target carries) taken off; `present` are okrsync's
    labels the target carried when pulled (those of `labels` need not be added again).
    Any other label of the target is never touched."""

    target: str
    source: str
    item_key: str
    labels: tuple[str, ...]
    remove: tuple[str, ...]
    content_hash: str
    present: tuple[str, ...] = ()

    @property
    def op_key(self) -> str:
        return "labels"

    @property
    def record_key(self) -> str:
        return record_key(self.target, self.op_key)


# The note a retired target's comment becomes (`writeback.unmapped: note`).
UNLINKED_NOTE = "okrsync: this item is no longer linked to any key result."
# The content hash of a record whose target okrsync retired: it matches no planned
# value, so a target that maps to a KR again is written afresh.
RETIRED = "retired"


@dataclass(frozen=True)
class RetireTarget:
    """Take okrsync's writes off a target that no longer maps to any KR: its managed
    comment (`comment_id`, None: none known) replaced by `UNLINKED_NOTE` (`mode` "note")
    or deleted ("delete"), the `fields` (names as configured) cleared in one request, the
    `labels` taken off and the `properties` deleted. `records` are the store's record keys
    of the target, marked retired once it is done (so the next cycle plans nothing)."""

    target: str
    source: str
    item_key: str
    mode: Literal["note", "delete"]
    comment_id: str | None
    fields: tuple[str, ...] = ()
    properties: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    records: tuple[str, ...] = ()
    content_hash: str = RETIRED

    @property
    def op_key(self) -> str:
        return "retire"

    @property
    def record_key(self) -> str:
        return self.target


# The target of a KR's own issue (Jira `writeback.jira.kr_issues`): `kr:<KR id>`, its
# record keeping the issue's key.
KR_TARGET_PREFIX = "kr:"


@dataclass(frozen=True)
class SetKRIssue:
    """The one Jira issue that stands for a KR (`writeback.jira.kr_issues`): found by its
    `okrsync.kr` property or created once, its summary and description brought up to date.

    `item_key` is its key when the store knows it ("" when not: the connector lists the KR
    project's issues of that type with their `okrsync.kr` property, then creates).
    `description` is planned like a comment body: the wiki markup, then `ADF_SEPARATOR`
    and the ADF document (none with `format: wiki`). The
    record (under `target`, `kr:<KR id>`) keeps the key in `remote_id`; its hash covers
    summary, description, project and issue type. The KR's fields are `SetField`s and
    its links a `SetKRLinks` on the same target, applied after it (the connector hands
    them the key it found)."""

    target: str
    source: str
    item_key: str
    kr_id: str
    project: str
    issue_type: str
    summary: str
    description: str
    content_hash: str

    @property
    def op_key(self) -> str:
        return "issue"

    @property
    def record_key(self) -> str:
        return self.target


@dataclass(frozen=True)
class SetKRLinks:
    """The issue links (of type `link_type`) from a KR's issue to its mapped Jira items
    (`links`, keys). `previous` are the keys okrsync linked last time (its record): those
    no longer wanted are unlinked; links anyone else made are never touched."""

    target: str
    source: str
    item_key: str
    kr_id: str
    link_type: str
    links: tuple[str, ...]
    content_hash: str
    previous: tuple[str, ...] = ()

    @property
    def op_key(self) -> str:
        return "links"

    @property
    def record_key(self) -> str:
        return record_key(self.target, self.op_key)


Operation = SetComment | SetField | SetProperty | SetLabels | RetireTarget | SetKRIssue | SetKRLinks
# Everything but the comment: what `WritesOperations.apply_operations` takes.
TargetOperation = SetField | SetProperty | SetLabels | RetireTarget | SetKRIssue | SetKRLinks


def record_key(target: str, op_key: str) -> str:
    """Where the store keeps the last write of one operation: the comment under the plain
    target (stores from before typed operations keep working), others `target#op`."""
    return target if op_key == "comment" else f"{target}#{op_key}"


@dataclass(frozen=True)
class WriteOutcome:
    target: str
    content_hash: str
    remote_id: str
    action: str  # "created" | "edited"


@dataclass(frozen=True)
class OperationOutcome:
    """One non-comment operation done (`error` None; `remote_id` is what its record keeps:
    a field's display text) or refused on its own (`error` names the field or option)."""

    operation: TargetOperation
    remote_id: str = ""
    error: str | None = None


@runtime_checkable
class WritesOperations(Protocol):
    """A connector that writes more than comments (Jira: fields and the issue property)."""

    def apply_operations(self, operations: Sequence[TargetOperation]) -> Iterator[OperationOutcome]:
        """Apply the operations of ONE target, yielding each outcome as soon as the request
        that did it succeeded (so its record is saved before the next request): a missing
        field or option is an outcome with an error, the others still applied. A failure
        of the system itself raises `SourceError`."""
        ...


# What a managed comment read back holds, compared with what okrsync last wrote.
CommentState = Literal["same", "edited", "deleted"]


@runtime_checkable
class ReadsComments(Protocol):
    """A connector that reads a managed comment back (reconciliation)."""

    def check_comment(self, item_key: str, comment_id: str, body: str) -> CommentState:
        """With ONE request, whether comment `comment_id` of the item still holds `body`
        (the planned body, compared in a form the system's normalisation keeps: its text),
        was edited, or is gone."""
        ...


def text_fingerprint(text: str) -> str:
    """The letters and digits of `text`, in order: what any system's normalisation of a
    comment keeps (markup, escapes, spacing and line ends may change on the way back), and
    what a person's edit of the words or numbers changes."""
    return "".join(character for character in text if character.isalnum())


@dataclass
class RequestCounter:
    """Counts HTTP requests a connector made, by method and status, for logs and benchmarks."""

    by_status: Counter[tuple[str, int]] = field(default_factory=Counter)
    waits: list[float] = field(default_factory=list)  # seconds slept before each retry

    def record(self, method: str, status: int) -> None:
        self.by_status[(method.upper(), status)] += 1

    def record_wait(self, seconds: float) -> None:
        self.waits.append(seconds)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def writes(self) -> int:
        return sum(n for (method, _), n in self.by_status.items() if method != "GET")


@runtime_checkable
class ConditionalSource(Protocol):
    """A source that asks for list pages conditionally (`If-None-Match`): before its pull
    it is handed the ETags the store holds for it, by page URL; after its children are
    looked up, `children_etags` holds the ETags of the child pages it read whole."""

    children_etags: dict[str, str]

    def use_etags(self, etags: Mapping[str, str]) -> None: ...


@runtime_checkable
class StreamingSource(Protocol):
    """A source whose pull can hand its items over as it reads them (`Connector.stream_to`)."""

    def stream_to(self, sink: Callable[[list[WorkItem]], None] | None) -> None: ...


class Source(Protocol):
    name: str
    requests: RequestCounter

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult: ...

    def children(
        self, parents: Sequence[WorkItem], known: Mapping[str, Sequence[WorkItem]]
    ) -> list[WorkItem]:
        """Children the listing cannot show (Asana subtasks, GitHub sub-issues in other
        repositories), looked up only for the mapped `parents` that need it. `known` holds
        the children already stored, by parent key."""
        ...

    def apply(self, write: PlannedWrite) -> WriteOutcome: ...

    def labels_in_use(self) -> set[str]:
        """The labels (Asana: tags) in use in the configured scope, read as cheaply as the
        API allows and counted in `requests`: what `okrsync validate --check-labels`
        classifies before anything is pulled or written."""
        ...

    def close(self) -> None: ...


def finished_pull(
    source: str,
    seen: Mapping[str, WorkItem],
    bookmark_ms: int | None,
    started_at: datetime,
    server_started: datetime | None,
    requests: int,
    etags: Mapping[str, str] | None = None,
) -> PullResult:
    """The result of a pull that read every page: its items, the next bookmark, and the
    ETags of the pages read (saved with the items)."""
    newest = max((epoch_ms(item.updated) for item in seen.values()), default=None)
    server_ms = None if server_started is None else epoch_ms(server_started)
    return PullResult(
        source=source,
        items=list(seen.values()),
        bookmark_ms=next_bookmark(bookmark_ms, newest, epoch_ms(started_at), server_ms),
        full=bookmark_ms is None,
        requests=requests,
        etags=dict(etags or {}),
    )


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def utc_from_epoch_ms(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def write_managed_comment(
    write: PlannedWrite,
    edit: Callable[[str], bool],
    adopt_or_create: Callable[[], tuple[str, str]],
) -> WriteOutcome:
    """Bring a target's one managed comment up to date, never posting a second one.

    `edit(comment_id)` edits the comment the store knows and answers False when someone
    deleted it; `adopt_or_create()` finds the comment by its marker (edits it) or posts
    it, answering (id, "edited" | "created"). Each connector passes them wrapped in its
    retries: the marker search sits inside the retried call, so a POST that timed out but
    landed is adopted on the retry rather than posted twice.

    Adoption looks only at comments the okrsync account wrote, and merges two or more of
    them into the oldest (the newer are deleted). When the stored id edits fine, no list is
    read: duplicates an older okrsync may have left beside a known comment stay until the
    record is lost (a listing per write would cost one GET per target on every change).
    """
    known = write.known_remote_id
    if known is not None and edit(known):
        return WriteOutcome(write.target, write.content_hash, known, "edited")
    comment_id, action = adopt_or_create()
    return WriteOutcome(write.target, write.content_hash, comment_id, action)


def next_bookmark(
    previous_ms: int | None,
    newest_seen_ms: int | None,
    local_started_ms: int,
    server_started_ms: int | None = None,
) -> int:
    """Where the next incremental pull starts, once this one has finished.

    With the server's clock at the start of the pull, that instant is the bookmark:
    everything updated before it was searchable, and it never depends on our clock
    agreeing with theirs. Without it, the newest update seen, capped by our own start
    time. Either way the overlap subtracted on the next pull covers index lag, upserts
    by key de-duplicate, and the bookmark never moves backwards.

    An incremental pull that saw nothing newer than its bookmark keeps it: the next pull
    then asks the very same question (the same `since`, the same URL), which a server can
    answer "not modified" from the ETag it gave last time, at no cost. Starting earlier than
    needed is always safe; only moving forward needs something seen.
    """
    if previous_ms is not None and (newest_seen_ms is None or newest_seen_ms <= previous_ms):
        return previous_ms
    if server_started_ms is not None:
        candidate = server_started_ms
    else:
        seen = newest_seen_ms if newest_seen_ms is not None else previous_ms
        candidate = min(seen if seen is not None else local_started_ms, local_started_ms)
    return candidate if previous_ms is None else max(candidate, previous_ms)
