"""The `Store`: the pipeline's only door to the database.

Two paths lead to it. On SQLite, the everyday operations (what `status`, `report`,
`explain`, the `metric` commands and a sync cycle need, its item writes included) go
through one stdlib `sqlite3` connection (`_sqlite`, `_sqlite_upsert`), so those commands
never import SQLAlchemy (about a quarter of their time). Everything else, and every
operation on PostgreSQL, goes through SQLAlchemy Core (`_core`), whose engine is made,
and SQLAlchemy imported, on the first operation that needs it. Every write is one
statement that the database applies atomically (an upsert, a conditional update, a
delete): nothing reads a row to decide whether to insert it, so two processes sharing a
store never trip over each other's rows.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self, cast

from okrsync.domain.mapping import ScopeItem
from okrsync.domain.models import KRSnapshot, MetricSample, WorkItem
from okrsync.store._records import SampleRecord, UpsertResult, WritebackRecord
from okrsync.store._shared import lease_ttl, now_or_clock
from okrsync.store._sqlite import SqliteStore, connect, is_memory, is_sqlite_url, sqlite_database

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from okrsync.store._core import CoreStore


class Store:
    """Work items, metric samples, sync cursors, write-back records, job leases and
    webhook secrets.

    `url` is a SQLAlchemy URL: `sqlite:///path/okrsync.db`, `sqlite://` (in memory) or
    `postgresql+psycopg://user@host:port/db`. Opening migrates the database to the
    newest schema (see `okrsync.store.upgrade`); with `migrate=False` it only checks
    that it is there, for deployments that migrate in a separate step
    (`okrsync db upgrade`) or connect without DDL rights. A database migrated by a
    newer okrsync raises `SchemaTooNewError` either way.

    A store may be shared between threads.
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self._url = url
        self._lock = threading.Lock()  # makes the engine and the Core store once
        self._engine: Engine | None = None
        self._core_store: CoreStore | None = None
        self._sqlite: SqliteStore | None = None
        # An in-memory database's engine must use the sqlite3 path's connection.
        self._shares_connection = False
        try:
            self._sqlite = self._open_sqlite(url)
            # At head (one query on SQLite) is the common case, and a new SQLite store is
            # made at head without SQLAlchemy; anything else, SQLAlchemy and Alembic
            # handle as they always did (migrating, refusing, explaining).
            sqlite = self._sqlite
            if sqlite is None or not (sqlite.at_head() or (migrate and sqlite.create_at_head())):
                from okrsync.store._schema import require_head, upgrade_engine

                if migrate:
                    upgrade_engine(self.engine)
                else:
                    require_head(self.engine)
        except BaseException:
            self.close()
            raise

    def _open_sqlite(self, url: str) -> SqliteStore | None:
        """The sqlite3 path of a SQLite store (None for PostgreSQL): over a connection of
        its own for a plain URL, else (options, escapes: SQLAlchemy parses those) over
        one it takes from the engine's pool."""
        database = sqlite_database(url)
        if database is not None:
            self._shares_connection = is_memory(database)
            return SqliteStore(lambda: connect(database))
        if is_sqlite_url(url):
            # The pool's proxy forwards what the sqlite3 path uses to its connection.
            return SqliteStore(lambda: cast(sqlite3.Connection, self.engine.raw_connection()))
        return None

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for migrations and instrumentation (made, and SQLAlchemy
        imported, on first use)."""
        with self._lock:
            if self._engine is None:
                from sqlalchemy.engine import make_url

                from okrsync.store._engine import create_store_engine

                shared = self._sqlite if self._shares_connection else None
                self._engine = create_store_engine(make_url(self._url), shared)
            return self._engine

    def _operations(self) -> SqliteStore | CoreStore:
        """Where the operations both paths have go: SQLite's sqlite3 path, else Core."""
        return self._sqlite if self._sqlite is not None else self._core()

    def _core(self) -> CoreStore:
        """The operations through SQLAlchemy Core."""
        core = self._core_store
        if core is None:
            engine = self.engine
            from okrsync.store._core import CoreStore

            with self._lock:
                if self._core_store is None:
                    self._core_store = CoreStore(engine)
                core = self._core_store
        return core

    # -- work items -------------------------------------------------------------------

    def upsert_items(
        self, items: Iterable[WorkItem], seen_at: datetime | None = None
    ) -> UpsertResult:
        """Insert new items, update changed ones, mark all of them seen, and add a version
        to the history of each item inserted or changed in a versioned field, learned at
        `seen_at` (the cycle's `now`; this machine's clock when None); see
        `CoreStore.upsert_items` (on SQLite, `_sqlite_upsert`)."""
        if self._sqlite is not None:
            return self._sqlite.upsert_items(items, seen_at)
        items = list(items)
        if not items:  # a pull that brought nothing
            return UpsertResult(0, 0, 0)
        return self._core().upsert_items(items, seen_at)

    def items(self, source: str | None = None, as_of: datetime | None = None) -> list[WorkItem]:
        """The items sorted by (source, key): as last pulled (`as_of=None`), or as the store
        knew them at `as_of`: each item's latest version learned at or before it, unless
        that version is its deletion."""
        return self._operations().items(source, as_of)

    def scope_items(self, as_of: datetime) -> list[ScopeItem]:
        """`items(as_of=...)` with only what a scope is computed from (`ScopeItem`: no
        title, URL or ids), for the cycle start's scope: the same read, fewer columns,
        lighter objects."""
        return self._operations().scope_items(as_of)

    def items_and_scope_items(
        self, as_of: datetime, start: datetime
    ) -> tuple[list[WorkItem], list[ScopeItem]]:
        """`items(as_of=as_of)` and `scope_items(as_of=start)` (a report's items, and its
        cycle start's for scope growth), one after the other. Not on two threads at once:
        the driver lets go of the GIL for every row it steps to, so two threads reading
        spend their time taking it from each other (50,000 items each, on 2 cores: about
        450 ms of CPU one after the other, 520 to 800 ms at once, and no sooner done)."""
        return self.items(as_of=as_of), self.scope_items(as_of=start)

    def item_keys(self, source: str) -> list[str]:
        """The keys of `source`'s stored items (latest state), sorted: what a full pull
        compares with what it saw, without reading and converting whole items."""
        return self._operations().item_keys(source)

    def delete_items(self, source: str, keys: Iterable[str], at: datetime | None = None) -> int:
        """Delete the given keys of `source`, recording each deletion in the history at
        `at` (the cycle's `now`; this machine's clock when None), so an as-of read before
        it still sees the item; returns how many rows existed."""
        if self._sqlite is not None:
            return self._sqlite.delete_items(source, keys, at)
        keys = list(keys)
        if not keys:  # a full pull that missed nothing
            return 0
        return self._core().delete_items(source, keys, at)

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
        return self._operations().add_sample(sample, origin, note, confidence)

    def samples(
        self, kr_id: str | None = None, as_of: datetime | None = None
    ) -> list[MetricSample]:
        """Samples ordered by `at` (then by arrival); with `as_of`, those at or before it."""
        return self._operations().samples(kr_id, as_of)

    def sample_records(self, kr_id: str) -> list[SampleRecord]:
        """The KR's samples with their origin, note and confidence, ordered by `at`."""
        return self._operations().sample_records(kr_id)

    def delete_sample(self, kr_id: str, at: datetime) -> bool:
        """Delete the KR's sample at `at`; False when there was none."""
        return self._operations().delete_sample(kr_id, at)

    # -- KR snapshots and metric errors -------------------------------------------------

    def save_kr_snapshots(self, snapshots: Iterable[KRSnapshot]) -> int:
        """Save each KR's status at a cycle's `now`, only where it changed: a KR's snapshot
        is stored when one of its values differs from the KR's latest snapshot at or
        before that instant (`expected_progress` aside: it moves with the clock), so a KR
        that stays the same for a year of 5-minute cycles keeps one row. Returns the rows
        written."""
        return self._operations().save_kr_snapshots(snapshots)

    def kr_snapshots(
        self, kr_id: str | None = None, until: datetime | None = None
    ) -> list[KRSnapshot]:
        """Snapshots ordered by (kr_id, at); with `until`, those at or before it."""
        return self._operations().kr_snapshots(kr_id, until)

    def set_metric_error(self, kr_id: str, error: str | None, at: datetime) -> None:
        """The KR's metric failed with `error` at `at` (None: it read fine again); a row is
        added only when `error` differs from the KR's error at `at`."""
        self._operations().set_metric_error(kr_id, error, at)

    def metric_errors(self, as_of: datetime | None = None) -> dict[str, str]:
        """Each KR's metric error in force (at `as_of`, or now), by KR id."""
        return self._operations().metric_errors(as_of)

    # -- sync cursors -------------------------------------------------------------------

    def cursor(self, source: str) -> int | None:
        """The incremental-sync bookmark of `source` in epoch milliseconds, if any."""
        return self._operations().cursor(source)

    def set_cursor(self, source: str, epoch_ms: int) -> None:
        self._operations().set_cursor(source, epoch_ms)

    # -- write-back records -------------------------------------------------------------

    def writeback(self, target: str) -> WritebackRecord | None:
        """The last write to `target` (an id like "jira:ONB-12"), if any."""
        return self._operations().writeback(target)

    def writebacks(self, targets: Iterable[str]) -> dict[str, WritebackRecord]:
        """The last writes to many targets at once: one query per chunk, not one each."""
        return self._operations().writebacks(targets)

    def writebacks_of(self, source: str) -> list[WritebackRecord]:
        """Every write-back record of `source`'s targets (keys `source:...`, per-operation
        ones included), in one query: which targets okrsync has written to."""
        return self._operations().writebacks_of(source)

    def save_writeback(self, target: str, content_hash: str, remote_id: str) -> None:
        """Save or replace the record of `target`, in one `INSERT ... ON CONFLICT DO UPDATE`:
        processes saving the same target at once all succeed, and the last one wins."""
        self._operations().save_writeback(target, content_hash, remote_id)

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
        if self._sqlite is not None:
            ttl = lease_ttl(ttl_seconds)
            return self._sqlite.acquire_lease(name, owner, ttl, now_or_clock(now))
        return self._core().acquire_lease(name, owner, ttl_seconds, now)

    def take_over_lease(
        self, name: str, holder: str, owner: str, ttl_seconds: float, now: datetime | None = None
    ) -> bool:
        """Take the lease `name` from `holder`, live or not, for a caller that knows the
        holder is gone (a dead process on this machine). False if `holder` no longer
        holds it: someone else took it first, or it was released."""
        return self._core().take_over_lease(name, holder, owner, ttl_seconds, now)

    def release_lease(self, name: str, owner: str) -> None:
        """Give the lease up, if `owner` holds it; someone else's lease stays."""
        self._operations().release_lease(name, owner)

    def lease_holder(self, name: str, now: datetime | None = None) -> str | None:
        """Who holds the lease at `now` (default: this machine's clock), if anyone."""
        if self._sqlite is not None:
            return self._sqlite.lease_holder(name, now_or_clock(now))
        return self._core().lease_holder(name, now)

    # -- webhook secrets ----------------------------------------------------------------

    def webhook_secret(self, name: str) -> str | None:
        """A secret a webhook negotiated (e.g. "asana:<webhook gid>"), if saved."""
        return self._core().webhook_secret(name)

    def save_webhook_secret(self, name: str, secret: str) -> None:
        """Save or replace it, in one `INSERT ... ON CONFLICT DO UPDATE`; the last save wins
        when two replicas save at once."""
        self._core().save_webhook_secret(name, secret)

    # -- HTTP ETags ---------------------------------------------------------------------

    def etags(self, source: str) -> dict[str, str]:
        """The stored ETags of `source`, by page URL."""
        return self._operations().etags(source)

    def save_etags(self, source: str, etags: Mapping[str, str]) -> None:
        """Save or replace the ETags of `source` (URL -> ETag) in one `INSERT ... ON
        CONFLICT DO UPDATE`; the pipeline calls it only once the pages' items are stored."""
        self._operations().save_etags(source, etags)

    # -- scope at a cycle's start -------------------------------------------------------

    def scope_start(self, fingerprint: str, start: datetime) -> dict[str, float] | None:
        """The KR weights kept for the cycle start `start` under the mapping
        `fingerprint` (KR id -> weight; a KR without leaves is absent), or None; see
        `CoreStore.scope_start` for why they are kept."""
        return self._operations().scope_start(fingerprint, start)

    def save_scope_start(
        self, fingerprint: str, start: datetime, weights: Mapping[str, float]
    ) -> None:
        """Keep `weights` (KR id -> weight) for the cycle start `start` under the mapping
        `fingerprint`, replacing what was kept."""
        self._operations().save_scope_start(fingerprint, start, weights)

    # -- lifecycle ----------------------------------------------------------------------

    def ping(self) -> None:
        """Raise if the database cannot be reached (readiness checks)."""
        self._operations().ping()

    def close(self) -> None:
        """Close the connections; a later operation opens them again."""
        if self._sqlite is not None:
            self._sqlite.close()
        if self._engine is not None:
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
