"""SQLite's `upsert_items` (hand-written multi-row SQL over the stdlib sqlite3 connection,
values converted by `_values`: `_sqlite_upsert`) leaves exactly the rows SQLAlchemy's own
executemany of the same statements (`CoreStore.upsert_items`, PostgreSQL's path) leaves:
every column of both tables compared as SQLite stores it (`quote()`: type and bytes),
rowids included, and the same `UpsertResult`s, whether it reads what it did from the rows
its statement returns or (a large upsert) by scanning for the rows seen at its instant."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from okrsync.domain.models import Bucket, WorkItem
from okrsync.store import Store, UpsertResult, _sqlite_upsert

BASE = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))
TABLES = ("work_items", "item_versions")


def portable(store: Store) -> Store:
    """`store` writing items through SQLAlchemy Core (`CoreStore`, PostgreSQL's path)."""
    if store._sqlite is not None:
        store._sqlite.close()
        store._sqlite = None
    return store


def upsert(
    store: Store, items: Sequence[WorkItem], stamp: datetime, seen_at: datetime | None
) -> UpsertResult:
    """`upsert_items` with the upsert's own instant fixed at `stamp`."""
    if store._sqlite is None:
        store._core()._next_seen_at = lambda: stamp  # type: ignore[method-assign]
    else:
        store._sqlite._next_seen_at = lambda: stamp  # type: ignore[method-assign]
    return store.upsert_items(items, seen_at=seen_at)


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of both tables as SQLite stores them: rowid and `quote()` of each column."""
    connection = sqlite3.connect(path)
    try:
        dumped = {}
        for table in TABLES:
            names = [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
            quoted = ", ".join(f'quote("{name}")' for name in names)
            dumped[table] = connection.execute(
                f"SELECT rowid, {quoted} FROM {table} ORDER BY rowid"
            ).fetchall()
        return dumped
    finally:
        connection.close()


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    yield tmp_path / "fast.db", tmp_path / "portable.db"


@pytest.fixture(params=["returned", "scanned"])
def outcome(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every fast-path upsert reading what it did the one way: from the rows returned,
    or by the scan (which otherwise only upserts of 2,000 items and more take)."""
    scanned = request.param == "scanned"
    monkeypatch.setattr(_sqlite_upsert, "SCANNED_UPSERT_ROWS", 1 if scanned else 10**9)
    monkeypatch.setattr(_sqlite_upsert, "SCANNED_UPSERT_SHARE", 10**9)
    return str(request.param)


def item(key: str, **changes: object) -> WorkItem:
    base = WorkItem(
        source="jira",
        key=key,
        title=f"Item {key}",
        type="Story",
        status="To Do",
        bucket=Bucket.TODO,
        points=None,
        labels=(),
        parent=None,
        updated=BASE - timedelta(days=3),
        url=f"https://example.test/jira/{key}",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


KEYS = [f"K-{n}" for n in range(8)]
items_strategy = st.builds(
    item,
    st.sampled_from(KEYS),
    source=st.sampled_from(["jira", "github"]),
    title=st.sampled_from(["A", "B", "émoji ✓", ""]),
    type=st.sampled_from(["Story", "Epic"]),
    status=st.sampled_from(["To Do", "Done", "In Progress"]),
    bucket=st.sampled_from(list(Bucket)),
    points=st.sampled_from([None, 0.0, 1.0, 2.5, 3, 1e-7]),
    labels=st.sampled_from([(), ("a",), ("a", "b"), ("b", "a"), ("okr:KR-1", "ü")]),
    parent=st.sampled_from([None, "K-0", "K-1"]),
    updated=st.sampled_from(
        [
            BASE - timedelta(days=3),
            (BASE - timedelta(days=3)).astimezone(PLUS_TWO),  # the same instant
            BASE - timedelta(days=2, microseconds=1),
            datetime(2026, 10, 5, 9, 30, 0, 500000, tzinfo=PLUS_TWO),
        ]
    ),
    url=st.sampled_from(["https://example.test/a", "https://example.test/b"]),
    remote_id=st.sampled_from(["", "10001"]),
    child_count=st.sampled_from([None, 0, 4]),
)
rounds_strategy = st.lists(
    st.tuples(
        st.lists(items_strategy, max_size=12),
        st.sampled_from([None, BASE + timedelta(hours=1), BASE + timedelta(hours=2)]),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=rounds_strategy)
def test_the_fast_path_leaves_the_rows_and_counts_of_sqlalchemys(
    tmp_path_factory: pytest.TempPathFactory,
    outcome: str,
    rounds: list[tuple[list[WorkItem], datetime | None]],
) -> None:
    scratch = tmp_path_factory.mktemp("upsert")
    fast_path, portable_path = scratch / "fast.db", scratch / "portable.db"
    with (
        Store(f"sqlite:///{fast_path}") as fast,
        portable(Store(f"sqlite:///{portable_path}")) as slow,
    ):
        for n, (items, seen_at) in enumerate(rounds):
            stamp = BASE + timedelta(minutes=n, microseconds=n)
            assert upsert(fast, items, stamp, seen_at) == upsert(slow, items, stamp, seen_at)
    assert dump(fast_path) == dump(portable_path)


def test_every_kind_of_change_across_statement_pages(pair: tuple[Path, Path], outcome: str) -> None:
    """2,500 items (three statements of up to 1,000 rows), then each field changed on some,
    labels reordered, points and parents cleared, some unchanged, some new."""
    fast_path, portable_path = pair
    first = [
        item(
            f"K-{n:05}",
            points=float(n % 5) if n % 7 else None,
            labels=("a", "b") if n % 3 else ("okr:KR-1",),
            parent=None if n % 10 == 0 else f"K-{n - n % 10:05}",
            child_count=9 if n % 10 == 0 else None,
        )
        for n in range(2500)
    ]
    changes: list[dict[str, object]] = [
        {"title": "new title"},
        {"type": "Epic"},
        {"status": "Done", "bucket": Bucket.DONE},
        {"bucket": Bucket.EXCLUDED},
        {"points": 8},
        {"points": None},
        {"labels": ("b", "a")},
        {"labels": ()},
        {"parent": None},
        {"parent": "K-00001"},
        {"updated": BASE - timedelta(days=1)},  # changed, not versioned
        {"updated": (BASE - timedelta(days=3)).astimezone(PLUS_TWO)},  # the same instant
        {"url": "https://example.test/moved"},
        {"remote_id": "99"},
        {"child_count": 3},
        {},
    ]
    second = [
        dataclasses.replace(old, **changes[n % len(changes)])  # type: ignore[arg-type]
        for n, old in enumerate(first)
    ]
    second += [item(f"N-{n}") for n in range(30)]
    with (
        Store(f"sqlite:///{fast_path}") as fast,
        portable(Store(f"sqlite:///{portable_path}")) as slow,
    ):
        results = []
        for n, (items, seen_at) in enumerate(
            [(first, None), (second, BASE + timedelta(hours=5)), (second, None), (first, None)]
        ):
            stamp = BASE + timedelta(minutes=n)
            result = upsert(fast, items, stamp, seen_at)
            assert result == upsert(slow, items, stamp, seen_at)
            results.append(result)
    assert results[0] == UpsertResult(2500, 0, 0)
    assert results[1].inserted == 30 and results[1].updated > 2000 and results[1].unchanged > 150
    assert results[2] == UpsertResult(0, 0, 2530)
    assert dump(fast_path) == dump(portable_path)


def test_a_store_written_by_sqlalchemys_path_reads_an_unchanged_upsert_as_unchanged(
    tmp_path: Path, outcome: str
) -> None:
    """A store written before the fast path (SQLAlchemy's executemany) meets the same
    items again through the fast path: nothing updated, no new version, only `seen_at`
    moves."""
    path = tmp_path / "old.db"
    items = [
        item(
            f"K-{n}",
            points=[None, 1.0, 2.5][n % 3],
            labels=[(), ("b", "a"), ("okr:KR-1", "ü")][n % 3],
            parent=None if n % 4 == 0 else "K-0",
            updated=(BASE - timedelta(days=n % 3)).astimezone(PLUS_TWO),
            child_count=[None, 0, 5][n % 3],
        )
        for n in range(1500)
    ]
    with portable(Store(f"sqlite:///{path}")) as old:
        assert upsert(old, items, BASE, None) == UpsertResult(1500, 0, 0)
    before = dump(path)
    with Store(f"sqlite:///{path}") as new:
        assert upsert(new, items, BASE + timedelta(hours=1), None) == UpsertResult(0, 0, 1500)
    after = dump(path)
    assert after["item_versions"] == before["item_versions"]
    # Every column of every item the same but `seen_at` (the last column but three).
    seen = len(after["work_items"][0]) - 4
    assert [row[:seen] + row[seen + 1 :] for row in after["work_items"]] == [
        row[:seen] + row[seen + 1 :] for row in before["work_items"]
    ]
    assert {row[seen] for row in after["work_items"]} == {"'2026-11-01 09:00:00.000000'"}


def test_a_scanned_upsert_meeting_another_upsert_at_its_instant_counts_only_its_own(
    tmp_path: Path, outcome: str
) -> None:
    """Another process's upsert had the same instant (the same microsecond): the scan
    cannot tell those rows from its own, so the upsert is rolled back and done again
    from the rows returned. Counts and versions as if the other's rows were not there."""
    path = tmp_path / "shared.db"
    theirs = [item(f"T-{n}") for n in range(5)]
    ours = [item(f"K-{n:04}", parent="K-0000" if n else None) for n in range(300)]
    with Store(f"sqlite:///{path}") as other, Store(f"sqlite:///{path}") as store:
        assert upsert(other, theirs, BASE, None) == UpsertResult(5, 0, 0)
        assert upsert(store, ours, BASE, None) == UpsertResult(300, 0, 0)
        changed = [dataclasses.replace(old, title="new") for old in ours[:100]] + ours[100:]
        at = BASE + timedelta(hours=1)
        assert upsert(other, theirs[:2], at, None) == UpsertResult(0, 0, 2)
        assert upsert(store, changed, at, None) == UpsertResult(0, 100, 200)
    versions = dump(path)["item_versions"]
    assert len(versions) == 5 + 300 + 100
    assert sum(1 for row in versions if row[3] == "'2026-11-01 09:00:00.000000'") == 100
