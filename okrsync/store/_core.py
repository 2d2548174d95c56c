"""The store's operations through SQLAlchemy Core: every operation on PostgreSQL, and on
SQLite those the stdlib `sqlite3` path (`_sqlite`, `_sqlite_upsert`) leaves to
SQLAlchemy (the rarer ones). `Store` (`_repository`) picks the path.

The dialect-specific code is the engine set-up and the `INSERT ... ON CONFLICT`
statements (`_engine`) and the schema lock (`_locks`). Every write is one statement that
the database applies atomically (an upsert, a conditional update, a delete).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    String,
    Text,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy import delete as core_delete
from sqlalchemy import select as core_select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType, TypeEngine

from okrsync._collector import collector_paused
from okrsync.domain.mapping import ScopeItem
from okrsync.domain.models import Bucket, KRSnapshot, MetricSample, WorkItem
from okrsync.store import _locks
from okrsync.store._engine import upsert_insert
from okrsync.store._records import SampleRecord, UpsertResult, WritebackRecord
from okrsync.store._shared import (
    ITEM_FIELDS,
    KEYS_PER_QUERY,
    SNAPSHOT_COMPARED,
    SNAPSHOT_FIELDS,
    SNAPSHOT_VALUES,
    SNAPSHOTS_PER_QUERY,
    Convert,
    chunked,
    errors_in_force,
    kept_weights,
    lease_ttl,
    now_or_clock,
    rows_to_scope_items,
    rows_to_work_items,
    utcnow,
)
from okrsync.store._tables import (
    UtcDateTime,
    item_versions,
    kr_snapshots,
    metric_errors,
    metric_samples,
    sync_cursors,
    webhook_secrets,
    work_items,
    writebacks,
)

_ITEM_FIELDS = ITEM_FIELDS
# What an upsert compares to tell an updated item from an unchanged one.
_COMPARED_FIELDS = tuple(name for name in _ITEM_FIELDS if name not in ("source", "key"))
# What makes a new version in the history: every field but `updated`, which moves with
# every edit in the source (a description, a comment) that changes nothing okrsync reads.
_VERSIONED_FIELDS = tuple(name for name in _COMPARED_FIELDS if name != "updated")

# An inserted row gets this upsert's instant in all four.
_STAMPS = ("seen_at", "first_seen_at", "changed_at", "versioned_at")

_SNAPSHOT_FIELDS = SNAPSHOT_FIELDS
_SNAPSHOT_VALUES = SNAPSHOT_VALUES
_SNAPSHOT_COMPARED = SNAPSHOT_COMPARED

_Ref = tuple[str, str]  # (source, key), the primary key of a work item


class CoreStore:
    """`Store`'s operations over a SQLAlchemy engine (see the methods of `Store` for what
    each does; here, how)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._last_seen_at = datetime.min.replace(tzinfo=UTC)

    # -- work items -------------------------------------------------------------------

    def upsert_items(
        self, items: Iterable[WorkItem], seen_at: datetime | None = None
    ) -> UpsertResult:
        """Insert new items, update changed ones, mark all of them seen, and add a version
        to the history of each item inserted or changed in a versioned field, learned at
        `seen_at` (the cycle's `now`; this machine's clock when None).

        One `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` (sent as one statement per
        page of 1,000 rows): the database decides row by row, atomically, so a concurrent
        upsert of the same items by another process neither fails nor is lost. What each
        row became is read from what the statement returns: a row whose `first_seen_at`
        is this call's instant was inserted, one whose `changed_at` is was updated, one
        whose `versioned_at` is needs a version (SQLite's path, `_sqlite_upsert`, leaves
        the same rows; a large upsert there reads the same from the rows seen at that
        instant instead). The versions are written in the same transaction (`INSERT ...
        ON CONFLICT DO UPDATE`: the same item learned twice at one instant keeps the last
        state).
        """
        latest = _last_per_ref(items)
        if not latest:
            return UpsertResult(0, 0, 0)
        stamp = self._next_seen_at()
        learned_at = stamp if seen_at is None else seen_at
        # Sorted by key: two PostgreSQL upserts of overlapping items lock rows in one order.
        rows = [_item_fields(latest[ref]) | dict.fromkeys(_STAMPS, stamp) for ref in sorted(latest)]
        statement = _item_upsert(self._engine)
        with self._engine.begin() as connection:
            returned = connection.execute(statement, rows).all()
            versions = [
                _item_fields(latest[(row.source, row.key)])
                | {"learned_at": learned_at, "deleted": False}
                for row in returned
                if row.versioned_at == stamp
            ]
            if versions:
                connection.execute(_version_upsert(self._engine), versions)
                self._forget_scope_starts(connection, learned_at)
        inserted = sum(1 for row in returned if row.first_seen_at == stamp)
        updated = sum(1 for row in returned if row.changed_at == stamp) - inserted
        return UpsertResult(inserted, updated, len(latest) - inserted - updated)

    def items(self, source: str | None = None, as_of: datetime | None = None) -> list[WorkItem]:
        """The items sorted by (source, key): as last pulled (`as_of=None`), or as the store
        knew them at `as_of`: each item's latest version learned at or before it, unless
        that version is its deletion."""
        # Every object made here is either returned or freed: a collection meanwhile
        # would walk the items made so far only to find them alive (a third of the time
        # at 100,000 items).
        with collector_paused():
            if as_of is not None:
                return self._work_items(self._latest_versions(_ITEM_FIELDS, as_of, source))
            return self._work_items(self._latest_items(source))

    def _latest_items(self, source: str | None) -> Sequence[Any]:
        """The raw values of the `_ITEM_FIELDS` columns of the items as last pulled (of
        `source`, or all), sorted by (source, key). Raw column values, not ORM rows: a
        cycle reads every item, and the callers' converters turn each distinct raw value
        into Python once."""
        stored = work_items.c
        statement = core_select(
            *(type_coerce(stored[name], NullType()) for name in _ITEM_FIELDS)
        ).order_by(stored.source, stored.key)
        if source is not None:
            statement = statement.where(stored.source == bindparam("source", source))
        with self._engine.connect() as connection:
            return connection.execute(statement).all()

    def _work_items(self, rows: Iterable[Sequence[Any]]) -> list[WorkItem]:
        """Raw rows of the `ITEM_FIELDS` columns as WorkItems (`_shared.work_items`), with
        the columns' result processors, once per distinct raw text."""
        labels, updated = self._converters()
        return rows_to_work_items(rows, labels, updated)

    def _converters(self) -> tuple[Convert, Convert]:
        """What the dialect makes of raw `labels` (a tuple) and `updated` values."""
        versions = item_versions.c
        dialect = self._engine.dialect
        labels = _memoised(versions.labels.type, dialect, tuple)
        return labels, _memoised(versions.updated.type, dialect)

    def scope_items(self, as_of: datetime) -> list[ScopeItem]:
        """`items(as_of=...)` with only what a scope is computed from (`ScopeItem`: no
        title, URL or ids), for the cycle start's scope: the same read, fewer columns,
        lighter objects."""
        with collector_paused():  # as in `items`
            return self._scope_items(as_of)

    def _scope_items(self, as_of: datetime) -> list[ScopeItem]:
        labels, updated = self._converters()
        rows = self._latest_versions(ScopeItem._fields, as_of, None)
        return rows_to_scope_items(rows, labels, updated)

    def _latest_versions(
        self, names: Sequence[str], as_of: datetime, source: str | None
    ) -> Sequence[Any]:
        """The raw values of the columns `names` (starting with source and key) of each
        item's latest version learned at or before `as_of`, unless that version is its
        deletion, sorted by (source, key). One query: the latest `learned_at` per item
        (a GROUP BY the primary key's index answers), joined back to its version. (SQLite
        has a cheaper plan of its own: `_sqlite`.)"""
        as_of_param = bindparam("as_of", as_of, type_=UtcDateTime)
        versions = item_versions.c
        learned = core_select(
            versions.source, versions.key, func.max(versions.learned_at).label("learned_at")
        ).where(versions.learned_at <= as_of_param)
        if source is not None:
            learned = learned.where(versions.source == source)
        latest = learned.group_by(versions.source, versions.key).subquery("latest")
        # Raw column values: the callers turn each into Python once per distinct value.
        statement = (
            core_select(*(type_coerce(versions[name], NullType()) for name in names))
            .join(
                latest,
                (versions.source == latest.c.source)
                & (versions.key == latest.c.key)
                & (versions.learned_at == latest.c.learned_at),
            )
            .where(versions.deleted.is_(False))
            .order_by(versions.source, versions.key)
        )
        with self._engine.connect() as connection:
            return connection.execute(statement).all()

    def item_keys(self, source: str) -> list[str]:
        """The keys of `source`'s stored items (latest state), sorted: what a full pull
        compares with what it saw, without reading and converting whole items."""
        stored = work_items.c
        statement = core_select(stored.key).where(stored.source == source).order_by(stored.key)
        with self._engine.connect() as connection:
            return list(connection.execute(statement).scalars())

    def delete_items(self, source: str, keys: Iterable[str], at: datetime | None = None) -> int:
        """Delete the given keys of `source`, recording each deletion in the history at
        `at` (the cycle's `now`; this machine's clock when None), so an as-of read before
        it still sees the item; returns how many rows existed."""
        unique_keys = list(dict.fromkeys(keys))
        learned_at = self._next_seen_at() if at is None else at
        gone: list[dict[str, Any]] = []
        with self._engine.begin() as connection:
            for chunk in chunked(unique_keys, KEYS_PER_QUERY):
                statement = (
                    core_delete(work_items)
                    .where(work_items.c.source == source, work_items.c.key.in_(chunk))
                    .returning(*(work_items.c[name] for name in _ITEM_FIELDS))
                )
                gone.extend(
                    dict(row._mapping) | {"learned_at": learned_at, "deleted": True}
                    for row in connection.execute(statement)
                )
            if gone:
                connection.execute(_version_upsert(self._engine), gone)
                self._forget_scope_starts(connection, learned_at)
        return len(gone)

    # -- metric samples -----------------------------------------------------------------

    def add_sample(
        self,
        sample: MetricSample,
        origin: str = "manual",
        note: str | None = None,
        confidence: float | None = None,
    ) -> bool:
        """Record a sample; False when the KR has one at that instant already.

        One `INSERT ... ON CONFLICT DO NOTHING RETURNING id`: of two processes adding a
        sample for the same KR and instant at once, one stores it and the other is told
        one was there.
        """
        statement = (
            upsert_insert(self._engine, metric_samples)
            .values(
                kr_id=sample.kr_id,
                value=sample.value,
                at=sample.at,
                origin=origin,
                recorded_at=utcnow(),
                note=note,
                confidence=confidence,
            )
            .on_conflict_do_nothing(index_elements=["kr_id", "at"])
            .returning(metric_samples.c.id)
        )
        with self._engine.begin() as connection:
            return connection.execute(statement).first() is not None

    def samples(
        self, kr_id: str | None = None, as_of: datetime | None = None
    ) -> list[MetricSample]:
        """Samples ordered by `at` (then by arrival); with `as_of`, those at or before it."""
        table = metric_samples.c
        statement = core_select(table.kr_id, table.value, table.at).order_by(table.at, table.id)
        if kr_id is not None:
            statement = statement.where(table.kr_id == kr_id)
        if as_of is not None:
            statement = statement.where(table.at <= bindparam("as_of", as_of, type_=UtcDateTime))
        with self._engine.connect() as connection:
            return [MetricSample(kr, value, at) for kr, value, at in connection.execute(statement)]

    def sample_records(self, kr_id: str) -> list[SampleRecord]:
        """The KR's samples with their origin, note and confidence, ordered by `at`."""
        table = metric_samples.c
        statement = (
            core_select(
                table.kr_id, table.value, table.at, table.origin, table.note, table.confidence
            )
            .where(table.kr_id == kr_id)
            .order_by(table.at, table.id)
        )
        with self._engine.connect() as connection:
            return [SampleRecord(*row) for row in connection.execute(statement)]

    def delete_sample(self, kr_id: str, at: datetime) -> bool:
        """Delete the KR's sample at `at`; False when there was none."""
        statement = core_delete(metric_samples).where(
            metric_samples.c.kr_id == kr_id,
            metric_samples.c.at == bindparam("at", at, type_=UtcDateTime),
        )
        with self._engine.begin() as connection:
            return bool(connection.execute(statement).rowcount)

    # -- KR snapshots and metric errors -------------------------------------------------

    def save_kr_snapshots(self, snapshots: Iterable[KRSnapshot]) -> int:
        """Save each KR's status at a cycle's `now`, only where it changed: a KR's snapshot
        is stored when one of its values differs from the KR's latest snapshot at or
        before that instant (`expected_progress` aside: it moves with the clock, and is
        the cycle's elapsed share at the row's `at`), so a KR that stays the same for a
        year of 5-minute cycles keeps one row. Readers take, at any instant, the latest
        snapshot at or before it, which a thinned history gives as an unthinned one would.

        One `INSERT ... SELECT ... WHERE NOT EXISTS (<the latest row, equal>) ON CONFLICT
        DO UPDATE ... RETURNING` per `SNAPSHOTS_PER_QUERY` snapshots: the database compares
        and inserts atomically (the last save of one instant wins). Returns the rows
        written."""
        rows = [dataclasses.asdict(snapshot) for snapshot in snapshots]
        written = 0
        with self._engine.begin() as connection:
            for chunk in chunked(rows, SNAPSHOTS_PER_QUERY):
                written += len(connection.execute(_snapshot_insert(self._engine, chunk)).all())
        return written

    def kr_snapshots(
        self, kr_id: str | None = None, until: datetime | None = None
    ) -> list[KRSnapshot]:
        """Snapshots ordered by (kr_id, at); with `until`, those at or before it."""
        # The columns in KRSnapshot's field order: each row is its positional arguments.
        statement = core_select(*(kr_snapshots.c[name] for name in _SNAPSHOT_FIELDS)).order_by(
            kr_snapshots.c.kr_id, kr_snapshots.c.at
        )
        if kr_id is not None:
            statement = statement.where(kr_snapshots.c.kr_id == kr_id)
        if until is not None:
            statement = statement.where(
                kr_snapshots.c.at <= bindparam("until", until, type_=UtcDateTime)
            )
        with self._engine.connect() as connection:
            return [KRSnapshot(*row) for row in connection.execute(statement)]

    def set_metric_error(self, kr_id: str, error: str | None, at: datetime) -> None:
        """The KR's metric failed with `error` at `at` (None: it read fine again).

        One `INSERT ... SELECT ... WHERE` that adds a row only when `error` differs from the
        KR's error at `at`: the same failure every cycle is stored once."""
        errors = metric_errors.c
        when = bindparam("at", at, type_=UtcDateTime)
        message = bindparam("error", error, type_=String())
        previous = (
            core_select(errors.error)
            .where(errors.kr_id == kr_id, errors.at <= when)
            .order_by(errors.at.desc())
            .limit(1)
            .scalar_subquery()
        )
        changed = core_select(bindparam("kr_id", kr_id, type_=String()), when, message).where(
            message.is_distinct_from(previous)
        )
        statement = upsert_insert(self._engine, metric_errors).from_select(
            ["kr_id", "at", "error"], changed
        )
        statement = statement.on_conflict_do_update(
            index_elements=["kr_id", "at"], set_={"error": statement.excluded.error}
        )
        with self._engine.begin() as connection:
            connection.execute(statement)

    def metric_errors(self, as_of: datetime | None = None) -> dict[str, str]:
        """Each KR's metric error in force (at `as_of`, or now), by KR id."""
        errors = metric_errors.c
        statement = core_select(errors.kr_id, errors.at, errors.error).order_by(
            errors.kr_id, errors.at
        )
        if as_of is not None:
            statement = statement.where(errors.at <= bindparam("as_of", as_of, type_=UtcDateTime))
        with self._engine.connect() as connection:
            return errors_in_force((row.kr_id, row.error) for row in connection.execute(statement))

    # -- sync cursors -------------------------------------------------------------------

    def cursor(self, source: str) -> int | None:
        """The incremental-sync bookmark of `source` in epoch milliseconds, if any."""
        statement = core_select(sync_cursors.c.bookmark_ms).where(sync_cursors.c.source == source)
        with self._engine.connect() as connection:
            bookmark: int | None = connection.execute(statement).scalar()
            return bookmark

    def set_cursor(self, source: str, epoch_ms: int) -> None:
        values = {"bookmark_ms": epoch_ms, "updated_at": utcnow()}
        statement = (
            upsert_insert(self._engine, sync_cursors)
            .values(source=source, **values)
            .on_conflict_do_update(index_elements=["source"], set_=values)
        )
        with self._engine.begin() as connection:
            connection.execute(statement)

    # -- write-back records -------------------------------------------------------------

    def writeback(self, target: str) -> WritebackRecord | None:
        """The last write to `target` (an id like "jira:ONB-12"), if any."""
        statement = _writeback_select().where(writebacks.c.target == target)
        with self._engine.connect() as connection:
            row = connection.execute(statement).first()
            return None if row is None else WritebackRecord(*row)

    def writebacks(self, targets: Iterable[str]) -> dict[str, WritebackRecord]:
        """The last writes to many targets at once: one query per chunk, not one each."""
        found: dict[str, WritebackRecord] = {}
        with self._engine.connect() as connection:
            for chunk in chunked(list(dict.fromkeys(targets)), KEYS_PER_QUERY):
                statement = _writeback_select().where(writebacks.c.target.in_(chunk))
                for row in connection.execute(statement):
                    found[row.target] = WritebackRecord(*row)
        return found

    def save_writeback(self, target: str, content_hash: str, remote_id: str) -> None:
        """Save or replace the record of `target`, in one `INSERT ... ON CONFLICT DO UPDATE`:
        processes saving the same target at once all succeed, and the last one wins."""
        values = {"content_hash": content_hash, "remote_id": remote_id, "written_at": utcnow()}
        statement = (
            upsert_insert(self._engine, writebacks)
            .values(target=target, **values)
            .on_conflict_do_update(index_elements=["target"], set_=values)
        )
        with self._engine.begin() as connection:
            connection.execute(statement)

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
        ttl = lease_ttl(ttl_seconds)
        return _locks.acquire_lease(self._engine, name, owner, ttl, now_or_clock(now))

    def take_over_lease(
        self, name: str, holder: str, owner: str, ttl_seconds: float, now: datetime | None = None
    ) -> bool:
        """Take the lease `name` from `holder`, live or not, for a caller that knows the
        holder is gone (a dead process on this machine). False if `holder` no longer
        holds it: someone else took it first, or it was released."""
        ttl = lease_ttl(ttl_seconds)
        return _locks.take_over_lease(self._engine, name, holder, owner, ttl, now_or_clock(now))

    def release_lease(self, name: str, owner: str) -> None:
        """Give the lease up, if `owner` holds it; someone else's lease stays."""
        _locks.release_lease(self._engine, name, owner)

    def lease_holder(self, name: str, now: datetime | None = None) -> str | None:
        """Who holds the lease at `now` (default: this machine's clock), if anyone."""
        return _locks.lease_holder(self._engine, name, now_or_clock(now))

    # -- webhook secrets ----------------------------------------------------------------

    def webhook_secret(self, name: str) -> str | None:
        """A secret a webhook negotiated (e.g. "asana:<webhook gid>"), if saved."""
        statement = core_select(webhook_secrets.c.secret).where(webhook_secrets.c.name == name)
        with self._engine.connect() as connection:
            secret: str | None = connection.execute(statement).scalar()
            return secret

    def save_webhook_secret(self, name: str, secret: str) -> None:
        """Save or replace it, in one `INSERT ... ON CONFLICT DO UPDATE`; the last save wins
        when two replicas save at once."""
        values = {"secret": secret, "saved_at": utcnow()}
        statement = (
            upsert_insert(self._engine, webhook_secrets)
            .values(name=name, **values)
            .on_conflict_do_update(index_elements=["name"], set_=values)
        )
        with self._engine.begin() as connection:
            connection.execute(statement)

    # -- lifecycle ----------------------------------------------------------------------

    def ping(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def _next_seen_at(self) -> datetime:
        """This machine's clock, strictly increasing per store: each upsert's instant
        identifies the rows it inserted or changed."""
        seen_at = max(utcnow(), self._last_seen_at + timedelta(microseconds=1))
        self._last_seen_at = seen_at
        return seen_at

    # == HTTP ETags (conditional list requests; issue 11) ================================
    # Kept together at the end of the class: the ETag a source's server gave for a list
    # page, by the page's full URL, sent back as `If-None-Match` by the next pull.

    def etags(self, source: str) -> dict[str, str]:
        """The stored ETags of `source`, by page URL."""
        from okrsync.store._tables import http_etags

        statement = core_select(http_etags.c.url, http_etags.c.etag).where(
            http_etags.c.source == source
        )
        with self._engine.connect() as connection:
            return {row.url: row.etag for row in connection.execute(statement)}

    def save_etags(self, source: str, etags: Mapping[str, str]) -> None:
        """Save or replace the ETags of `source` (URL -> ETag) in one `INSERT ... ON
        CONFLICT DO UPDATE`; the pipeline calls it only once the pages' items are stored."""
        from okrsync.store._tables import http_etags

        if not etags:
            return
        at = utcnow()
        rows = [
            {"source": source, "url": url, "etag": etag, "stored_at": at}
            for url, etag in etags.items()
        ]
        statement = upsert_insert(self._engine, http_etags).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=["source", "url"],
            set_={"etag": statement.excluded.etag, "stored_at": statement.excluded.stored_at},
        )
        with self._engine.begin() as connection:
            connection.execute(statement)

    # == end of HTTP ETags ===============================================================

    # == write-back records of a source (reconciliation, retiring; issue 10) ============

    def writebacks_of(self, source: str) -> list[WritebackRecord]:
        """Every write-back record of `source`'s targets (keys `source:...`, per-operation
        ones included), in one query: which targets okrsync has written to."""
        prefix = f"{source}:"
        statement = _writeback_select().where(
            writebacks.c.target.startswith(prefix, autoescape=True)
        )
        with self._engine.connect() as connection:
            return [WritebackRecord(*row) for row in connection.execute(statement)]

    # == scope at a cycle's start, kept (issue 9) ========================================
    # Each KR's leaf weight over the items as known at a cycle's start is the same for
    # every report after it: it depends only on the versions learned at or before the
    # start, and on the mapping (`fingerprint`). Kept, a report reads one row instead of
    # every item's version at the start. A version written later but learned at or
    # before a kept start (a back-dated `sync --now`, a deletion at an old instant) drops
    # that row in the same transaction (`_forget_scope_starts`).

    def scope_start(self, fingerprint: str, start: datetime) -> dict[str, float] | None:
        """The KR weights kept for the cycle start `start` under the mapping
        `fingerprint` (KR id -> weight; a KR without leaves is absent), or None."""
        from okrsync.store._tables import scope_starts

        kept = scope_starts.c
        statement = core_select(kept.weights).where(
            kept.fingerprint == fingerprint, kept.start == start
        )
        with self._engine.connect() as connection:
            weights = connection.execute(statement).scalar_one_or_none()
        return None if weights is None else kept_weights(weights)

    def save_scope_start(
        self, fingerprint: str, start: datetime, weights: Mapping[str, float]
    ) -> None:
        """Keep `weights` (KR id -> weight) for the cycle start `start` under the mapping
        `fingerprint`, replacing what was kept. The caller read them from the versions
        learned at or before `start`; a version learned that early and written between
        that read and this call (only a back-dated write racing a report) is not seen
        here, so a store shared by writers that back-date must not keep scopes."""
        from okrsync.store._tables import scope_starts

        row = {
            "fingerprint": fingerprint,
            "start": start,
            "weights": dict(weights),
            "saved_at": utcnow(),
        }
        statement = upsert_insert(self._engine, scope_starts).values([row])
        statement = statement.on_conflict_do_update(
            index_elements=["fingerprint", "start"],
            set_={
                "weights": statement.excluded.weights,
                "saved_at": statement.excluded.saved_at,
            },
        )
        with self._engine.begin() as connection:
            connection.execute(statement)

    @staticmethod
    def _forget_scope_starts(connection: Connection, learned_at: datetime) -> None:
        """Drop the kept scopes a version learned at `learned_at` changes: those of
        cycle starts at or after it."""
        from okrsync.store._tables import scope_starts

        connection.execute(core_delete(scope_starts).where(scope_starts.c.start >= learned_at))

    # == end of scope at a cycle's start =================================================


def _writeback_select() -> Any:
    """The columns of a `WritebackRecord`, in its fields' order."""
    table = writebacks.c
    return core_select(table.target, table.content_hash, table.remote_id, table.written_at)


# -- upsert helpers ---------------------------------------------------------------------


def _last_per_ref(items: Iterable[WorkItem]) -> dict[_Ref, WorkItem]:
    """De-duplicate by (source, key); the last occurrence wins, as the freshest pull."""
    return {(item.source, item.key): item for item in items}


def _item_upsert(engine: Engine) -> Any:
    """The items' upsert: insert, or overwrite every field and `seen_at`; `changed_at`
    moves only when a compared field differs (NULL-safe; labels compared as JSON text,
    which SQLAlchemy writes the same way every time). Returning each row's key and
    stamps."""
    statement = upsert_insert(engine, work_items)
    new = statement.excluded
    stored = work_items.c
    differs: list[ColumnElement[bool]] = []
    for name in _COMPARED_FIELDS:
        if name == "labels":
            differs.append(cast(stored[name], Text).is_distinct_from(cast(new[name], Text)))
        else:
            differs.append(stored[name].is_distinct_from(new[name]))
    assignments: dict[str, Any] = {name: new[name] for name in _COMPARED_FIELDS}
    versioned = [
        clause
        for name, clause in zip(_COMPARED_FIELDS, differs, strict=True)
        if name in _VERSIONED_FIELDS
    ]
    assignments["seen_at"] = new.seen_at
    assignments["changed_at"] = case((or_(*differs), new.seen_at), else_=stored.changed_at)
    assignments["versioned_at"] = case(
        (or_(*versioned), new.versioned_at), else_=stored.versioned_at
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[stored.source, stored.key], set_=assignments
    )
    return upsert.returning(
        stored.source, stored.key, stored.first_seen_at, stored.changed_at, stored.versioned_at
    )


def _snapshot_insert(engine: Engine, rows: Sequence[dict[str, Any]]) -> Any:
    """The insert of `rows` (KR snapshots) that keeps only those that differ from their
    KR's latest stored snapshot at or before their instant (see `save_kr_snapshots`)."""
    table = kr_snapshots.c
    names = ["kr_id", "at", *_SNAPSHOT_VALUES]

    # Numbers are cast to their column's type: PostgreSQL reads an untyped NULL as text
    # (a datetime or a string is typed by its value; SQLite casts datetimes to numbers).
    def value(row: dict[str, Any], name: str) -> Any:
        column_type = table[name].type
        bound = bindparam(None, row[name], type_=column_type)
        if isinstance(column_type, Float):
            return cast(bound, column_type).label(name)
        return bound.label(name)

    new = union_all(*(core_select(*(value(row, name) for name in names)) for row in rows)).subquery(
        "new"
    )
    before = kr_snapshots.alias("before")
    # Correlated to `new` explicitly: two levels down (inside the EXISTS) SQLAlchemy does
    # not correlate it by itself, and would compare each row with the latest snapshot at
    # or before any row of the batch, of any KR in it.
    latest_at = (
        core_select(func.max(before.c.at))
        .where(before.c.kr_id == new.c.kr_id, before.c.at <= new.c.at)
        .correlate(new)
        .scalar_subquery()
    )
    latest = kr_snapshots.alias("latest")
    unchanged = (
        core_select(literal(1))
        .select_from(latest)
        .where(
            latest.c.kr_id == new.c.kr_id,
            latest.c.at == latest_at,
            *(latest.c[name].is_not_distinct_from(new.c[name]) for name in _SNAPSHOT_COMPARED),
        )
    )
    statement = upsert_insert(engine, kr_snapshots).from_select(
        names, core_select(*(new.c[name] for name in names)).where(~exists(unchanged))
    )
    return statement.on_conflict_do_update(
        index_elements=["kr_id", "at"],
        set_={name: statement.excluded[name] for name in _SNAPSHOT_VALUES},
    ).returning(kr_snapshots.c.kr_id)


def _version_upsert(engine: Engine, rows: Any = None) -> Any:
    """A version's insert (of the rows the SELECT `rows` gives, in the columns' order,
    when given); the same item learned twice at one instant keeps the last."""
    statement = upsert_insert(engine, item_versions)
    if rows is not None:
        statement = statement.from_select([c.name for c in item_versions.c], rows)
    key = ("source", "key", "learned_at")
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={c.name: statement.excluded[c.name] for c in item_versions.c if c.name not in key},
    )


def _item_fields(item: WorkItem) -> dict[str, Any]:
    """The item as column values, comparable with what `_stored_fields` reads back."""
    fields = {name: getattr(item, name) for name in _ITEM_FIELDS}
    fields["bucket"] = Bucket(item.bucket).value  # rejects an unknown bucket early
    fields["labels"] = list(item.labels)  # JSON reads back a list
    return fields


def _memoised(
    type_: TypeEngine[Any], dialect: Dialect, then: Callable[[Any], Any] | None = None
) -> Callable[[Any], Any]:
    """What `type_` makes of a raw column value on `dialect` (passed through `then` when
    given), computed once per distinct raw value when that is text (values of other
    types, as PostgreSQL's driver gives most, are converted every time)."""
    result = type_.dialect_impl(dialect).result_processor(dialect, None)
    if result is None and then is None:
        return lambda raw: raw

    def process(raw: Any) -> Any:
        value = raw if result is None else result(raw)
        return value if then is None else then(value)

    done: dict[str, Any] = {}

    def convert(raw: Any) -> Any:
        if not isinstance(raw, str):
            return process(raw)
        value = done.get(raw, done)
        if value is done:
            value = done[raw] = process(raw)
        return value

    return convert


# -- small helpers ----------------------------------------------------------------------
