"""Engine set-up and upsert statements: the only dialect-specific code besides the locks
(SQLite pragmas on connect, one shared connection for in-memory databases, the dialect's
`INSERT ... ON CONFLICT`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 5_000
# An unreachable database host must fail a readiness probe, not hang it (probes time out
# after 5 s); a URL's own `connect_timeout` wins.
POSTGRES_CONNECT_TIMEOUT_S = 4


def create_store_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url)
    # pre_ping: a daemon outlives server restarts and idle-connection reaping.
    connect_args = (
        {} if "connect_timeout" in url.query else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
    )
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite


def upsert_insert(engine: Engine, table: Table) -> postgresql.Insert | sqlite.Insert:
    """`INSERT` into `table` with the dialect's `ON CONFLICT` clauses (PostgreSQL and
    SQLite spell them alike: `on_conflict_do_update`, `on_conflict_do_nothing`, `excluded`).
    The dialect modules load on first use: commands that never write do not pay for them."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise RuntimeError(f"okrsync cannot upsert into a {engine.dialect.name} database")


def _create_sqlite_engine(url: URL) -> Engine:
    if url.database in (None, "", ":memory:"):
        # Each connection to ":memory:" is a separate, empty database: share one.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
    event.listen(engine, "connect", _apply_sqlite_pragmas)
    return engine


def _apply_sqlite_pragmas(dbapi_connection: Any, _connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
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
    import sqlite3
    import time

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
