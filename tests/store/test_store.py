"""The store against SQLite and a real PostgreSQL server (the `store` / `store_url` fixtures)."""

from __future__ import annotations

import dataclasses
import gc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from factories import work_item
from sql_trace import store_statements

from okrsync.domain.models import Bucket, MetricSample, WorkItem
from okrsync.store import Store, UpsertResult

UPDATED = datetime(2026, 10, 5, 9, 30, 15, 123456, tzinfo=UTC)


def item(key: str, source: str = "jira", **changes: Any) -> WorkItem:
    base = work_item(
        key,
        source=source,
        status="In Progress",
        bucket=Bucket.IN_PROGRESS,
        points=3.0,
        labels=("okr:ONB-1", "frontend"),
        parent="ONB-1",
        updated=UPDATED,
        remote_id=f"1000{key}",
    )
    return dataclasses.replace(base, **changes)


def sample(kr_id: str, value: float, day: int) -> MetricSample:
    return MetricSample(kr_id=kr_id, value=value, at=datetime(2026, 10, day, tzinfo=UTC))


# -- work items ---------------------------------------------------------------------------


def test_upsert_counts_inserted_updated_and_unchanged(store: Store) -> None:
    assert store.upsert_items([item("A-1"), item("A-2")]) == UpsertResult(2, 0, 0)

    result = store.upsert_items([item("A-1"), item("A-2", status="Done"), item("A-3")])

    assert result == UpsertResult(inserted=1, updated=1, unchanged=1)
    assert {i.key: i.status for i in store.items()} == {
        "A-1": "In Progress",
        "A-2": "Done",
        "A-3": "In Progress",
    }


def test_upsert_of_nothing_touches_nothing(store: Store) -> None:
    assert store.upsert_items([]) == UpsertResult(0, 0, 0)


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Renamed"},
        {"bucket": Bucket.DONE},
        {"points": None},
        {"labels": ("okr:ONB-2",)},
        {"parent": None},
        {"updated": UPDATED + timedelta(microseconds=1)},
        {"remote_id": "other"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_changed_field_counts_as_updated(store: Store, change: dict[str, Any]) -> None:
    store.upsert_items([item("A-1")])

    assert store.upsert_items([item("A-1", **change)]) == UpsertResult(0, 1, 0)
    assert store.items() == [item("A-1", **change)]


def test_same_instant_in_another_timezone_is_unchanged(store: Store) -> None:
    store.upsert_items([item("A-1")])
    same_instant = UPDATED.astimezone(timezone(timedelta(hours=-7)))

    assert store.upsert_items([item("A-1", updated=same_instant)]) == UpsertResult(0, 0, 1)


def test_repeated_keys_in_one_call_keep_the_last(store: Store) -> None:
    result = store.upsert_items([item("A-1", title="first"), item("A-1", title="last")])

    assert result == UpsertResult(inserted=1, updated=0, unchanged=0)
    assert [i.title for i in store.items()] == ["last"]


def test_same_key_in_two_sources_are_two_items(store: Store) -> None:
    store.upsert_items([item("42", source="github"), item("42", source="asana")])

    assert [i.source for i in store.items()] == ["asana", "github"]
    assert [i.source for i in store.items("github")] == ["github"]


def test_the_collector_paused_for_bulk_work_runs_again_after_it(store: Store) -> None:
    """Reads and upserts pause the cyclic collector and restore it as it was: running
    after them (an error included), still off when the caller had turned it off."""
    assert gc.isenabled()
    store.upsert_items([item("A-1")])
    assert gc.isenabled() and [i.key for i in store.items()] == ["A-1"]
    assert gc.isenabled() and len(store.items(as_of=datetime.now(UTC))) == 1
    assert gc.isenabled()
    with pytest.raises(ValueError):
        store.upsert_items([item("A-2", bucket="nowhere")])
    assert gc.isenabled()
    gc.disable()
    try:
        store.upsert_items([item("A-3")])
        assert len(store.items()) == 2
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_items_of_one_source_are_that_sources_only(store: Store) -> None:
    store.upsert_items([item(f"A-{n}", source=source) for n in range(3) for source in ("b", "a")])

    assert [i.key for i in store.items("a")] == ["A-0", "A-1", "A-2"]
    assert {i.source for i in store.items("a")} == {"a"}
    assert store.items("c") == []


def test_items_round_trip_with_aware_utc_datetimes(store: Store) -> None:
    in_berlin = UPDATED.astimezone(timezone(timedelta(hours=2)))
    stored = item("A-1", updated=in_berlin, labels=("okr:ONB-1", "ünïcode", "a b"), points=None)
    store.upsert_items([stored])

    (loaded,) = store.items()

    assert loaded == stored
    assert loaded.updated.tzinfo == UTC
    assert loaded.updated == UPDATED
    assert loaded.labels == ("okr:ONB-1", "ünïcode", "a b")
    assert loaded.bucket is Bucket.IN_PROGRESS


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        store.upsert_items([item("A-1", updated=datetime(2026, 10, 5))])
    assert store.items() == []


def test_delete_items_counts_only_existing_keys_of_that_source(store: Store) -> None:
    store.upsert_items([item("A-1"), item("A-2"), item("A-1", source="github")])

    assert store.delete_items("jira", ["A-1", "A-1", "missing"]) == 1
    assert [(i.source, i.key) for i in store.items()] == [("github", "A-1"), ("jira", "A-2")]
    assert store.delete_items("jira", []) == 0


def test_item_keys_are_one_sources_stored_keys_sorted(store: Store) -> None:
    store.upsert_items([item("A-2"), item("A-1"), item("B-1", source="github")])
    store.delete_items("jira", ["A-2"])

    assert store.item_keys("jira") == ["A-1"]
    assert store.item_keys("github") == ["B-1"]
    assert store.item_keys("asana") == []


def test_bulk_upsert_uses_a_bounded_number_of_statements(store: Store) -> None:
    items = [item(f"A-{n}", parent=None if n % 10 == 0 else f"A-{n - n % 10}") for n in range(1000)]

    with store_statements(store) as inserting:
        assert store.upsert_items(items) == UpsertResult(1000, 0, 0)
    changed = [dataclasses.replace(i, status="Done") for i in items[:500]] + items[500:]
    with store_statements(store) as mixing:
        assert store.upsert_items(changed) == UpsertResult(0, 500, 500)

    assert len(inserting) <= 10, inserting
    assert len(mixing) <= 10, mixing
    assert len(store.items()) == 1000


# -- metric samples -------------------------------------------------------------------------


def test_add_sample_is_idempotent(store: Store) -> None:
    assert store.add_sample(sample("ONB-1", 70.0, 3)) is True
    assert store.add_sample(sample("ONB-1", 70.0, 3), origin="csv") is False
    assert store.add_sample(sample("ONB-1", 71.0, 3)) is False  # one per KR and instant
    assert store.add_sample(sample("ONB-2", 70.0, 3)) is True

    assert store.samples() == [sample("ONB-1", 70.0, 3), sample("ONB-2", 70.0, 3)]


def test_samples_are_ordered_by_time_and_filtered_by_kr(store: Store) -> None:
    for added in (sample("ONB-1", 74.0, 20), sample("ONB-1", 68.0, 1), sample("SEC-1", 5.0, 9)):
        store.add_sample(added)
    store.add_sample(sample("ONB-1", 71.0, 10), origin="csv")

    assert [s.value for s in store.samples("ONB-1")] == [68.0, 71.0, 74.0]
    assert [s.kr_id for s in store.samples()] == ["ONB-1", "SEC-1", "ONB-1", "ONB-1"]
    assert store.samples("missing") == []


def test_sample_instants_come_back_aware_utc(store: Store) -> None:
    at = datetime(2026, 10, 3, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    store.add_sample(MetricSample("ONB-1", 70.5, at))

    (loaded,) = store.samples()

    assert loaded == MetricSample("ONB-1", 70.5, at)
    assert loaded.at.tzinfo == UTC
    assert store.add_sample(MetricSample("ONB-1", 70.5, at.astimezone(UTC))) is False


# -- cursors and write-back records ----------------------------------------------------------


def test_cursor_set_get_and_overwrite(store: Store) -> None:
    assert store.cursor("jira") is None
    beyond_32_bits = 1_790_000_000_000

    store.set_cursor("jira", beyond_32_bits)
    store.set_cursor("github", 1)
    assert store.cursor("jira") == beyond_32_bits

    store.set_cursor("jira", beyond_32_bits + 5)
    assert (store.cursor("jira"), store.cursor("github")) == (beyond_32_bits + 5, 1)


def test_writeback_save_overwrite_and_get(store: Store) -> None:
    assert store.writeback("jira:ONB-12") is None
    before = datetime.now(UTC)

    store.save_writeback("jira:ONB-12", "hash-1", "10001")
    store.save_writeback("jira:ONB-12", "hash-2", "10002")
    store.save_writeback("github:acme/web#7", "hash-3", "555")

    record = store.writeback("jira:ONB-12")
    assert record is not None
    assert (record.target, record.content_hash, record.remote_id) == (
        "jira:ONB-12",
        "hash-2",
        "10002",
    )
    assert record.written_at.tzinfo == UTC
    assert before <= record.written_at <= datetime.now(UTC)


# -- connections ------------------------------------------------------------------------------


def test_ping_succeeds_on_a_reachable_database(store: Store) -> None:
    store.ping()


def test_a_second_store_sees_the_first_ones_writes(store_url: str) -> None:
    with Store(store_url) as writer, Store(store_url) as reader:
        writer.upsert_items([item("A-1")])
        writer.set_cursor("jira", 7)
        assert reader.items() == [item("A-1")]
        assert reader.cursor("jira") == 7

        reader.upsert_items([item("A-1", status="Done")])
        assert [i.status for i in writer.items()] == ["Done"]


def test_sqlite_file_uses_wal_and_creates_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "okrsync.db"

    with Store(f"sqlite:///{path}") as store, store.engine.connect() as connection:
        journal_mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        foreign_keys = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()

    assert path.exists()
    assert (journal_mode, foreign_keys) == ("wal", 1)


def test_in_memory_sqlite_keeps_its_data_between_calls() -> None:
    with Store("sqlite://") as store:
        store.upsert_items([item("A-1")])
        assert store.items() == [item("A-1")]


def test_ping_raises_when_the_database_is_unreachable(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'okrsync.db'}")
    store.close()
    (tmp_path / "okrsync.db").unlink()
    (tmp_path / "okrsync.db").mkdir()  # a directory cannot be opened as a database

    with pytest.raises(Exception):  # noqa: B017 - any driver error means "not ready"
        store.ping()


def test_writebacks_reads_many_targets_in_one_go(store: Store) -> None:
    store.save_writeback("jira:ONB-1", "h1", "10")
    store.save_writeback("github:acme/web#2", "h2", "20")

    found = store.writebacks(["jira:ONB-1", "github:acme/web#2", "asana:1", "jira:ONB-1"])

    assert {target: (r.content_hash, r.remote_id) for target, r in found.items()} == {
        "jira:ONB-1": ("h1", "10"),
        "github:acme/web#2": ("h2", "20"),
    }
    assert store.writebacks([]) == {}


def test_stores_opened_on_one_new_sqlite_file_at_once_all_open(tmp_path: Path) -> None:
    """Switching a new database to WAL needs it to itself, and SQLite can refuse that at
    once, busy timeout or not (seen as two `sync --once` on a new store, one exiting 3 with
    "database is locked"): several stores opened on one new file at once all open."""
    import threading

    def open_store(url: str, start: threading.Barrier, errors: list[BaseException]) -> None:
        start.wait()
        try:
            Store(url).close()
        except BaseException as error:  # noqa: BLE001 - collected for the assert
            errors.append(error)

    for round_ in range(20):
        url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
        start = threading.Barrier(4)
        errors: list[BaseException] = []
        threads = [threading.Thread(target=open_store, args=(url, start, errors)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
