"""Alembic migrations on SQLite and a real PostgreSQL server (the `store_url` fixture)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sql_trace import all_statements
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from okrsync.domain.models import MetricSample
from okrsync.store import (
    SchemaError,
    SchemaNotCurrentError,
    SchemaTooNewError,
    Store,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from okrsync.store._engine import create_store_engine
from okrsync.store._locks import schema_lock
from okrsync.store._tables import metadata

MODEL_TABLES = set(metadata.tables)
BASELINE_TABLES = ("work_items", "metric_samples", "sync_cursors", "writebacks")
SAMPLE = MetricSample("ONB-1", 70.0, datetime(2026, 10, 3, tzinfo=UTC))


@contextmanager
def raw_engine(url: str) -> Iterator[Engine]:
    """An engine that bypasses the Store, to look at or prepare a database as it is."""
    engine = create_store_engine(make_url(url))  # the same pragmas (WAL) on SQLite
    try:
        yield engine
    finally:
        engine.dispose()


def schema_differences(url: str) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    with raw_engine(url) as engine, engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences: list[Any] = compare_metadata(context, metadata)
        return differences


def table_names(url: str) -> set[str]:
    with raw_engine(url) as engine:
        return set(inspect(engine).get_table_names())


def run_in_threads(count: int, target: Callable[[], None]) -> list[BaseException]:
    """Start `count` threads at once (a barrier) and return what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            target()
        except BaseException as error:  # noqa: BLE001 - reported to the test
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


# -- upgrading ------------------------------------------------------------------------------


def test_opening_a_fresh_database_migrates_it_to_head(store_url: str) -> None:
    assert current_revision(store_url) is None

    with Store(store_url) as store:
        assert store.add_sample(SAMPLE)

    assert current_revision(store_url) == head_revision()
    assert table_names(store_url) == MODEL_TABLES | {"alembic_version"}


def test_reopening_at_head_only_reads(store_url: str) -> None:
    with Store(store_url) as store:
        store.add_sample(SAMPLE)

    with all_statements() as statements, Store(store_url) as reopened:
        assert reopened.samples() == [SAMPLE]

    assert statements, "nothing was recorded"
    reads = ("SELECT", "PRAGMA MAIN.TABLE_INFO")  # SQLite's look for alembic_version
    # A new SQLite connection's settings (`_sqlite.apply_pragmas`): the journal mode is
    # read, not set (the database is in WAL mode already).
    settings = {
        "PRAGMA BUSY_TIMEOUT=5000",
        "PRAGMA JOURNAL_MODE",
        "PRAGMA SYNCHRONOUS=NORMAL",
        "PRAGMA FOREIGN_KEYS=ON",
    }
    sent = [s.strip().upper() for s in statements]
    assert all(s.startswith(reads) or s in settings for s in sent), statements
    assert upgrade(store_url) == head_revision()


def test_migrated_schema_equals_the_models(store_url: str) -> None:
    """Every revision replayed by Alembic makes the schema of the tables' definitions."""
    command.upgrade(alembic_config(store_url), "head")

    assert current_revision(store_url) == head_revision()
    assert schema_differences(store_url) == []


def test_an_empty_database_is_made_at_head_without_alembic(store_url: str) -> None:
    """A fresh store is made from the tables' definitions and stamped head: the schema
    the migrations make (the test above), and not one module of Alembic loaded."""
    with raw_engine(store_url) as engine, engine.begin() as connection:
        connection.execute(text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
    probe = (
        "import sys\n"
        "from okrsync.store import Store\n"
        f"Store({store_url!r}).close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert current_revision(store_url) == head_revision()
    assert table_names(store_url) == MODEL_TABLES | {"alembic_version", "someone_elses"}
    others = ("remove_table", "someone_elses")
    assert [d for d in schema_differences(store_url) if (d[0], d[1].name) != others] == []
    with Store(store_url) as store:  # and it is a store like any other
        assert store.add_sample(SAMPLE)
        assert store.samples() == [SAMPLE]


def test_a_revision_from_a_newer_okrsync_is_refused_untouched(store_url: str) -> None:
    with raw_engine(store_url) as engine, engine.begin() as connection:
        connection.execute(
            text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        )
        connection.execute(text("INSERT INTO alembic_version VALUES ('9999')"))

    with pytest.raises(SchemaTooNewError, match=r"'9999'.*newer okrsync"):
        Store(store_url)
    with pytest.raises(SchemaTooNewError):
        upgrade(store_url)
    with pytest.raises(SchemaTooNewError):
        Store(store_url, migrate=False)

    assert table_names(store_url) == {"alembic_version"}
    assert current_revision(store_url) == "9999"


def test_a_store_opened_without_migrating_requires_head(store_url: str) -> None:
    with pytest.raises(SchemaNotCurrentError, match="okrsync db upgrade"):
        Store(store_url, migrate=False)
    assert table_names(store_url) == set()

    upgrade(store_url)
    with Store(store_url, migrate=False) as store:
        store.ping()


def test_the_alembic_environment_runs_from_a_url_and_downgrades(store_url: str) -> None:
    """The path developers take (`command.*` with a URL, no Store), and the downgrades."""
    config = alembic_config(store_url)

    command.upgrade(config, "head")
    assert current_revision(store_url) == head_revision()

    command.downgrade(config, "base")
    assert table_names(store_url) == {"alembic_version"}
    assert current_revision(store_url) is None

    command.upgrade(config, "head")
    assert table_names(store_url) == MODEL_TABLES | {"alembic_version"}


# -- databases made before migrations ---------------------------------------------------------


def create_pre_migration_tables(url: str) -> None:
    """The tables as `Store` made them with `create_all` before migrations existed: the
    baseline revision's, without its alembic_version (the models have moved on since)."""
    command.upgrade(alembic_config(url), "0001")
    with raw_engine(url) as engine, engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))


def test_a_pre_migration_database_is_adopted_with_its_data(store_url: str) -> None:
    create_pre_migration_tables(store_url)
    with raw_engine(store_url) as engine, engine.begin() as connection:
        connection.execute(
            text("INSERT INTO sync_cursors VALUES ('jira', 42, '2026-10-01 00:00:00.000000')")
        )

    with Store(store_url) as store:
        assert store.cursor("jira") == 42
        assert store.acquire_lease("cycle", "replica-a", 30)

    assert current_revision(store_url) == head_revision()
    assert schema_differences(store_url) == []


def test_a_pre_migration_database_of_another_shape_is_refused(store_url: str) -> None:
    create_pre_migration_tables(store_url)
    with raw_engine(store_url) as engine, engine.begin() as connection:
        connection.execute(text("ALTER TABLE work_items DROP COLUMN child_count"))

    with pytest.raises(SchemaError, match="work_items lacks child_count"):
        Store(store_url)

    assert current_revision(store_url) is None
    assert "job_leases" not in table_names(store_url)


# -- processes starting together ----------------------------------------------------------------


def test_replicas_opening_a_fresh_database_together_migrate_it_once(store_url: str) -> None:
    replicas = 4

    def open_store() -> None:
        Store(store_url).close()

    with all_statements() as statements:
        errors = run_in_threads(replicas, open_store)

    assert errors == []
    assert current_revision(store_url) == head_revision()
    creates = [s for s in statements if s.lstrip().upper().startswith("CREATE TABLE")]
    # SQLite cannot drop a unique constraint: 0004 copies metric_samples through a
    # temporary table (Alembic's batch mode); every other table is created once.
    created = [s for s in creates if "_alembic_tmp_" not in s]
    assert len(created) == len(MODEL_TABLES) + 1  # + alembic_version, once
    assert len(creates) - len(created) <= 1


def test_opening_waits_for_a_migration_in_progress(store_url: str) -> None:
    """Another process holds the schema lock: the store opens only after it lets go."""
    locked = threading.Event()
    released_at: list[float] = []

    def hold_the_lock() -> None:
        with (
            raw_engine(store_url) as engine,
            engine.connect() as connection,
            schema_lock(connection),
        ):
            locked.set()
            time.sleep(0.3)
            released_at.append(time.monotonic())

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        with Store(store_url):
            opened_at = time.monotonic()
    finally:
        holder.join(timeout=10)

    assert released_at and opened_at > released_at[0]
