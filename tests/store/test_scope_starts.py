"""Kept scopes at a cycle start (revision 0006): saved and read back per fingerprint and
start, and dropped by any version learned at or before their start, on SQLite and a real
PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from factories import work_item
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from okrsync.domain import Bucket
from okrsync.store import Store, alembic_config, current_revision
from okrsync.store._engine import create_store_engine

START = datetime(2026, 10, 1, tzinfo=UTC)
NEXT_START = datetime(2027, 1, 1, tzinfo=UTC)
BEFORE = datetime(2026, 9, 20, tzinfo=UTC)
AFTER = datetime(2026, 11, 10, tzinfo=UTC)


def test_kept_weights_are_read_back_by_fingerprint_and_start(store: Store) -> None:
    assert store.scope_start("f1", START) is None

    store.save_scope_start("f1", START, {"ONB-1": 13.0, "ONB-2": 0.0})
    store.save_scope_start("f1", START, {"ONB-1": 12.5})  # replaced
    store.save_scope_start("f2", START, {"ONB-1": 1.0})

    assert store.scope_start("f1", START) == {"ONB-1": 12.5}
    assert store.scope_start("f2", START) == {"ONB-1": 1.0}
    assert store.scope_start("f1", NEXT_START) is None


def test_a_version_learned_after_the_start_keeps_them(store: Store) -> None:
    store.upsert_items([work_item("ONB-10", labels=["okr:ONB-1"])], seen_at=BEFORE)
    store.save_scope_start("f1", START, {"ONB-1": 1.0})

    store.upsert_items([work_item("ONB-10", bucket=Bucket.DONE)], seen_at=AFTER)
    store.delete_items("jira", ["ONB-10"], at=AFTER)

    assert store.scope_start("f1", START) == {"ONB-1": 1.0}


def test_a_version_learned_at_or_before_a_start_drops_that_start_and_later_ones(
    store: Store,
) -> None:
    store.save_scope_start("f1", START, {"ONB-1": 1.0})
    store.save_scope_start("f2", START, {"ONB-1": 2.0})
    store.save_scope_start("f1", NEXT_START, {"ONB-1": 3.0})

    store.upsert_items([work_item("ONB-10", labels=["okr:ONB-1"])], seen_at=AFTER)  # back-dated

    assert store.scope_start("f1", START) == {"ONB-1": 1.0}  # before AFTER: unchanged
    assert store.scope_start("f2", START) == {"ONB-1": 2.0}
    assert store.scope_start("f1", NEXT_START) is None

    store.save_scope_start("f1", NEXT_START, {"ONB-1": 3.0})
    store.upsert_items([work_item("ONB-11", labels=["okr:ONB-1"])], seen_at=START)  # at it
    assert store.scope_start("f1", START) is None
    assert store.scope_start("f2", START) is None
    assert store.scope_start("f1", NEXT_START) is None


def test_a_deletion_learned_before_a_start_drops_it(store: Store) -> None:
    store.upsert_items([work_item("ONB-10", labels=["okr:ONB-1"])], seen_at=BEFORE)
    store.save_scope_start("f1", START, {"ONB-1": 1.0})

    assert store.delete_items("jira", ["ONB-404"], at=BEFORE) == 0  # no version: kept
    assert store.scope_start("f1", START) == {"ONB-1": 1.0}

    assert store.delete_items("jira", ["ONB-10"], at=BEFORE) == 1
    assert store.scope_start("f1", START) is None


def test_an_upsert_without_a_new_version_keeps_them(store: Store) -> None:
    store.upsert_items([work_item("ONB-10", labels=["okr:ONB-1"])], seen_at=BEFORE)
    store.save_scope_start("f1", START, {"ONB-1": 1.0})

    store.upsert_items([work_item("ONB-10", labels=["okr:ONB-1"])], seen_at=BEFORE)

    assert store.scope_start("f1", START) == {"ONB-1": 1.0}


def test_revision_0006_adds_the_table_and_its_downgrade_drops_it(store_url: str) -> None:
    config = alembic_config(store_url)
    command.upgrade(config, "0005")
    engine = create_store_engine(make_url(store_url))
    try:
        assert "scope_starts" not in inspect(engine).get_table_names()
        with Store(store_url) as store:  # opening migrates to the head
            store.save_scope_start("f1", START, {"ONB-1": 1.0})
            assert store.scope_start("f1", START) == {"ONB-1": 1.0}

        command.downgrade(config, "0005")
        assert "scope_starts" not in inspect(engine).get_table_names()
        assert current_revision(store_url) == "0005"
    finally:
        engine.dispose()
