"""Engine set-up and upsert statements: the only dialect-specific code besides the locks
and the SQLite path (SQLite pragmas on connect, `_sqlite`'s; one shared connection for
in-memory databases; the dialect's `INSERT ... ON CONFLICT`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.pool import StaticPool

from okrsync.store._sqlite import SqliteStore, apply_pragmas

# An unreachable database host must fail a readiness probe, not hang it (probes time out
# after 5 s); a URL's own `connect_timeout` wins.
POSTGRES_CONNECT_TIMEOUT_S = 4


def create_store_engine(url: URL, shared: SqliteStore | None = None) -> Engine:
    """The engine of the database at `url`; on SQLite, with `shared`, one whose only
    connection is that sqlite3 path's (an in-memory database a `Store` opened itself:
    each connection to ":memory:" is a separate, empty database)."""
    if url.get_backend_name() == "sqlite":
        if shared is not None:
            return _create_shared_engine(url, shared)
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


def _create_shared_engine(url: URL, shared: SqliteStore) -> Engine:
    """An engine on `shared`'s connection (its pragmas set), which holds `shared.lock`
    while it has the connection checked out: the sqlite3 path's operations and the
    engine's transactions take turns on it, whatever the threads. Released on "reset"
    (each checkout's return, in the thread that returns it), not "checkin": StaticPool's
    one connection record forgets all but the last of overlapping checkouts, and skips
    "checkin" for the others."""
    engine = create_engine(url, creator=shared.connection, poolclass=StaticPool)
    lock = shared.lock
    event.listen(engine, "checkout", lambda *_: lock.acquire())
    event.listen(engine, "reset", lambda *_: lock.release())
    return engine


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
    apply_pragmas(dbapi_connection)
