"""Fixtures of general use. Store back-ends: every `store_url` test runs on SQLite and on
a real PostgreSQL server started once per session (see tests/_postgres.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from _postgres import PostgresServer, PostgresUnavailable, sigterm_unwinds

from okrsync.logs import redact_secrets
from okrsync.store import Store


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Each test starts from structlog's defaults and no registered secret: a command run
    by an earlier test (say with `--log-level warning`, or a token `token`) would
    otherwise filter what `capture_logs` sees or redact another test's text."""
    _quiet_logging()
    redact_secrets.clear()
    yield
    _quiet_logging()
    redact_secrets.clear()


def _quiet_logging() -> None:
    # Every level passes (so `capture_logs` sees info events) and nothing is printed: a
    # server thread that outlives its test must not write into another test's output.
    structlog.reset_defaults()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.ReturnLoggerFactory(),
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, skipped with a reason when unavailable."""
    try:
        server = PostgresServer.discover()
    except PostgresUnavailable as reason:
        pytest.skip(str(reason))
    with sigterm_unwinds(), server:  # stopped even when the session is interrupted
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of the session's `okrsync_test` database (shared by all tests)."""
    postgres_server.create_database("okrsync_test")
    return postgres_server.url("okrsync_test")


@pytest.fixture(scope="session")
def _postgres_scratch_database(postgres_server: PostgresServer) -> str:
    """A database that `store_url` empties before each test that uses it."""
    postgres_server.create_database("okrsync_scratch")
    return "okrsync_scratch"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database per test: a new SQLite file, or the emptied PostgreSQL scratch one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'okrsync.db'}"
    # Resolved lazily so that SQLite-only runs never start a server.
    server: PostgresServer = request.getfixturevalue("postgres_server")
    database: str = request.getfixturevalue("_postgres_scratch_database")
    server.empty_database(database)
    return server.url(database)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store(store_url) as opened:
        yield opened
