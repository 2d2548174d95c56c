"""A SQLite store's everyday operations run on the stdlib sqlite3 module (`_sqlite`),
converting values with `_values`: these must be SQLAlchemy's conversions exactly (the
stored bytes and what is read back), either path must read what the other wrote, an
in-memory store's two paths must share its one database, and one store must serve
threads at once."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from alembic import command
from factories import work_item
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Boolean, Float
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.types import TypeEngine

from okrsync.domain.models import Bucket, KRSnapshot, MetricSample, WorkItem
from okrsync.store import (
    SchemaNotCurrentError,
    Store,
    _core,
    _sqlite,
    _sqlite_upsert,
    alembic_config,
    current_revision,
    head_revision,
)
from okrsync.store._tables import UtcDateTime, work_items
from okrsync.store._values import (
    bool_to_sqlite,
    datetime_from_sqlite,
    datetime_to_sqlite,
    float_to_sqlite,
    json_from_sqlite,
    json_to_sqlite,
)

DIALECT = sqlite_dialect.dialect()
RECORDED_AT = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)


def bind(type_: TypeEngine[Any]) -> Callable[[Any], Any]:
    """What SQLAlchemy sends SQLite for a value of `type_`."""
    processor = type_.dialect_impl(DIALECT).bind_processor(DIALECT)
    assert processor is not None
    return processor


def result(type_: TypeEngine[Any]) -> Callable[[Any], Any]:
    """What SQLAlchemy makes of a value of `type_` SQLite gives back."""
    processor = type_.dialect_impl(DIALECT).result_processor(DIALECT, None)
    assert processor is not None
    return processor


offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# Aware instants of any offset, microseconds included, whose UTC is a valid datetime.
instants = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


# -- the conversions are SQLAlchemy's ------------------------------------------------------


@given(instants)
def test_datetimes_are_stored_and_read_as_sqlalchemy_does(value: datetime) -> None:
    stored = datetime_to_sqlite(value)
    assert stored == bind(UtcDateTime())(value)
    assert datetime_from_sqlite(stored) == result(UtcDateTime())(stored) == value
    assert datetime_from_sqlite(stored).tzinfo is UTC


def test_naive_datetimes_are_refused_by_both() -> None:
    naive = datetime(2026, 10, 5, 9, 30)
    with pytest.raises(ValueError, match="naive datetime"):
        datetime_to_sqlite(naive)
    with pytest.raises(ValueError, match="naive datetime"):
        bind(UtcDateTime())(naive)


@given(json_values)
def test_json_is_stored_and_read_as_sqlalchemy_does(value: Any) -> None:
    json_type = work_items.c.labels.type
    stored = json_to_sqlite(value)
    assert stored == bind(json_type)(value)
    assert json_from_sqlite(stored) == result(json_type)(stored) == value


@given(st.booleans())
def test_booleans_are_stored_as_sqlalchemy_does(value: bool) -> None:
    assert bool_to_sqlite(value) == bind(Boolean())(value)
    assert type(bool_to_sqlite(value)) is type(bind(Boolean())(value))


@given(st.none() | st.integers(min_value=-(2**53), max_value=2**53) | st.floats(allow_nan=False))
def test_floats_are_stored_as_sqlalchemy_does(value: float | None) -> None:
    sent = float_to_sqlite(value)
    assert sent == bind(Float())(value)
    assert type(sent) is type(bind(Float())(value))


# -- either path reads what the other wrote -------------------------------------------------


def dump(path: Path, table: str) -> list[tuple[object, ...]]:
    """Every row of `table` as SQLite stores it: rowid and `quote()` of each column."""
    connection = sqlite3.connect(path)
    try:
        names = [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
        quoted = ", ".join(f'quote("{name}")' for name in names)
        return connection.execute(f"SELECT rowid, {quoted} FROM {table} ORDER BY rowid").fetchall()
    finally:
        connection.close()


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both paths stamp writes with RECORDED_AT, so their rows can be compared whole."""
    monkeypatch.setattr(_sqlite, "utcnow", lambda: RECORDED_AT)
    monkeypatch.setattr(_core, "utcnow", lambda: RECORDED_AT)


samples = st.builds(
    MetricSample,
    kr_id=st.sampled_from(["ONB-1", "ONB-2", "ünï"]),
    value=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6),
    at=instants,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            samples,
            st.sampled_from(["manual", "import"]),
            st.none() | st.text(max_size=20),
            st.none() | st.floats(allow_nan=False),
        ),
        max_size=6,
    )
)
def test_a_sample_added_by_either_path_is_the_same_bytes(
    tmp_path_factory: pytest.TempPathFactory,
    fixed_clock: None,
    added: list[tuple[MetricSample, str, str | None, float | None]],
) -> None:
    folder = tmp_path_factory.mktemp("samples")
    raw_path, core_path = folder / "raw.db", folder / "core.db"
    with Store(f"sqlite:///{raw_path}") as raw, Store(f"sqlite:///{core_path}") as core:
        for sample, origin, note, confidence in added:
            assert raw.add_sample(sample, origin, note, confidence) == core._core().add_sample(
                sample, origin, note, confidence
            )
        assert dump(raw_path, "metric_samples") == dump(core_path, "metric_samples")
        # And each path reads the other's rows as its own.
        assert raw.samples() == core._core().samples() == core.samples()
        assert raw.sample_records("ONB-1") == core._core().sample_records("ONB-1")


snapshots = st.builds(
    KRSnapshot,
    kr_id=st.sampled_from(["ONB-1", "ONB-2"]),
    at=st.sampled_from([datetime(2026, 11, d, 5, tzinfo=UTC) for d in (1, 2, 3)]),
    current=st.none() | st.sampled_from([70.0, 71, 72.5]),
    outcome_progress=st.none() | st.sampled_from([0.1, 0.2]),
    delivery_progress=st.none() | st.just(0.3),
    expected_progress=st.sampled_from([0.5, 0.6]),
    health=st.sampled_from(["on_track", "at_risk"]),
    done_weight=st.sampled_from([1.0, 2]),
    total_weight=st.just(4.0),
)
cycle_writes = st.one_of(
    st.tuples(st.just("save_kr_snapshots"), st.lists(snapshots, max_size=5)),
    st.tuples(
        st.just("set_metric_error"),
        st.sampled_from(["ONB-1", "ONB-2"]),
        st.none() | st.sampled_from(["timeout", "HTTP 500"]),
        st.sampled_from([datetime(2026, 11, d, tzinfo=UTC) for d in (1, 2, 3)]),
    ),
    st.tuples(st.just("set_cursor"), st.sampled_from(["jira", "github"]), st.integers(0, 2**62)),
    st.tuples(
        st.just("save_etags"),
        st.sampled_from(["jira", "github"]),
        st.dictionaries(st.sampled_from(["https://x/1", "https://x/2?a=b"]), st.text(max_size=5)),
    ),
    st.tuples(
        st.just("save_writeback"),
        st.sampled_from(["jira:ONB-1", "jira:ONB_2", "github:a/b#1"]),
        st.text(max_size=5),
        st.text(max_size=5),
    ),
    st.tuples(
        st.just("save_scope_start"),
        st.sampled_from(["fp1", "fp2"]),
        st.sampled_from([datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 1, 1, tzinfo=UTC)]),
        st.dictionaries(st.sampled_from(["ONB-1", "ONB-2"]), st.floats(0, 100)),
    ),
    st.tuples(
        st.just("acquire_lease"),
        st.just("pull:jira"),
        st.sampled_from(["a", "b"]),
        st.sampled_from([30.0, 0.5]),
        st.sampled_from([datetime(2026, 11, 1, 0, 0, s, tzinfo=UTC) for s in (0, 1, 40)]),
    ),
    st.tuples(st.just("release_lease"), st.just("pull:jira"), st.sampled_from(["a", "b"])),
)
# The instants an item write's versions are learned at (None: the store's next instant),
# before, between and after the kept scopes' starts (`save_scope_start`), which those at
# or after them drop.
learned = st.sampled_from(
    [
        None,
        datetime(2026, 9, 30, tzinfo=UTC),
        datetime(2026, 10, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 10, 1, 1, tzinfo=UTC),
    ]
)
ITEM_KEYS = [f"ONB-{n}" for n in range(6)]
work_items_strategy = st.builds(
    work_item,
    st.sampled_from(ITEM_KEYS),
    source=st.sampled_from(["jira", "github"]),
    title=st.sampled_from([None, "A", "émoji ✓", ""]),
    status=st.sampled_from(["", "Done", "In Progress"]),
    bucket=st.sampled_from(list(Bucket)),
    points=st.sampled_from([None, 0.0, 1.0, 2.5, 3, 1e-7]),
    labels=st.sampled_from([(), ("a",), ("a", "b"), ("b", "a"), ("okr:ONB-1", "ü")]),
    parent=st.sampled_from([None, "ONB-0", "ONB-1"]),
    updated=st.sampled_from(
        [
            datetime(2026, 10, 5, 9, 30, tzinfo=UTC),
            datetime(2026, 10, 5, 11, 30, tzinfo=timezone(timedelta(hours=2))),  # the same
            datetime(2026, 10, 6, 0, 0, 0, 1, tzinfo=UTC),
        ]
    ),
    remote_id=st.sampled_from(["", "10001"]),
    child_count=st.sampled_from([None, 0, 4]),
)
# What a cycle writes of items: upserts (new, changed, unchanged items; parents moved)
# read from the rows returned or (`scanned`: as a large upsert does) by a scan for their
# instant, large upserts taking the scan by their size, deletions.
item_writes = st.one_of(
    st.tuples(
        st.just("upsert_items"), st.lists(work_items_strategy, max_size=10), learned, st.booleans()
    ),
    st.tuples(st.just("upsert_many"), st.integers(0, 3), learned, st.sampled_from([2_000, 2_400])),
    st.tuples(
        st.just("delete_items"),
        st.sampled_from(["jira", "github"]),
        st.lists(st.sampled_from([*ITEM_KEYS, "BIG-7", "BIG-2001", "NONE"]), min_size=1),
        learned,
    ),
)
TABLES = (
    "work_items",
    "item_versions",
    "kr_snapshots",
    "metric_errors",
    "sync_cursors",
    "http_etags",
    "writebacks",
    "scope_starts",
    "job_leases",
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(cycle_writes | item_writes, max_size=8))
def test_a_cycles_writes_by_either_path_are_the_same_bytes(
    tmp_path_factory: pytest.TempPathFactory, fixed_clock: None, writes: list[tuple[Any, ...]]
) -> None:
    """What a sync cycle writes, items included, through sqlite3 (`store`) and through
    SQLAlchemy (`store._core()`, PostgreSQL's path): the same answers and the same rows,
    every table's (rowids included: the versions are written in the same order)."""
    folder = tmp_path_factory.mktemp("cycle")
    raw_path, core_path = folder / "raw.db", folder / "core.db"
    with Store(f"sqlite:///{raw_path}") as raw, Store(f"sqlite:///{core_path}") as core:
        for name, *arguments in writes:
            if name in ("upsert_items", "upsert_many"):
                assert upsert_either_way(raw, core, name, *arguments)
            else:
                assert getattr(raw, name)(*arguments) == getattr(core._core(), name)(*arguments)
        for table in TABLES:
            assert dump(raw_path, table) == dump(core_path, table), table
        at = datetime(2026, 11, 1, 0, 0, 20, tzinfo=UTC)
        assert raw.lease_holder("pull:jira", at) == core._core().lease_holder("pull:jira", at)
        for source in ("jira", "github"):
            assert raw.etags(source) == core._core().etags(source)
            assert raw.writebacks_of(source) == core._core().writebacks_of(source)


def many_items(variant: int) -> list[WorkItem]:
    """2,400 items, some of them changed (or parents moved) by `variant`."""
    return [
        work_item(
            f"BIG-{n}",
            points=float(n % 3) if (n + variant) % 5 else None,
            labels=("a", "b") if (n * variant) % 7 else ("b", "a"),
            parent=None if n % 10 == 0 else f"BIG-{n - n % 10 + (variant if n % 11 else 0)}",
            status="Done" if (n + variant) % 13 == 0 else "",
            updated=datetime(2026, 10, 5 + (n % (variant + 1)), tzinfo=UTC),
        )
        for n in range(2_400)
    ]


def upsert_either_way(
    raw: Store, core: Store, name: str, items: Any, seen_at: datetime | None, how: Any
) -> bool:
    """The same `upsert_items` through either path, the sqlite3 path's reading what it did
    by a scan (`how` True), from the rows returned (False) or as its size decides (a
    number: that many of `many_items`); whether both answered the same."""
    if name == "upsert_many":
        items = many_items(items)[:how]
        rows, share = _sqlite_upsert.SCANNED_UPSERT_ROWS, _sqlite_upsert.SCANNED_UPSERT_SHARE
    else:
        rows, share = (1 if how else 10**9), 10**9
    with (
        mock.patch.object(_sqlite_upsert, "SCANNED_UPSERT_ROWS", rows),
        mock.patch.object(_sqlite_upsert, "SCANNED_UPSERT_SHARE", share),
    ):
        return bool(raw.upsert_items(items, seen_at) == core._core().upsert_items(items, seen_at))


def test_what_sqlalchemy_wrote_the_sqlite3_path_reads(store_path: Path) -> None:
    at = datetime(2026, 11, 2, 9, 30, 0, 250, tzinfo=UTC)
    later = at + timedelta(days=1, microseconds=1)
    items = [
        work_item("A-1", labels=["okr:ONB-1", "ünï"], points=2.5, bucket=Bucket.DONE),
        work_item("A-2", parent="A-1", child_count=3, source="github"),
    ]
    snapshots = [
        KRSnapshot("ONB-1", at, 70.0, 0.1, None, 0.5, "on_track", 1.0, 4.0),
        KRSnapshot("ONB-1", later, None, None, 0.25, 0.6, "at_risk", 1.0, 4.0),
    ]
    with Store(f"sqlite:///{store_path}") as store:
        core = store._core()
        core.upsert_items(items, seen_at=at)
        core.delete_items("github", ["A-2"], at=later)
        core.add_sample(MetricSample("ONB-1", 71.5, at), "manual", "why", 0.75)
        core.save_kr_snapshots(snapshots)
        core.set_metric_error("ONB-1", "unreachable", at)
        core.set_cursor("jira", 1_793_000_000_000)
        core.save_writeback("jira:A-1", "h1", "100")
        core.save_scope_start("fp", at, {"ONB-1": 2.5, "ONB-2": 1.0})

        assert store._sqlite is not None
        reads: list[Callable[[Any], object]] = [
            lambda s: s.items(),
            lambda s: s.items(as_of=at),
            lambda s: s.items(source="jira", as_of=later),
            lambda s: s.scope_items(at),
            lambda s: s.item_keys("jira"),
            lambda s: s.samples(),
            lambda s: s.samples("ONB-1", at),
            lambda s: s.sample_records("ONB-1"),
            lambda s: s.kr_snapshots(),
            lambda s: s.kr_snapshots("ONB-1", at),
            lambda s: s.metric_errors(),
            lambda s: s.metric_errors(at - timedelta(microseconds=1)),
            lambda s: s.cursor("jira"),
            lambda s: s.cursor("asana"),
            lambda s: s.writeback("jira:A-1"),
            lambda s: s.writebacks(["jira:A-1", "jira:none"]),
            lambda s: s.scope_start("fp", at),
            lambda s: s.scope_start("fp", later),
        ]
        for read in reads:
            assert read(store) == read(core)
        assert store.items(as_of=at) == [items[1], items[0]]  # by (source, key)
        assert store.items() == [items[0]]


def test_what_the_sqlite3_path_wrote_sqlalchemy_reads(store_path: Path) -> None:
    at = datetime(2026, 11, 2, 9, 30, 0, 999_999, tzinfo=timezone(timedelta(hours=-5)))
    with Store(f"sqlite:///{store_path}") as store:
        assert store.add_sample(MetricSample("ONB-1", 70, at), "manual", None, None)
        assert store.add_sample(MetricSample("ONB-2", 1.5, at), "import", "n", 0.5)
        assert not store.add_sample(MetricSample("ONB-1", 99.0, at))  # there already
        core = store._core()
        assert core.samples() == store.samples()
        assert core.samples()[0] == MetricSample("ONB-1", 70.0, at.astimezone(UTC))
        assert core.sample_records("ONB-2") == store.sample_records("ONB-2")
        assert store.delete_sample("ONB-1", at.astimezone(UTC))
        assert not store.delete_sample("ONB-1", at)
        assert [s.kr_id for s in core.samples()] == ["ONB-2"]


# -- one in-memory database ----------------------------------------------------------------


def test_an_in_memory_store_shares_its_one_connection_between_the_paths() -> None:
    at = datetime(2026, 11, 2, tzinfo=UTC)
    with Store("sqlite://") as store:
        assert store._sqlite is not None
        with store.engine.connect() as connection:
            engines: object = connection.connection.dbapi_connection
            assert engines is store._sqlite.connection()
        store.upsert_items([work_item("A-1")], seen_at=at)  # through SQLAlchemy
        assert store.add_sample(MetricSample("ONB-1", 70.0, at))  # through sqlite3
        assert store.items() == [work_item("A-1")]
        assert store._core().samples() == store.samples() == [MetricSample("ONB-1", 70.0, at)]


def test_a_sqlite_url_with_options_goes_through_the_engines_connection(tmp_path: Path) -> None:
    """SQLAlchemy parses a URL's options (`?timeout=...`): the sqlite3 path then runs on
    a connection of the engine's pool, with the engine's pragmas."""
    at = datetime(2026, 11, 2, tzinfo=UTC)
    with Store(f"sqlite:///{tmp_path / 'okrsync.db'}?timeout=7") as store:
        assert store._sqlite is not None
        mode = store._sqlite._read("PRAGMA journal_mode")
        assert mode == [("wal",)]
        assert store.add_sample(MetricSample("ONB-1", 70.0, at))
        assert store._core().samples() == store.samples()


# -- a store not at head goes the old way ---------------------------------------------------


def test_a_store_one_revision_behind_is_upgraded_or_refused_as_before(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    command.upgrade(alembic_config(url), "0005")

    with pytest.raises(SchemaNotCurrentError, match="is at schema revision 0005"):
        Store(url, migrate=False)
    with Store(url) as store:
        assert current_revision(url) == head_revision()
        assert store.scope_start("fp", datetime(2026, 11, 2, tzinfo=UTC)) is None


def test_opening_a_directory_fails_as_sqlalchemy_reported_it(tmp_path: Path) -> None:
    from sqlalchemy.exc import OperationalError

    (tmp_path / "okrsync.db").mkdir()
    with pytest.raises(OperationalError, match="unable to open database file"):
        Store(f"sqlite:///{tmp_path / 'okrsync.db'}")


# -- threads --------------------------------------------------------------------------------


@pytest.fixture
def store_path(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "okrsync.db"


@pytest.mark.parametrize("where", ["file", "memory"])
def test_one_store_serves_threads_at_once(tmp_path: Path, where: str) -> None:
    threads, rounds = 6, 40
    url = f"sqlite:///{tmp_path / 'okrsync.db'}" if where == "file" else "sqlite://"
    base = datetime(2026, 11, 2, tzinfo=UTC)
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []
    with Store(url) as store:
        store.upsert_items([work_item(f"A-{n}") for n in range(50)], seen_at=base)

        def work(thread: int) -> None:
            try:
                barrier.wait()
                for n in range(rounds):
                    at = base + timedelta(seconds=thread * rounds + n)
                    assert store.add_sample(MetricSample(f"KR-{thread}", float(n), at))
                    assert len(store.items()) == 50
                    assert len(store.samples(f"KR-{thread}")) == n + 1
                    if n % 10 == 0:
                        store.set_cursor(f"s{thread}", n)  # SQLAlchemy, meanwhile
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        running = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for thread in running:
            thread.start()
        for thread in running:
            thread.join()
        assert errors == []
        assert len(store.samples()) == threads * rounds
        assert [store.cursor(f"s{t}") for t in range(threads)] == [30] * threads


def test_a_closed_store_opens_its_connection_again(store_path: Path) -> None:
    at = datetime(2026, 11, 2, tzinfo=UTC)
    store = Store(f"sqlite:///{store_path}")
    store.close()
    assert store.add_sample(MetricSample("ONB-1", 70.0, at))
    assert dataclasses.astuple(store.samples()[0]) == ("ONB-1", 70.0, at)
    store.close()
