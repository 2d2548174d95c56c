"""The store's history: item versions, as-of reads, deletions, samples as of an instant,
check-in notes, KR snapshots and metric errors (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from factories import work_item
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from okrsync.domain import ScopeItem
from okrsync.domain.models import Bucket, KRSnapshot, MetricSample, WorkItem
from okrsync.store import SampleRecord, Store, alembic_config, head_revision
from okrsync.store._engine import create_store_engine
from okrsync.store._shared import SNAPSHOTS_PER_QUERY
from okrsync.store._tables import item_versions


def day(n: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, n, hour, tzinfo=UTC)


def item(key: str, **changes: Any) -> WorkItem:
    base = work_item(key, labels=["okr:ONB-1"], points=3.0, bucket=Bucket.TODO)
    return dataclasses.replace(base, **changes)


def versions(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(item_versions)).scalar_one())


def test_items_as_of_an_instant_are_as_last_learned_then(store: Store) -> None:
    store.upsert_items([item("A-1"), item("A-2")], seen_at=day(1))
    store.upsert_items([item("A-1", bucket=Bucket.DONE, status="Done")], seen_at=day(5))
    store.upsert_items([item("A-3")], seen_at=day(7))

    assert store.items(as_of=day(1, 0)) == []
    assert store.items(as_of=day(1)) == [item("A-1"), item("A-2")]
    assert store.items(as_of=day(4)) == [item("A-1"), item("A-2")]
    done = item("A-1", bucket=Bucket.DONE, status="Done")
    assert store.items(as_of=day(6)) == [done, item("A-2")]
    assert store.items(as_of=day(8)) == store.items() == [done, item("A-2"), item("A-3")]
    assert store.items("jira", as_of=day(6)) == [done, item("A-2")]
    assert store.items("github", as_of=day(8)) == []


def test_a_version_is_stored_only_when_a_versioned_field_changes(store: Store) -> None:
    store.upsert_items([item("A-1")], seen_at=day(1))
    for n in range(2, 6):  # seen every cycle, unchanged: no new version
        store.upsert_items([item("A-1")], seen_at=day(n))
    store.upsert_items([item("A-1", updated=day(6))], seen_at=day(6))  # only `updated`
    assert versions(store) == 1

    for changed in (
        item("A-1", labels=("okr:ONB-2",)),
        item("A-1", labels=("okr:ONB-2",), points=5.0),
        item("A-1", labels=("okr:ONB-2",), points=5.0, parent="A-0"),
    ):
        store.upsert_items([changed], seen_at=day(7 + versions(store)))
    assert versions(store) == 4


def test_a_deletion_is_a_version_and_an_item_may_come_back(store: Store) -> None:
    store.upsert_items([item("A-1"), item("A-2")], seen_at=day(1))
    assert store.delete_items("jira", ["A-2", "A-9"], at=day(3)) == 1
    assert store.items(as_of=day(2)) == [item("A-1"), item("A-2")]
    assert store.items(as_of=day(3)) == [item("A-1")] == store.items()

    store.upsert_items([item("A-2", points=8.0)], seen_at=day(5))
    assert store.items(as_of=day(4)) == [item("A-1")]
    assert store.items(as_of=day(5)) == [item("A-1"), item("A-2", points=8.0)]


def test_the_same_item_learned_twice_at_one_instant_keeps_the_last(store: Store) -> None:
    store.upsert_items([item("A-1")], seen_at=day(1))
    store.upsert_items([item("A-1", points=5.0)], seen_at=day(1))  # a child look-up, same cycle
    assert store.items(as_of=day(1)) == [item("A-1", points=5.0)]
    assert versions(store) == 1


def test_samples_as_of_and_check_in_records(store: Store) -> None:
    store.add_sample(MetricSample("ONB-1", 70.0, day(1)), note="first read", confidence=0.8)
    store.add_sample(MetricSample("ONB-1", 74.0, day(9)), origin="csv")
    assert store.samples(as_of=day(5)) == [MetricSample("ONB-1", 70.0, day(1))]
    assert store.sample_records("ONB-1") == [
        SampleRecord("ONB-1", 70.0, day(1), "manual", "first read", 0.8),
        SampleRecord("ONB-1", 74.0, day(9), "csv", None, None),
    ]
    assert store.delete_sample("ONB-1", day(9)) is True
    assert store.delete_sample("ONB-1", day(9)) is False
    assert store.samples() == [MetricSample("ONB-1", 70.0, day(1))]


def snapshot(kr_id: str, at: datetime, done: float) -> KRSnapshot:
    return KRSnapshot(kr_id, at, 70.0, 0.1, done / 10, 0.5, "at_risk", done, 10.0)


def test_kr_snapshots_one_per_kr_and_instant(store: Store) -> None:
    store.save_kr_snapshots([snapshot("ONB-1", day(1), 1.0), snapshot("SEC-1", day(1), 2.0)])
    store.save_kr_snapshots([snapshot("ONB-1", day(2), 3.0)])
    store.save_kr_snapshots([snapshot("ONB-1", day(2), 4.0)])  # the same cycle again
    store.save_kr_snapshots([])

    assert store.kr_snapshots("ONB-1") == [
        snapshot("ONB-1", day(1), 1.0),
        snapshot("ONB-1", day(2), 4.0),
    ]
    assert store.kr_snapshots(until=day(1)) == [
        snapshot("ONB-1", day(1), 1.0),
        snapshot("SEC-1", day(1), 2.0),
    ]


def test_identical_cycles_store_one_snapshot_per_kr(store: Store) -> None:
    # 100 cycles five minutes apart that change nothing: the expected progress moves
    # with the clock (it is not compared), every other value stays.
    for n in range(100):
        at = day(1) + timedelta(minutes=5 * n)
        moved = [
            dataclasses.replace(snapshot(kr, at, 1.0), expected_progress=0.5 + n / 1000)
            for kr in ("ONB-1", "SEC-1")
        ]
        assert store.save_kr_snapshots(moved) == (2 if n == 0 else 0)

    assert store.kr_snapshots() == [
        dataclasses.replace(snapshot(kr, day(1), 1.0), expected_progress=0.5)
        for kr in ("ONB-1", "SEC-1")
    ]


def test_an_unchanged_kr_stays_thinned_while_another_changes(store: Store) -> None:
    """Each KR is compared with its own latest snapshot, not with the latest of the batch:
    ONB-1 changing at day 2 does not make SEC-1's unchanged day 3 look new."""
    assert store.save_kr_snapshots([snapshot(kr, day(1), 1.0) for kr in ("ONB-1", "SEC-1")]) == 2
    assert (
        store.save_kr_snapshots([snapshot("ONB-1", day(2), 2.0), snapshot("SEC-1", day(2), 1.0)])
        == 1
    )
    assert (
        store.save_kr_snapshots([snapshot("ONB-1", day(3), 2.0), snapshot("SEC-1", day(3), 1.0)])
        == 0
    )
    assert [(s.kr_id, s.at) for s in store.kr_snapshots()] == [
        ("ONB-1", day(1)),
        ("ONB-1", day(2)),
        ("SEC-1", day(1)),
    ]


def test_a_snapshot_is_stored_when_any_value_changes(store: Store) -> None:
    first = snapshot("ONB-1", day(1), 1.0)
    store.save_kr_snapshots([first])
    changes: list[dict[str, Any]] = [
        {"done_weight": 2.0},
        {"total_weight": 12.0},
        {"current": None},  # NULL against a number is a change
        {"current": None},  # NULL against NULL is not
        {"outcome_progress": 0.2},
        {"delivery_progress": None},
        {"health": "on_track"},
        {"done_weight": 1.0},  # back to an older value: a change from the latest
    ]
    latest = first
    for n, change in enumerate(changes, start=2):
        latest = dataclasses.replace(latest, at=day(n), **change)
        store.save_kr_snapshots([latest])
    stored = store.kr_snapshots("ONB-1")
    assert [row.at for row in stored] == [day(n) for n in (1, 2, 3, 4, 6, 7, 8, 9)]
    assert stored[-1] == latest


def test_a_snapshot_compares_with_the_latest_at_or_before_its_instant(store: Store) -> None:
    store.save_kr_snapshots([snapshot("ONB-1", day(1), 1.0), snapshot("ONB-1", day(5), 5.0)])
    store.save_kr_snapshots([snapshot("ONB-1", day(3), 1.0)])  # as on day 1: nothing new
    store.save_kr_snapshots([snapshot("ONB-1", day(6), 5.0)])  # as on day 5: nothing new
    store.save_kr_snapshots([snapshot("ONB-1", day(5), 6.0)])  # day 5 saved again: last wins
    assert [(row.at, row.done_weight) for row in store.kr_snapshots()] == [
        (day(1), 1.0),
        (day(5), 6.0),
    ]


def test_many_kr_snapshots_are_saved_in_batches(store: Store) -> None:
    many = [snapshot(f"KR-{n}", day(1), float(n)) for n in range(SNAPSHOTS_PER_QUERY + 50)]
    assert store.save_kr_snapshots(many) == len(many)
    assert store.save_kr_snapshots([dataclasses.replace(s, at=day(2)) for s in many]) == 0
    assert len(store.kr_snapshots()) == len(many)


def test_scope_items_are_the_as_of_items_with_what_mapping_reads(store: Store) -> None:
    store.upsert_items([item("A-1"), item("A-2", parent="A-1")], seen_at=day(1))
    store.upsert_items([item("A-1", bucket=Bucket.DONE, status="Done")], seen_at=day(5))
    store.delete_items("jira", ["A-2"], at=day(6))

    for at in (day(1, 0), day(1), day(5), day(7)):
        assert store.scope_items(as_of=at) == [
            ScopeItem(i.source, i.key, i.status, i.bucket, i.points, i.labels, i.parent, i.updated)
            for i in store.items(as_of=at)
        ]


def test_items_and_scope_items_read_together(store: Store) -> None:
    store.upsert_items([item("A-1"), item("A-2", parent="A-1")], seen_at=day(1))
    store.upsert_items([item("A-1", points=8.0)], seen_at=day(5))
    assert store.items_and_scope_items(day(6), day(2)) == (
        store.items(as_of=day(6)),
        store.scope_items(as_of=day(2)),
    )
    with Store("sqlite://") as memory:  # one shared connection: one read after the other
        memory.upsert_items([item("A-1")], seen_at=day(1))
        assert memory.items_and_scope_items(day(6), day(2)) == (
            memory.items(as_of=day(6)),
            memory.scope_items(as_of=day(2)),
        )


def test_metric_errors_are_stored_on_change_and_read_as_of(store: Store) -> None:
    store.set_metric_error("ONB-1", None, day(1))  # nothing to clear: nothing stored
    for n in (2, 3, 4):
        store.set_metric_error("ONB-1", "HTTP 503", day(n))
    store.set_metric_error("SEC-1", "no number at $.x", day(3))
    store.set_metric_error("ONB-1", None, day(6))

    assert store.metric_errors() == {"SEC-1": "no number at $.x"}
    assert store.metric_errors(as_of=day(5)) == {"ONB-1": "HTTP 503", "SEC-1": "no number at $.x"}
    assert store.metric_errors(as_of=day(2)) == {"ONB-1": "HTTP 503"}
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM metric_errors")).scalar_one()
    assert rows == 3  # ONB-1 failing from day 2, cleared day 6; SEC-1


# -- migrating a store of the previous release (revision 0003) --------------------------------


def test_0004_makes_the_current_items_their_first_versions(store_url: str) -> None:
    command.upgrade(alembic_config(store_url), "0003")
    engine = create_store_engine(make_url(store_url))
    columns = (
        "source, key, title, type, status, bucket, points, labels, parent, updated, url, "
        "remote_id, child_count, seen_at, first_seen_at, changed_at"
    )
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    f"INSERT INTO work_items ({columns}) VALUES "
                    "('jira', 'A-1', 'One', 'Story', 'Done', 'done', 3, '[\"okr:ONB-1\"]', NULL,"
                    " :updated, 'https://x/A-1', '', NULL, :seen, :first, :first),"
                    "('jira', 'A-2', 'Two', 'Story', 'To Do', 'todo', NULL, '[]', 'A-1',"
                    " :updated, 'https://x/A-2', '', NULL, :seen, NULL, NULL)"
                ),
                {"updated": day(1), "seen": day(20), "first": day(2)},
            )
            for value in (70.0, 71.0):  # two values at one instant: the later stored stays
                connection.execute(
                    text(
                        "INSERT INTO metric_samples (kr_id, value, at, origin, recorded_at) "
                        "VALUES ('ONB-1', :value, :at, 'manual', :at)"
                    ),
                    {"value": value, "at": day(3)},
                )
    finally:
        engine.dispose()

    with Store(store_url) as store:  # opening migrates to head
        latest = store.items()
        assert [i.key for i in latest] == ["A-1", "A-2"]
        assert store.items(as_of=day(1)) == []
        assert store.items(as_of=day(2)) == latest[:1]  # A-1 first seen on day 2
        assert store.items(as_of=day(20)) == latest  # A-2 from before 0003: its last sighting
        assert store.samples() == [MetricSample("ONB-1", 71.0, day(3))]
        store.upsert_items([latest[1]], seen_at=day(21))  # unchanged: no new version
        assert versions(store) == 2
    assert head_revision() >= "0004"  # later revisions (0005: http_etags) keep these rows


def test_the_sqlite_as_of_read_equals_the_portable_one(tmp_path: Path) -> None:
    """SQLite reads each item's latest version by a seek per distinct key (the sqlite3
    path, `_sqlite`); the portable GROUP BY join (`_core`) must give the same rows, in
    the same order, whatever the history: several sources, items learned late, changes,
    deletions, items coming back."""
    rng = random.Random(11)
    with Store(f"sqlite:///{tmp_path / 'history.db'}") as store:
        current: dict[tuple[str, str], WorkItem] = {}
        for n in range(1, 21):
            changed = []
            for _ in range(rng.randint(0, 12)):
                source, key = rng.choice(["jira", "github"]), f"K-{rng.randint(1, 30)}"
                base = current.get((source, key)) or dataclasses.replace(item(key), source=source)
                changed.append(
                    dataclasses.replace(
                        base,
                        bucket=rng.choice(list(Bucket)),
                        points=rng.choice([None, 1.0, 2.0, 5.0]),
                        labels=rng.choice([(), ("okr:ONB-1",), ("okr:ONB-2", "x")]),
                        parent=rng.choice([None, "K-1", "K-2"]),
                        updated=day(n),
                    )
                )
            store.upsert_items(changed, seen_at=day(n))
            current.update({(i.source, i.key): i for i in changed})
            if n % 4 == 0:
                gone = rng.sample(sorted(current), 3)
                for source, key in gone:
                    store.delete_items(source, [key], at=day(n, 18))
                    del current[(source, key)]
        fields = tuple(field.name for field in dataclasses.fields(WorkItem))
        for n in range(0, 23):
            at = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=n, hours=rng.choice([0, 12]))
            for names in (fields, ScopeItem._fields):
                for only in (None, "jira", "github"):
                    assert store._sqlite is not None
                    fast = store._sqlite._latest_versions(names, at, only)
                    grouped = [
                        tuple(row) for row in store._core()._latest_versions(names, at, only)
                    ]
                    assert fast == grouped
        assert store.items(as_of=day(25)) == sorted(
            current.values(), key=lambda i: (i.source, i.key)
        )
