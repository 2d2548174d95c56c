"""The `Store`: the pipeline's only door to the database.

One code path serves SQLite and PostgreSQL; the dialect-specific code is the engine
set-up (`_engine`) and the schema lock (`_locks`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Engine, bindparam, text, tuple_
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, insert, select, update

from okrsync.domain.models import Bucket, MetricSample, WorkItem
from okrsync.store import _locks
from okrsync.store._engine import create_store_engine
from okrsync.store._schema import require_head, upgrade_engine
from okrsync.store._tables import (
    MetricSampleRow,
    SyncCursorRow,
    WebhookSecretRow,
    WorkItemRow,
    WritebackRow,
    webhook_secrets,
    work_items,
)

# Keys per `IN (...)` query: two bound parameters each, far below SQLite's 32,766 and
# PostgreSQL's 65,535 parameter limits, while keeping 1,000 items to two queries.
KEYS_PER_QUERY = 500

_ITEM_FIELDS = tuple(field.name for field in dataclasses.fields(WorkItem))

_Ref = tuple[str, str]  # (source, key), the primary key of a work item
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class UpsertResult:
    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class WritebackRecord:
    """What was last written to a target, so an unchanged cycle writes nothing."""

    target: str
    content_hash: str
    remote_id: str
    written_at: datetime


@dataclass(slots=True)
class _UpsertPlan:
    inserts: list[WorkItem] = dataclasses.field(default_factory=list)
    updates: list[WorkItem] = dataclasses.field(default_factory=list)
    unchanged: list[_Ref] = dataclasses.field(default_factory=list)

    def result(self) -> UpsertResult:
        return UpsertResult(len(self.inserts), len(self.updates), len(self.unchanged))


class Store:
    """Work items, metric samples, sync cursors, write-back records, job leases and
    webhook secrets.

    `url` is a SQLAlchemy URL: `sqlite:///path/okrsync.db`, `sqlite://` (in memory) or
    `postgresql+psycopg://user@host:port/db`. Opening migrates the database to the
    newest schema (see `okrsync.store.upgrade`); with `migrate=False` it only checks
    that it is there, for deployments that migrate in a separate step
    (`okrsync db upgrade`) or connect without DDL rights. A database migrated by a
    newer okrsync raises `SchemaTooNewError` either way.
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self._engine = create_store_engine(make_url(url))
        try:
            if migrate:
                upgrade_engine(self._engine)
            else:
                require_head(self._engine)
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for migrations and instrumentation."""
        return self._engine

    # -- work items -------------------------------------------------------------------

    def upsert_items(self, items: Iterable[WorkItem]) -> UpsertResult:
        """Insert new items, update changed ones; a constant number of statements per call."""
        latest = _last_per_ref(items)
        if not latest:
            return UpsertResult(0, 0, 0)
        seen_at = _utcnow()
        with self._session() as session, session.begin():
            stored = _stored_fields(session, list(latest))
            plan = _plan_upsert(latest, stored)
            _insert_items(session, plan.inserts, seen_at)
            _update_items(session, plan.updates, seen_at)
            _mark_seen(session, plan.unchanged, seen_at)
        return plan.result()

    def items(self, source: str | None = None) -> list[WorkItem]:
        statement = select(WorkItemRow).order_by(col(WorkItemRow.source), col(WorkItemRow.key))
        if source is not None:
            statement = statement.where(col(WorkItemRow.source) == source)
        with self._session() as session:
            return [_item_from_row(row) for row in session.exec(statement)]

    def delete_items(self, source: str, keys: Iterable[str]) -> int:
        """Delete the given keys of `source`; returns how many rows existed."""
        unique_keys = list(dict.fromkeys(keys))
        deleted = 0
        with self._session() as session, session.begin():
            for chunk in _chunked(unique_keys, KEYS_PER_QUERY):
                statement = delete(WorkItemRow).where(
                    col(WorkItemRow.source) == source, col(WorkItemRow.key).in_(chunk)
                )
                deleted += session.exec(statement).rowcount
        return deleted

    # -- metric samples -----------------------------------------------------------------

    def add_sample(self, sample: MetricSample, origin: str = "manual") -> bool:
        """Record a sample; False when the same (kr_id, at, value) is stored already."""
        try:
            with self._session() as session, session.begin():
                if _sample_exists(session, sample):
                    return False
                session.add(
                    MetricSampleRow(
                        kr_id=sample.kr_id,
                        value=sample.value,
                        at=sample.at,
                        origin=origin,
                        recorded_at=_utcnow(),
                    )
                )
        except IntegrityError:
            return False  # a concurrent writer stored the same sample between check and insert
        return True

    def samples(self, kr_id: str | None = None) -> list[MetricSample]:
        """Samples ordered by `at` (then by arrival, for equal instants)."""
        statement = select(MetricSampleRow).order_by(
            col(MetricSampleRow.at), col(MetricSampleRow.id)
        )
        if kr_id is not None:
            statement = statement.where(col(MetricSampleRow.kr_id) == kr_id)
        with self._session() as session:
            return [
                MetricSample(kr_id=row.kr_id, value=row.value, at=row.at)
                for row in session.exec(statement)
            ]

    # -- sync cursors -------------------------------------------------------------------

    def cursor(self, source: str) -> int | None:
        """The incremental-sync bookmark of `source` in epoch milliseconds, if any."""
        with self._session() as session:
            row = session.get(SyncCursorRow, source)
            return None if row is None else row.bookmark_ms

    def set_cursor(self, source: str, epoch_ms: int) -> None:
        with self._session() as session, session.begin():
            session.merge(SyncCursorRow(source=source, bookmark_ms=epoch_ms, updated_at=_utcnow()))

    # -- write-back records -------------------------------------------------------------

    def writeback(self, target: str) -> WritebackRecord | None:
        """The last write to `target` (an id like "jira:ONB-12"), if any."""
        with self._session() as session:
            row = session.get(WritebackRow, target)
            if row is None:
                return None
            return WritebackRecord(row.target, row.content_hash, row.remote_id, row.written_at)

    def writebacks(self, targets: Iterable[str]) -> dict[str, WritebackRecord]:
        """The last writes to many targets at once: one query per chunk, not one each."""
        found: dict[str, WritebackRecord] = {}
        with self._session() as session:
            for chunk in _chunked(list(dict.fromkeys(targets)), KEYS_PER_QUERY):
                rows = session.exec(select(WritebackRow).where(col(WritebackRow.target).in_(chunk)))
                for row in rows:
                    found[row.target] = WritebackRecord(
                        row.target, row.content_hash, row.remote_id, row.written_at
                    )
        return found

    def save_writeback(self, target: str, content_hash: str, remote_id: str) -> None:
        record = WritebackRow(
            target=target, content_hash=content_hash, remote_id=remote_id, written_at=_utcnow()
        )
        with self._session() as session, session.begin():
            session.merge(record)

    # -- job leases ---------------------------------------------------------------------

    def acquire_lease(
        self, name: str, owner: str, ttl_seconds: float, now: datetime | None = None
    ) -> bool:
        """Take the lease `name` for `owner` until `now + ttl_seconds`, atomically.

        True when it was free, expired or already `owner`'s (then renewed); False while
        another owner holds it. Holders renew well before the TTL runs out.

        `now` defaults to this machine's UTC clock, and leases compare the clocks of the
        replicas: they need NTP-synced clocks, and the TTL must exceed the expected skew
        plus the longest pause between renewals (see `okrsync.store._locks`).
        """
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        ttl = timedelta(seconds=ttl_seconds)
        return _locks.acquire_lease(self._engine, name, owner, ttl, _now_or_clock(now))

    def release_lease(self, name: str, owner: str) -> None:
        """Give the lease up, if `owner` holds it; someone else's lease stays."""
        _locks.release_lease(self._engine, name, owner)

    def lease_holder(self, name: str, now: datetime | None = None) -> str | None:
        """Who holds the lease at `now` (default: this machine's clock), if anyone."""
        return _locks.lease_holder(self._engine, name, _now_or_clock(now))

    # -- webhook secrets ----------------------------------------------------------------

    def webhook_secret(self, name: str) -> str | None:
        """A secret a webhook negotiated (e.g. "asana:<webhook gid>"), if saved."""
        with self._session() as session:
            row = session.get(WebhookSecretRow, name)
            return None if row is None else row.secret

    def save_webhook_secret(self, name: str, secret: str) -> None:
        """Save or replace it; the last save wins when two replicas save at once."""
        values = {"secret": secret, "saved_at": _utcnow()}
        by_name = update(webhook_secrets).where(webhook_secrets.c.name == name).values(values)
        try:
            with self._engine.begin() as connection:
                if connection.execute(by_name).rowcount == 0:
                    connection.execute(insert(webhook_secrets).values(name=name, **values))
        except IntegrityError:
            # Another replica inserted it between our UPDATE and INSERT: overwrite theirs.
            with self._engine.begin() as connection:
                connection.execute(by_name)

    # -- lifecycle ----------------------------------------------------------------------

    def ping(self) -> None:
        """Raise if the database cannot be reached (readiness checks)."""
        with self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _session(self) -> Session:
        # Rows are turned into domain objects inside the session; nothing needs reloading.
        return Session(self._engine, expire_on_commit=False)


# -- upsert helpers ---------------------------------------------------------------------


def _last_per_ref(items: Iterable[WorkItem]) -> dict[_Ref, WorkItem]:
    """De-duplicate by (source, key); the last occurrence wins, as the freshest pull."""
    return {(item.source, item.key): item for item in items}


def _stored_fields(session: Session, refs: Sequence[_Ref]) -> dict[_Ref, dict[str, Any]]:
    """The stored fields of those refs that exist, one query per chunk of keys."""
    stored: dict[_Ref, dict[str, Any]] = {}
    ref_columns = tuple_(col(WorkItemRow.source), col(WorkItemRow.key))
    for chunk in _chunked(refs, KEYS_PER_QUERY):
        for row in session.exec(select(WorkItemRow).where(ref_columns.in_(chunk))):
            stored[(row.source, row.key)] = {name: getattr(row, name) for name in _ITEM_FIELDS}
    return stored


def _plan_upsert(latest: dict[_Ref, WorkItem], stored: dict[_Ref, dict[str, Any]]) -> _UpsertPlan:
    plan = _UpsertPlan()
    for ref, item in latest.items():
        if ref not in stored:
            plan.inserts.append(item)
        elif stored[ref] != _item_fields(item):
            plan.updates.append(item)
        else:
            plan.unchanged.append(ref)
    return plan


# Inserts and updates go through Core statements on the table, one executemany each: the
# ORM's bulk paths would split the batch wherever the pattern of None values changes
# (e.g. `parent`), turning one statement into hundreds.


def _insert_items(session: Session, items: Sequence[WorkItem], seen_at: datetime) -> None:
    if items:
        rows = [_item_fields(item) | {"seen_at": seen_at} for item in items]
        session.exec(insert(work_items), params=rows)


def _update_items(session: Session, items: Sequence[WorkItem], seen_at: datetime) -> None:
    if not items:
        return
    by_ref = update(work_items).where(
        work_items.c.source == bindparam("ref_source"), work_items.c.key == bindparam("ref_key")
    )
    rows = []
    for item in items:
        fields = _item_fields(item)
        ref = {"ref_source": fields.pop("source"), "ref_key": fields.pop("key")}
        rows.append(fields | ref | {"seen_at": seen_at})
    session.exec(by_ref, params=rows)


def _mark_seen(session: Session, refs: Sequence[_Ref], seen_at: datetime) -> None:
    """Bump `seen_at` of unchanged items: they were still present in this pull."""
    ref_columns = tuple_(col(WorkItemRow.source), col(WorkItemRow.key))
    for chunk in _chunked(refs, KEYS_PER_QUERY):
        session.exec(update(WorkItemRow).where(ref_columns.in_(chunk)).values(seen_at=seen_at))


def _item_fields(item: WorkItem) -> dict[str, Any]:
    """The item as column values, comparable with what `_stored_fields` reads back."""
    fields = {name: getattr(item, name) for name in _ITEM_FIELDS}
    fields["bucket"] = Bucket(item.bucket).value  # rejects an unknown bucket early
    fields["labels"] = list(item.labels)  # JSON reads back a list
    return fields


def _item_from_row(row: WorkItemRow) -> WorkItem:
    return WorkItem(
        source=row.source,
        key=row.key,
        title=row.title,
        type=row.type,
        status=row.status,
        bucket=Bucket(row.bucket),
        points=row.points,
        labels=tuple(row.labels),
        parent=row.parent,
        updated=row.updated,
        url=row.url,
        remote_id=row.remote_id,
        child_count=row.child_count,
    )


# -- small helpers ----------------------------------------------------------------------


def _sample_exists(session: Session, sample: MetricSample) -> bool:
    statement = select(MetricSampleRow.id).where(
        col(MetricSampleRow.kr_id) == sample.kr_id,
        col(MetricSampleRow.at) == sample.at,
        col(MetricSampleRow.value) == sample.value,
    )
    return session.exec(statement).first() is not None


def _chunked(values: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _now_or_clock(now: datetime | None) -> datetime:
    return _utcnow() if now is None else now
