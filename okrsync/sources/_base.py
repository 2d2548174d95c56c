"""What every connector takes and gives: pull results, planned writes, write outcomes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from okrsync.domain import WorkItem


@dataclass
class PullResult:
    """Items seen by one pull and the bookmark to save once they are stored."""

    source: str
    items: list[WorkItem]
    bookmark_ms: int | None
    full: bool
    requests: int = 0


@dataclass(frozen=True)
class PlannedWrite:
    """One managed comment (and fields) to bring up to date on one target item."""

    target: str
    source: str
    item_key: str
    body: str
    content_hash: str
    known_remote_id: str | None


@dataclass(frozen=True)
class WriteOutcome:
    target: str
    content_hash: str
    remote_id: str
    action: str  # "created" | "edited"


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
) -> PullResult:
    """The result of a pull that read every page: its items and the next bookmark."""
    newest = max((epoch_ms(item.updated) for item in seen.values()), default=None)
    server_ms = None if server_started is None else epoch_ms(server_started)
    return PullResult(
        source=source,
        items=list(seen.values()),
        bookmark_ms=next_bookmark(bookmark_ms, newest, epoch_ms(started_at), server_ms),
        full=bookmark_ms is None,
        requests=requests,
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
    """
    if server_started_ms is not None:
        candidate = server_started_ms
    else:
        seen = newest_seen_ms if newest_seen_ms is not None else previous_ms
        candidate = min(seen if seen is not None else local_started_ms, local_started_ms)
    return candidate if previous_ms is None else max(candidate, previous_ms)
