"""A SQLite store's everyday operations over one stdlib `sqlite3` connection, without
SQLAlchemy: opening a store at head and what `status`, `report`, `explain` and the
`metric` commands read and write, and what a sync cycle writes (the bulk item writes:
`_sqlite_upsert`). They are the only SQLite implementation of each; the rest
(migrations, leases taken over, webhook secrets) go through SQLAlchemy (`_core`), whose
import is about a quarter of such a command's time.

The values are converted by `_values`, to the bytes SQLAlchemy stores (a test writes
through either path and reads through the other).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from okrsync._collector import collector_paused
from okrsync.domain.mapping import ScopeItem
from okrsync.domain.models import KRSnapshot, MetricSample, WorkItem
from okrsync.store import _sqlite_upsert
from okrsync.store._records import SampleRecord, UpsertResult, WritebackRecord
from okrsync.store._revision import HEAD_REVISION, VERSION_TABLE
from okrsync.store._shared import (
    ITEM_FIELDS,
    KEYS_PER_QUERY,
    SNAPSHOT_COMPARED,
    SNAPSHOT_FIELDS,
    SNAPSHOT_VALUES,
    SNAPSHOTS_PER_QUERY,
    Convert,
    Memo,
    chunked,
    errors_in_force,
    kept_weights,
    rows_to_scope_items,
    rows_to_work_items,
    utcnow,
)
from okrsync.store._sqlite_schema import STATEMENTS, TABLES, VERSION_TABLE_STATEMENT
from okrsync.store._values import (
    datetime_from_sqlite,
    datetime_to_sqlite,
    float_to_sqlite,
    json_from_sqlite,
    json_to_sqlite,
)

SQLITE_BUSY_TIMEOUT_MS = 5_000

_ITEM_COLUMNS = ", ".join(f'"{name}"' for name in ITEM_FIELDS)
_WRITEBACK_COLUMNS = "target, content_hash, remote_id, written_at"
_SNAPSHOT_COLUMNS = ", ".join(f'"{name}"' for name in SNAPSHOT_FIELDS)


def _snapshot_insert(rows: int) -> str:
    """The insert of `rows` KR snapshots (parameters in `SNAPSHOT_FIELDS` order, a row
    after another) that keeps only those differing from their KR's latest stored
    snapshot at or before their instant (`Store.save_kr_snapshots`): the numbers cast to
    REAL, as the columns' type; NULL-safe comparisons (`IS`)."""
    values = ", ".join(
        f"CAST(? AS FLOAT) AS {name}" if name not in ("kr_id", "at", "health") else f"? AS {name}"
        for name in SNAPSHOT_FIELDS
    )
    new = " UNION ALL ".join([f"SELECT {values}"] * rows)
    same = " AND ".join(f"latest.{name} IS new.{name}" for name in SNAPSHOT_COMPARED)
    update = ", ".join(f"{name} = excluded.{name}" for name in SNAPSHOT_VALUES)
    columns = ", ".join(f"new.{name}" for name in SNAPSHOT_FIELDS)
    return (
        f"INSERT INTO kr_snapshots ({_SNAPSHOT_COLUMNS}) SELECT {columns} FROM ({new}) AS new "
        "WHERE NOT (EXISTS (SELECT 1 FROM kr_snapshots AS latest WHERE latest.kr_id = new.kr_id"
        ' AND latest.at = (SELECT max("before".at) FROM kr_snapshots AS "before"'
        f' WHERE "before".kr_id = new.kr_id AND "before".at <= new.at) AND {same}))'
        f" ON CONFLICT (kr_id, at) DO UPDATE SET {update} RETURNING kr_id"
    )


def sqlite_database(url: str) -> str | None:
    """The database of a plain SQLite URL as `sqlite3.connect` takes it (":memory:" for an
    in-memory one); None for any other URL, SQLite ones with options (`?...`) or
    escapes (`%`) included: SQLAlchemy parses those, and opens them (`Store`)."""
    scheme, found, rest = url.partition("://")
    if not found or scheme not in ("sqlite", "sqlite+pysqlite") or "?" in rest or "%" in rest:
        return None
    if rest == "":
        return ":memory:"
    if not rest.startswith("/"):
        return None  # a host: not a SQLite URL SQLAlchemy would accept either
    database = rest[1:]
    return ":memory:" if database in ("", ":memory:") else database


def is_sqlite_url(url: str) -> bool:
    """Any SQLite URL (`sqlite://...`, `sqlite+driver://...`)."""
    return url.partition("://")[0].partition("+")[0] == "sqlite"


def is_memory(database: str) -> bool:
    return database == ":memory:"


def connect(database: str) -> sqlite3.Connection:
    """A connection to `database` with okrsync's pragmas, usable from any thread (the
    store serialises its use: `SqliteStore`). pysqlite's default transaction handling,
    as SQLAlchemy uses it: DML opens a transaction, `commit` ends it."""
    if not is_memory(database):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(database, check_same_thread=False)
    try:
        apply_pragmas(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def apply_pragmas(connection: Any) -> None:
    """okrsync's pragmas on a new DB-API connection (this module's, and each of the
    SQLAlchemy engine's: `_engine`)."""
    cursor = connection.cursor()
    try:
        # busy_timeout first: a second writer, and the switch to WAL below (which needs
        # the database to itself), wait instead of failing at once ("database is locked"
        # when two processes open one store together). WAL lets the CLI read while the
        # daemon writes, and it persists: set only when not on yet. synchronous=NORMAL is
        # durable in WAL mode.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the database to WAL unless it is already. The switch needs the database to
    itself and SQLite may refuse it at once, busy handler or not, when another process is
    opening the same new store: try again until that process has switched it (then the
    mode reads "wal") or the busy timeout has passed."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        cursor.execute("PRAGMA journal_mode")
        if str(cursor.fetchone()[0]).lower() == "wal":
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


class SqliteStore:
    """The `Store` operations SQLite answers through one `sqlite3` connection.

    The daemon shares one Store between threads: each operation holds `lock` for its
    statements (and its transaction, for a write), so they never interleave on the
    connection. The first operation opens it (`opener`), and the next one after `close`
    again, as SQLAlchemy's engine reconnects after `dispose`."""

    def __init__(self, opener: Callable[[], sqlite3.Connection]) -> None:
        self._opener = opener
        # Re-entrant: an in-memory database's engine holds it while it has the connection
        # checked out (`_engine.create_store_engine`), and may open it meanwhile.
        self.lock = threading.RLock()
        # Opened by the first operation: `at_head`, whose failure to open sends the
        # store to SQLAlchemy, which reports it as it always did.
        self._connection: sqlite3.Connection | None = None
        self._last_seen_at = datetime.min.replace(tzinfo=UTC)

    def connection(self) -> sqlite3.Connection:
        """The open connection (opened again after `close`); for the SQLAlchemy engine of an
        in-memory database, which must share it (each connection to ":memory:" is a
        database of its own)."""
        with self.lock:
            return self._open()

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = self._opener()
        return self._connection

    def close(self) -> None:
        with self.lock:
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.close()

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query, as the driver gives them (plain tuples)."""
        with self.lock:
            cursor = self._open().execute(sql, parameters)
            try:
                return cursor.fetchall()
            finally:
                cursor.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection for the block's writes, committed when it ends, rolled back if it
        raises (pysqlite begins the transaction at the first write)."""
        with self.lock:
            connection = self._open()
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    # -- schema -------------------------------------------------------------------------

    def at_head(self) -> bool:
        """Whether the database is at `HEAD_REVISION`, in one query. False for anything
        else, unreadable included: the caller then goes the SQLAlchemy way, which
        migrates, refuses or reports it as it always did."""
        try:
            rows = self._read(f"SELECT version_num FROM {VERSION_TABLE}")
        except sqlite3.Error:
            return False
        return rows == [(HEAD_REVISION,)]

    def create_at_head(self) -> bool:
        """Make an empty database (none of okrsync's tables, no revision) at head from
        `_sqlite_schema`'s SQL, as `_schema._created_at_head` makes it from the tables'
        definitions, without SQLAlchemy; False, touching nothing, when the database is not
        empty or cannot be opened: the SQLAlchemy way then migrates, refuses or reports
        it. True also when another process made it at head meanwhile."""
        with self.lock:
            try:
                connection = self._open()
                # IMMEDIATE takes the write lock now: two processes making one new store
                # look and create one after the other (as `_locks.schema_lock`).
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error:
                return False
            try:
                listed = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                tables = {name for (name,) in listed}
                if VERSION_TABLE in tables:
                    revision = connection.execute(f"SELECT version_num FROM {VERSION_TABLE}")
                    made = revision.fetchall() == [(HEAD_REVISION,)]
                    connection.rollback()
                    return made
                if tables & TABLES:
                    connection.rollback()
                    return False
                for statement in (*STATEMENTS, VERSION_TABLE_STATEMENT):
                    connection.execute(statement)
                stamp = f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (?)"
                connection.execute(stamp, (HEAD_REVISION,))
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
            return True

    def ping(self) -> None:
        self._read("SELECT 1")

    # -- work items -------------------------------------------------------------------

    def items(self, source: str | None, as_of: datetime | None) -> list[WorkItem]:
        # Every object made here is either returned or freed: a collection meanwhile
        # would walk the items made so far only to find them alive (a third of the time
        # at 100,000 items).
        with collector_paused():
            if as_of is not None:
                rows = self._latest_versions(ITEM_FIELDS, as_of, source)
            else:
                rows = self._latest_items(source)
            return rows_to_work_items(rows, *_converters())

    def _latest_items(self, source: str | None) -> list[Any]:
        where, parameters = ("", ()) if source is None else (" WHERE source = ?", (source,))
        return self._read(
            f'SELECT {_ITEM_COLUMNS} FROM work_items{where} ORDER BY source, "key"', parameters
        )

    def scope_items(self, as_of: datetime) -> list[ScopeItem]:
        with collector_paused():  # as in `items`
            rows = self._latest_versions(ScopeItem._fields, as_of, None)
            return rows_to_scope_items(rows, *_converters())

    def _latest_versions(
        self, names: Sequence[str], as_of: datetime, source: str | None
    ) -> list[Any]:
        """The raw values of the columns `names` (starting with source and key) of each
        item's latest version learned at or before `as_of`, unless that version is its
        deletion, sorted by (source, key). One query.

        The distinct (source, key) of the primary key's index (a skip over it), each
        item's latest `rowid` at or before `as_of` by one seek in that index (`ORDER BY
        learned_at DESC LIMIT 1`), its row by that rowid: about a third less work than
        grouping the whole index and joining back on the primary key (PostgreSQL's way,
        `_core`)."""
        picked = ", ".join(f'v."{name}"' for name in names)
        # Nothing learned at or before `as_of` (a cycle start before the store's first
        # pull): one look at the index, no seek per key.
        only = "WHERE EXISTS (SELECT 1 FROM item_versions WHERE learned_at <= ?)"
        if source is not None:
            only += " AND source = ?"
        sql = (
            f"SELECT {picked} FROM (SELECT (SELECT x.rowid FROM item_versions AS x "
            'WHERE x.source = d.source AND x."key" = d."key" AND x.learned_at <= ? '
            "ORDER BY x.learned_at DESC LIMIT 1) AS rid "
            f'FROM (SELECT DISTINCT source, "key" FROM item_versions {only}) AS d) AS k '
            "CROSS JOIN item_versions AS v ON v.rowid = k.rid WHERE NOT v.deleted"
        )
        at = datetime_to_sqlite(as_of)
        rows = self._read(sql, (at, at) if source is None else (at, at, source))
        # The keys come in the index's order, (source, key)'s: the sort only checks it,
        # one comparison per row (two rows never share a source and key), cheaper than
        # SQLite's sorter.
        rows.sort()
        return rows

    def upsert_items(self, items: Iterable[WorkItem], seen_at: datetime | None) -> UpsertResult:
        """`Store.upsert_items` (`_sqlite_upsert`): the items de-duplicated by (source, key),
        the last occurrence winning, written in key order at this store's next instant;
        their versions learned at `seen_at` (that instant when None)."""
        latest = {(item.source, item.key): item for item in items}
        if not latest:
            return UpsertResult(0, 0, 0)
        stamp = self._next_seen_at()
        learned_at = stamp if seen_at is None else seen_at
        ordered = [latest[ref] for ref in sorted(latest)]

        def write(stamp: datetime, scan: bool) -> UpsertResult:
            with self._transaction() as connection:
                inserted, updated, versions = _sqlite_upsert.upsert(
                    connection, ordered, stamp, learned_at, latest, scan=scan
                )
                if versions:
                    _sqlite_upsert.forget_scope_starts(connection, learned_at)
            return UpsertResult(inserted, updated, len(ordered) - inserted - updated)

        # What this makes is freed on return: a collection meanwhile would only walk the
        # caller's items to find them alive.
        with collector_paused():
            try:
                return write(stamp, scan=True)
            except _sqlite_upsert.StampTaken:
                # Another process's upsert took the same microsecond, so the scan cannot
                # tell its rows from these: rolled back, and again under a new instant,
                # from the rows returned (this statement's own).
                return write(self._next_seen_at(), scan=False)

    def delete_items(self, source: str, keys: Iterable[str], at: datetime | None) -> int:
        """`Store.delete_items`: each deletion recorded in the history at `at` (this
        store's next instant when None)."""
        unique_keys = list(dict.fromkeys(keys))
        if not unique_keys:  # a full pull that missed nothing
            return 0
        learned_at = self._next_seen_at() if at is None else at
        with self._transaction() as connection:
            gone = _sqlite_upsert.delete(connection, source, unique_keys, learned_at)
            if gone:
                _sqlite_upsert.forget_scope_starts(connection, learned_at)
        return gone

    def _next_seen_at(self) -> datetime:
        """This machine's clock, strictly increasing per store: each upsert's instant
        identifies the rows it inserted or changed."""
        with self.lock:
            seen_at = max(utcnow(), self._last_seen_at + timedelta(microseconds=1))
            self._last_seen_at = seen_at
        return seen_at

    def item_keys(self, source: str) -> list[str]:
        rows = self._read('SELECT "key" FROM work_items WHERE source = ? ORDER BY "key"', (source,))
        return [key for (key,) in rows]

    # -- metric samples -----------------------------------------------------------------

    def add_sample(
        self, sample: MetricSample, origin: str, note: str | None, confidence: float | None
    ) -> bool:
        parameters = (
            sample.kr_id,
            float_to_sqlite(sample.value),
            datetime_to_sqlite(sample.at),
            origin,
            datetime_to_sqlite(utcnow()),
            note,
            float_to_sqlite(confidence),
        )
        with self._transaction() as connection:
            added = connection.execute(
                "INSERT INTO metric_samples (kr_id, value, at, origin, recorded_at, note,"
                " confidence) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (kr_id, at) DO NOTHING RETURNING id",
                parameters,
            ).fetchall()
        return bool(added)

    def samples(self, kr_id: str | None, as_of: datetime | None) -> list[MetricSample]:
        where, parameters = _where(("kr_id = ?", kr_id), ("at <= ?", _stored_at(as_of)))
        rows = self._read(
            f"SELECT kr_id, value, at FROM metric_samples{where} ORDER BY at, id", parameters
        )
        at = Memo(datetime_from_sqlite)
        return [MetricSample(kr, value, at[when]) for kr, value, when in rows]

    def sample_records(self, kr_id: str) -> list[SampleRecord]:
        rows = self._read(
            "SELECT kr_id, value, at, origin, note, confidence FROM metric_samples"
            " WHERE kr_id = ? ORDER BY at, id",
            (kr_id,),
        )
        return [
            SampleRecord(kr, value, datetime_from_sqlite(at), origin, note, confidence)
            for kr, value, at, origin, note, confidence in rows
        ]

    def delete_sample(self, kr_id: str, at: datetime) -> bool:
        with self._transaction() as connection:
            deleted = connection.execute(
                "DELETE FROM metric_samples WHERE kr_id = ? AND at = ?",
                (kr_id, datetime_to_sqlite(at)),
            ).rowcount
        return bool(deleted)

    # -- KR snapshots and metric errors -------------------------------------------------

    def kr_snapshots(self, kr_id: str | None, until: datetime | None) -> list[KRSnapshot]:
        where, parameters = _where(("kr_id = ?", kr_id), ("at <= ?", _stored_at(until)))
        # The columns in KRSnapshot's field order: each row is its positional arguments.
        columns = ", ".join(f'"{name}"' for name in SNAPSHOT_FIELDS)
        rows = self._read(
            f"SELECT {columns} FROM kr_snapshots{where} ORDER BY kr_id, at", parameters
        )
        stored = Memo(datetime_from_sqlite)
        return [KRSnapshot(kr, stored[at], *values) for kr, at, *values in rows]

    def metric_errors(self, as_of: datetime | None) -> dict[str, str]:
        where, parameters = _where(("at <= ?", _stored_at(as_of)))
        sql = f"SELECT kr_id, error FROM metric_errors{where} ORDER BY kr_id, at"
        return errors_in_force(self._read(sql, parameters))

    # -- sync cursors -------------------------------------------------------------------

    def cursor(self, source: str) -> int | None:
        rows = self._read("SELECT bookmark_ms FROM sync_cursors WHERE source = ?", (source,))
        bookmark: int | None = rows[0][0] if rows else None
        return bookmark

    # -- write-back records -------------------------------------------------------------

    def writeback(self, target: str) -> WritebackRecord | None:
        rows = self._read(
            f"SELECT {_WRITEBACK_COLUMNS} FROM writebacks WHERE target = ?", (target,)
        )
        return None if not rows else _writeback(rows[0])

    def writebacks(self, targets: Iterable[str]) -> dict[str, WritebackRecord]:
        found: dict[str, WritebackRecord] = {}
        for chunk in chunked(list(dict.fromkeys(targets)), KEYS_PER_QUERY):
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT {_WRITEBACK_COLUMNS} FROM writebacks WHERE target IN ({marks})"
            for row in self._read(sql, chunk):
                found[row[0]] = _writeback(row)
        return found

    # -- scope at a cycle's start -------------------------------------------------------

    def scope_start(self, fingerprint: str, start: datetime) -> dict[str, float] | None:
        rows = self._read(
            "SELECT weights FROM scope_starts WHERE fingerprint = ? AND start = ?",
            (fingerprint, datetime_to_sqlite(start)),
        )
        return None if not rows else kept_weights(json_from_sqlite(rows[0][0]))

    def save_scope_start(
        self, fingerprint: str, start: datetime, weights: Mapping[str, float]
    ) -> None:
        parameters = (
            fingerprint,
            datetime_to_sqlite(start),
            json_to_sqlite(dict(weights)),
            datetime_to_sqlite(utcnow()),
        )
        with self._transaction() as connection:
            connection.execute(
                "INSERT INTO scope_starts (fingerprint, start, weights, saved_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (fingerprint, start)"
                " DO UPDATE SET weights = excluded.weights, saved_at = excluded.saved_at",
                parameters,
            )

    # -- what an unchanged sync cycle writes --------------------------------------------

    def set_cursor(self, source: str, epoch_ms: int) -> None:
        with self._transaction() as connection:
            connection.execute(
                "INSERT INTO sync_cursors (source, bookmark_ms, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (source) DO UPDATE SET bookmark_ms = excluded.bookmark_ms,"
                " updated_at = excluded.updated_at",
                (source, epoch_ms, datetime_to_sqlite(utcnow())),
            )

    def etags(self, source: str) -> dict[str, str]:
        rows = self._read("SELECT url, etag FROM http_etags WHERE source = ?", (source,))
        return dict(rows)

    def save_etags(self, source: str, etags: Mapping[str, str]) -> None:
        if not etags:
            return
        at = datetime_to_sqlite(utcnow())
        marks = ", ".join(["(?, ?, ?, ?)"] * len(etags))
        parameters = [value for url, etag in etags.items() for value in (source, url, etag, at)]
        with self._transaction() as connection:
            connection.execute(
                f"INSERT INTO http_etags (source, url, etag, stored_at) VALUES {marks}"
                " ON CONFLICT (source, url) DO UPDATE SET etag = excluded.etag,"
                " stored_at = excluded.stored_at",
                parameters,
            )

    def save_kr_snapshots(self, snapshots: Iterable[KRSnapshot]) -> int:
        rows = [
            (
                snapshot.kr_id,
                datetime_to_sqlite(snapshot.at),
                float_to_sqlite(snapshot.current),
                float_to_sqlite(snapshot.outcome_progress),
                float_to_sqlite(snapshot.delivery_progress),
                float_to_sqlite(snapshot.expected_progress),
                snapshot.health,
                float_to_sqlite(snapshot.done_weight),
                float_to_sqlite(snapshot.total_weight),
            )
            for snapshot in snapshots
        ]
        written = 0
        with self._transaction() as connection:
            for chunk in chunked(rows, SNAPSHOTS_PER_QUERY):
                parameters = [value for row in chunk for value in row]
                sql = _snapshot_insert(len(chunk))
                written += len(connection.execute(sql, parameters).fetchall())
        return written

    def set_metric_error(self, kr_id: str, error: str | None, at: datetime) -> None:
        when = datetime_to_sqlite(at)
        with self._transaction() as connection:
            connection.execute(
                "INSERT INTO metric_errors (kr_id, at, error) SELECT ?, ?, ?"
                " WHERE ? IS NOT (SELECT error FROM metric_errors WHERE kr_id = ? AND at <= ?"
                " ORDER BY at DESC LIMIT 1)"
                " ON CONFLICT (kr_id, at) DO UPDATE SET error = excluded.error",
                (kr_id, when, error, error, kr_id, when),
            )

    def writebacks_of(self, source: str) -> list[WritebackRecord]:
        # As SQLAlchemy's `startswith(..., autoescape=True)` on SQLite: LIKE (which
        # ignores ASCII case), the prefix's `%`, `_` and `/` escaped.
        prefix = f"{source}:".replace("/", "//").replace("%", "/%").replace("_", "/_")
        rows = self._read(
            f"SELECT {_WRITEBACK_COLUMNS} FROM writebacks WHERE target LIKE ? || '%' ESCAPE '/'",
            (prefix,),
        )
        return [_writeback(row) for row in rows]

    def save_writeback(self, target: str, content_hash: str, remote_id: str) -> None:
        with self._transaction() as connection:
            connection.execute(
                "INSERT INTO writebacks (target, content_hash, remote_id, written_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (target) DO UPDATE SET"
                " content_hash = excluded.content_hash, remote_id = excluded.remote_id,"
                " written_at = excluded.written_at",
                (target, content_hash, remote_id, datetime_to_sqlite(utcnow())),
            )

    # -- job leases (see `okrsync.store._locks`) ----------------------------------------

    def acquire_lease(self, name: str, owner: str, ttl: timedelta, now: datetime) -> bool:
        expires_at = datetime_to_sqlite(now + ttl)
        with self._transaction() as connection:
            taken = connection.execute(
                "INSERT INTO job_leases (name, owner, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
                " expires_at = excluded.expires_at"
                " WHERE job_leases.owner = ? OR job_leases.expires_at < ? RETURNING owner",
                (name, owner, expires_at, owner, datetime_to_sqlite(now)),
            ).fetchall()
        return bool(taken)

    def release_lease(self, name: str, owner: str) -> None:
        with self._transaction() as connection:
            connection.execute("DELETE FROM job_leases WHERE name = ? AND owner = ?", (name, owner))

    def lease_holder(self, name: str, now: datetime) -> str | None:
        # Live while expires_at >= now: the same boundary `acquire_lease` takes over at.
        rows = self._read(
            "SELECT owner FROM job_leases WHERE name = ? AND expires_at >= ?",
            (name, datetime_to_sqlite(now)),
        )
        holder: str | None = rows[0][0] if rows else None
        return holder


def _converters() -> tuple[Convert, Convert]:
    """SQLite's raw `labels` (JSON text, as a tuple) and `updated` (text, as a datetime),
    each converted once per distinct value (they repeat a lot)."""
    labels = Memo(lambda raw: tuple(json_from_sqlite(raw)))
    return labels.__getitem__, Memo(datetime_from_sqlite).__getitem__


def _writeback(row: Sequence[Any]) -> WritebackRecord:
    target, content_hash, remote_id, written_at = row
    return WritebackRecord(target, content_hash, remote_id, datetime_from_sqlite(written_at))


def _stored_at(value: datetime | None) -> str | None:
    return None if value is None else datetime_to_sqlite(value)


def _where(*conditions: tuple[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """A WHERE clause of the conditions whose parameter is not None, and their
    parameters."""
    used = [(sql, parameter) for sql, parameter in conditions if parameter is not None]
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(sql for sql, _ in used), tuple(p for _, p in used)
