"""What the store's two paths to the database share (the stdlib `sqlite3` one, `_sqlite`,
and the SQLAlchemy Core one, `_core`): column lists, chunking, and turning raw values
into the store's answers, so each is written once."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from okrsync.domain.mapping import ScopeItem
from okrsync.domain.models import Bucket, KRSnapshot, WorkItem

# Keys per `IN (...)` query: two bound parameters each, far below SQLite's 32,766 and
# PostgreSQL's 65,535 parameter limits, while keeping 1,000 items to two queries.
KEYS_PER_QUERY = 500

# Snapshots per insert: nine bound parameters each, and one SELECT each in a UNION ALL,
# under SQLite's 500 terms of a compound SELECT.
SNAPSHOTS_PER_QUERY = 400

ITEM_FIELDS = tuple(field.name for field in dataclasses.fields(WorkItem))
SNAPSHOT_FIELDS = tuple(field.name for field in dataclasses.fields(KRSnapshot))
SNAPSHOT_VALUES = tuple(name for name in SNAPSHOT_FIELDS if name not in ("kr_id", "at"))
# What tells a KR's new snapshot from its latest: every value but the expected progress,
# which follows the clock (it is the cycle's elapsed share at the snapshot's `at`).
SNAPSHOT_COMPARED = tuple(name for name in SNAPSHOT_VALUES if name != "expected_progress")

BUCKETS = {bucket.value: bucket for bucket in Bucket}  # `Bucket(value)`, without the call

_T = TypeVar("_T")

# A raw column value made Python (`labels` as a tuple, `updated` as a datetime), each
# path's own conversion: once per distinct raw value where that is text.
Convert = Callable[[Any], Any]


def rows_to_work_items(
    rows: Iterable[Sequence[Any]], labels: Convert, updated: Convert
) -> list[WorkItem]:
    """Raw rows of the `ITEM_FIELDS` columns (of `work_items` or `item_versions`, which
    share their types) turned into WorkItems, each made without the frozen dataclass's
    per-field checks (`WorkItem.from_fields`)."""
    make = WorkItem.from_fields
    buckets = BUCKETS
    return [
        make(
            source,
            key,
            title,
            type_,
            status,
            buckets.get(bucket_value) or Bucket(bucket_value),
            points,
            labels(labels_value),
            parent,
            updated(updated_value),
            url,
            remote_id,
            child_count,
        )
        for (
            source,
            key,
            title,
            type_,
            status,
            bucket_value,
            points,
            labels_value,
            parent,
            updated_value,
            url,
            remote_id,
            child_count,
        ) in rows
    ]


def rows_to_scope_items(
    rows: Iterable[Sequence[Any]], labels: Convert, updated: Convert
) -> list[ScopeItem]:
    """Raw rows of the `ScopeItem._fields` columns turned into ScopeItems."""
    buckets = BUCKETS
    new = tuple.__new__  # `ScopeItem(...)` without its Python-level `__new__`
    return [
        new(
            ScopeItem,
            (
                source,
                key,
                status,
                buckets.get(bucket_value) or Bucket(bucket_value),
                points,
                labels(labels_value),
                parent,
                updated(updated_value),
            ),
        )
        for (source, key, status, bucket_value, points, labels_value, parent, updated_value) in rows
    ]


class Memo(dict[Any, Any]):
    """`process(raw)` by raw value, each computed on its first look-up: a hit is the
    dict's own look-up, without a Python call (values that repeat a lot: labels,
    datetimes, stamps)."""

    __slots__ = ("_process",)

    def __init__(self, process: Callable[[Any], Any]) -> None:
        super().__init__()
        self._process = process

    def __missing__(self, raw: Any) -> Any:
        value = self[raw] = self._process(raw)
        return value


def chunked(values: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def utcnow() -> datetime:
    return datetime.now(UTC)


def now_or_clock(now: datetime | None) -> datetime:
    return utcnow() if now is None else now


def lease_ttl(ttl_seconds: float) -> timedelta:
    """A lease's time to live; refused unless positive."""
    if ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
    return timedelta(seconds=ttl_seconds)


def errors_in_force(rows: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Each KR's error from rows (kr_id, error) in order of `at`: the last one of each KR,
    unless it cleared the error (NULL)."""
    latest: dict[str, str | None] = {}
    for kr_id, error in rows:
        latest[kr_id] = error
    return {kr_id: error for kr_id, error in latest.items() if error is not None}


def kept_weights(weights: Mapping[Any, Any]) -> dict[str, float]:
    """A kept scope's weights (a JSON object) as KR id -> weight."""
    return {str(kr_id): float(weight) for kr_id, weight in weights.items()}
