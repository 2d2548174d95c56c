"""Every SQL statement a store sends, through either of its paths: SQLAlchemy's engine
(an event listener) and, on SQLite, the stdlib `sqlite3` connection of the everyday
operations (its trace callback). pysqlite's own transaction statements (BEGIN, COMMIT)
are left out, as the engine's listener never sees them."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from sqlalchemy import Engine, event

from okrsync.store import Store

_TRANSACTION = ("BEGIN", "COMMIT", "ROLLBACK")


def _tracer(record: Callable[[str], None]) -> Callable[[str], None]:
    def trace(statement: str) -> None:
        if not statement.lstrip().upper().startswith(_TRANSACTION):
            record(statement)

    return trace


@contextmanager
def store_statements(store: Store) -> Iterator[list[str]]:
    """The statements `store` sends in the block (an executemany counts once). On an
    in-memory SQLite store, whose engine uses the sqlite3 path's connection, the
    engine's are recorded twice: the tests use files."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])  # (conn, cursor, statement, parameters, context, many)

    engine = store.engine
    event.listen(engine, "before_cursor_execute", record)
    connection = None if store._sqlite is None else store._sqlite.connection()
    if connection is not None:
        connection.set_trace_callback(_tracer(statements.append))
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)
        if connection is not None:
            connection.set_trace_callback(None)


@contextmanager
def all_statements() -> Iterator[list[str]]:
    """Every statement sent in the block by any store or engine, including those not yet
    made: SQLAlchemy's on PostgreSQL through its listener, and on SQLite every new
    sqlite3 connection's, whoever made it (the engine's included, counted once)."""
    statements: list[str] = []
    lock = threading.Lock()

    def append(statement: str) -> None:
        with lock:
            statements.append(statement)

    def record(connection: Any, *args: Any) -> None:
        if connection.dialect.name != "sqlite":
            append(args[1])  # (cursor, statement, parameters, context, many)

    connect = sqlite3.connect

    def traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection: sqlite3.Connection = connect(*args, **kwargs)
        connection.set_trace_callback(_tracer(append))
        return connection

    event.listen(Engine, "before_cursor_execute", record)
    try:
        # SQLAlchemy connects through `sqlite3.dbapi2`, the sqlite3 path through `sqlite3`.
        with (
            mock.patch("sqlite3.connect", traced_connect),
            mock.patch("sqlite3.dbapi2.connect", traced_connect),
        ):
            yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", record)
