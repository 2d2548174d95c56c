"""Every write of the store is one statement (no read-then-insert), so processes sharing a
store never fail on each other's rows: counted with an SQLAlchemy event listener and
SQLite's trace callback (`sql_trace`), and
raced from threads that each open their own Store (own engine, own connections), on
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from factories import work_item
from sql_trace import store_statements
from sqlalchemy import select

from okrsync.domain.models import Bucket, MetricSample, WorkItem
from okrsync.store import Store, UpsertResult
from okrsync.store._tables import work_items

THREADS = 8
ROUNDS = 10
UPDATED = datetime(2026, 10, 5, 9, 30, tzinfo=UTC)

_T = TypeVar("_T")


def item(key: str, **changes: Any) -> WorkItem:
    base = work_item(
        key,
        status="In Progress",
        bucket=Bucket.IN_PROGRESS,
        points=3.0,
        labels=("okr:ONB-1",),
        parent=None,
        updated=UPDATED,
    )
    changed: WorkItem = dataclasses.replace(base, **changes)
    return changed


@contextmanager
def counted(store: Store) -> Iterator[list[str]]:
    """Every statement sent to the database (an executemany counts once)."""
    with store_statements(store) as statements:
        yield statements
    statements[:] = [" ".join(statement.split()) for statement in statements]


def is_upsert(statement: str) -> bool:
    return statement.upper().startswith("INSERT") and "ON CONFLICT" in statement.upper()


# -- statement counts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda s: s.save_writeback("jira:ONB-1", "h1", "10001"), id="save_writeback"),
        pytest.param(lambda s: s.set_cursor("jira", 42), id="set_cursor"),
        pytest.param(lambda s: s.save_webhook_secret("asana:1", "secret"), id="webhook_secret"),
        pytest.param(lambda s: s.add_sample(MetricSample("ONB-1", 70.0, UPDATED)), id="add_sample"),
        pytest.param(lambda s: s.acquire_lease("pull:jira", "a", 30), id="acquire_lease"),
    ],
)
def test_each_write_is_one_upsert_statement_first_time_and_again(
    store: Store, write: Callable[[Store], object]
) -> None:
    for _ in range(2):  # inserting, then meeting the row it inserted
        with counted(store) as statements:
            write(store)
        assert len(statements) == 1, statements
        assert is_upsert(statements[0]), statements


def test_an_item_upsert_adds_a_version_only_when_a_versioned_field_changed(store: Store) -> None:
    """The item's upsert, then (in the same transaction) its version's, both upserts, and
    with a version the one DELETE that drops kept scopes it may change."""
    with counted(store) as inserting:
        store.upsert_items([item("ONB-1")])
    with counted(store) as unchanged:
        store.upsert_items([item("ONB-1")])
    with counted(store) as touched:  # `updated` moves with edits okrsync does not read
        store.upsert_items([item("ONB-1", updated=datetime(2026, 10, 6, tzinfo=UTC))])
    with counted(store) as changed:
        store.upsert_items([item("ONB-1", status="Done", bucket=Bucket.DONE)])

    assert [len(inserting), len(unchanged), len(touched), len(changed)] == [3, 1, 1, 3]
    assert all(map(is_upsert, inserting[:2] + unchanged + touched + changed[:2]))
    assert "item_versions" in inserting[1] and "item_versions" in changed[1]
    # The same DELETE (SQLite's trace shows it with its parameter, the instant, in place).
    assert inserting[2].startswith("DELETE FROM scope_starts WHERE")
    assert changed[2].partition(">=")[0] == inserting[2].partition(">=")[0]


def test_bulk_upsert_is_insert_on_conflict_only_and_counts_exactly(store: Store) -> None:
    items = [item(f"A-{n}", parent=None if n % 10 == 0 else f"A-{n - n % 10}") for n in range(1000)]
    with counted(store) as inserting:
        assert store.upsert_items(items) == UpsertResult(1000, 0, 0)
    changed = [dataclasses.replace(i, status="Done") for i in items[:300]]
    relabelled = [dataclasses.replace(i, labels=("okr:ONB-2",)) for i in items[300:400]]
    with counted(store) as mixing:
        result = store.upsert_items(changed + relabelled + items[400:] + [item("A-new")])
    assert result == UpsertResult(1, 400, 600)
    with counted(store) as again:
        assert store.upsert_items(items[:10]) == UpsertResult(0, 10, 0)  # status back
        assert store.upsert_items(items[:10]) == UpsertResult(0, 0, 10)

    for statements in (inserting, mixing):
        assert 1 <= len(statements) <= 10, len(statements)
        *upserts, forget = statements  # the last drops kept scopes the versions may change
        assert all(map(is_upsert, upserts)), upserts[0][:200]
        assert forget.startswith("DELETE FROM scope_starts WHERE"), forget
    # the item upserts, and the versions of the 10 changed back with their DELETE
    assert len(again) == 4
    print(f"\nstatements per 1,000 items: insert {len(inserting)}, mixed {len(mixing)}")


def test_unchanged_items_are_still_marked_seen(store: Store) -> None:
    store.upsert_items([item("A-1")])
    first = seen_at(store, "A-1")
    assert store.upsert_items([item("A-1")]) == UpsertResult(0, 0, 1)
    assert seen_at(store, "A-1") > first


def seen_at(store: Store, key: str) -> datetime:
    with store.engine.connect() as connection:
        value: datetime = connection.execute(
            select(work_items.c.seen_at).where(work_items.c.key == key)
        ).scalar_one()
        return value


# -- races between "processes" ----------------------------------------------------------------


def race(store_url: str, work: Callable[[Store, int], _T]) -> tuple[list[_T], list[BaseException]]:
    """Run `work(own_store, index)` in THREADS threads released together; each thread has
    its own Store, as separate processes would."""
    stores = [Store(store_url) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    results: list[_T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        barrier.wait()
        try:
            result = work(stores[index], index)
        except BaseException as error:  # noqa: BLE001 - reported to the test
            with lock:
                errors.append(error)
            return
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for opened in stores:
            opened.close()
    return results, errors


def test_concurrent_save_writeback_never_raises(store: Store, store_url: str) -> None:
    for round_ in range(ROUNDS):
        target = f"jira:ONB-{round_}"

        def save(own: Store, index: int, target: str = target) -> None:
            own.save_writeback(target, f"hash-{index}", f"comment-{index}")

        results, errors = race(store_url, save)
        assert errors == []
        assert len(results) == THREADS
        record = store.writeback(target)
        assert record is not None and record.content_hash.startswith("hash-")


def test_concurrent_upserts_of_the_same_items_count_each_insert_once(
    store: Store, store_url: str
) -> None:
    items = [item(f"A-{n}") for n in range(50)]

    def upsert(own: Store, index: int) -> UpsertResult:
        # Overlapping sets in different orders: no deadlock, no duplicate-key error.
        mine = items[index % 2 :] if index % 3 else list(reversed(items))
        return own.upsert_items(mine)

    results, errors = race(store_url, upsert)
    assert errors == []
    assert sum(result.inserted for result in results) == len(items)
    assert len(store.items()) == len(items)


def test_concurrent_add_sample_stores_it_once(store: Store, store_url: str) -> None:
    sample = MetricSample("ONB-1", 74.0, UPDATED)
    results, errors = race(store_url, lambda own, _index: own.add_sample(sample))
    assert errors == []
    assert sorted(results) == [False] * (THREADS - 1) + [True]
    assert store.samples() == [sample]


def test_concurrent_secret_saves_and_cursor_sets_all_succeed(store: Store, store_url: str) -> None:
    def save(own: Store, index: int) -> None:
        own.save_webhook_secret("asana:1", f"secret-{index}")
        own.set_cursor("jira", 1000 + index)

    results, errors = race(store_url, save)
    assert errors == [] and len(results) == THREADS
    assert (store.webhook_secret("asana:1") or "").startswith("secret-")
    assert 1000 <= (store.cursor("jira") or 0) < 1000 + THREADS
