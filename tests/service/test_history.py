"""History through the real command line: a report for a past instant, printed after the
store learned more, is byte-identical to the one printed at that instant."""

from __future__ import annotations

import gc
import json
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import work_item

import okrsync.cli
from okrsync.cli import main
from okrsync.config import load_config
from okrsync.domain import (
    Bucket,
    KRSnapshot,
    MetricSample,
    WorkItem,
    scope_fingerprint,
    snapshots_from,
)
from okrsync.service import current_report, run_cycle
from okrsync.service.report import report_html
from okrsync.sources import PlannedWrite, PullResult, RequestCounter, WriteOutcome
from okrsync.store import Store
from okrsync.store._tables import kr_snapshots

T0 = "2026-09-20T12:00:00Z"  # before the cycle starts
T1 = "2026-11-10T12:00:00Z"
T2 = "2026-11-20T12:00:00Z"

CONFIG = """\
version: 1
cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "{url}"}}
sources:
  jira: {{url: 'https://jira.example', jql: 'project = ONB'}}
objectives:
  - id: ONB
    title: Onboarding
    key_results: [{{id: ONB-1, title: Completion, baseline: 68, target: 85}}]
"""


class FullPullSource:
    """Gives the items it holds now, as a full pull; takes every write."""

    name = "jira"

    def __init__(self, items: list[WorkItem]) -> None:
        self.items = items
        self.requests = RequestCounter()

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        return PullResult("jira", list(self.items), None, True)

    def children(self, parents: object, known: object) -> list[WorkItem]:
        return []

    def labels_in_use(self) -> set[str]:
        return {label for item in self.items for label in item.labels}

    def apply(self, write: PlannedWrite) -> WriteOutcome:
        return WriteOutcome(write.target, write.content_hash, f"c-{write.item_key}", "created")

    def close(self) -> None:
        pass


def items_at_t1() -> list[WorkItem]:
    return [
        work_item("ONB-10", labels=["okr:ONB-1"], points=8, child_count=3),
        work_item("ONB-11", parent="ONB-10", points=3, bucket=Bucket.DONE),
        work_item("ONB-12", parent="ONB-10", points=2, bucket=Bucket.IN_PROGRESS),
        work_item("ONB-13", parent="ONB-10", points=5),
        work_item("ONB-20", labels=["okr:ONB-1"], points=1),
        work_item("ONB-30", labels=["okr:ONB9"], points=1),  # an unknown KR: a problem
    ]


def items_at_t2() -> list[WorkItem]:
    """Later: statuses, points and labels changed, one item gone, one new."""
    changed = {item.key: item for item in items_at_t1()}
    changed["ONB-12"] = replace(changed["ONB-12"], bucket=Bucket.DONE, status="Done")
    changed["ONB-13"] = replace(changed["ONB-13"], points=13.0)
    changed["ONB-20"] = replace(changed["ONB-20"], labels=("okr:ONB-1", "frontend"), points=4.0)
    changed["ONB-30"] = replace(changed["ONB-30"], labels=("okr:ONB-1",))
    del changed["ONB-11"]
    changed["ONB-14"] = work_item("ONB-14", parent="ONB-10", points=5, bucket=Bucket.DONE)
    return list(changed.values())


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "okrsync.yaml"
    path.write_text(CONFIG.format(url=f"sqlite:///{tmp_path / 'okrsync.db'}"))
    monkeypatch.setenv("JIRA_API_TOKEN", "token")
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def statuses(config: Path, capsys: pytest.CaptureFixture[str], now: str) -> dict[str, str]:
    return {
        form: run(config, capsys, "status", "--format", form, "--now", now)
        for form in ("table", "json", "markdown")
    }


def test_a_past_status_printed_later_is_byte_identical(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = FullPullSource(items_at_t1())
    monkeypatch.setattr(okrsync.cli, "source_factory", lambda _config: lambda _name: source)
    url = f"sqlite:///{config.parent / 'okrsync.db'}"
    with Store(url) as store:
        store.add_sample(MetricSample("ONB-1", 70.0, datetime(2026, 11, 1, tzinfo=UTC)))

    run(config, capsys, "sync", "--once", "--now", T1)
    settings = load_config(config).config
    with Store(url) as store:  # the sync kept the scope at the cycle start: nothing then
        fingerprint = scope_fingerprint(settings.domain_objectives(), settings.rules())
        assert store.scope_start(fingerprint, datetime(2026, 10, 1, tzinfo=UTC)) == {"ONB-1": 0}
    at_t1 = statuses(config, capsys, T1)

    source.items = items_at_t2()
    with Store(url) as store:
        store.add_sample(MetricSample("ONB-1", 75.0, datetime(2026, 11, 15, tzinfo=UTC)))
        store.add_sample(MetricSample("ONB-1", 77.0, datetime(2026, 11, 20, tzinfo=UTC)))
    run(config, capsys, "sync", "--once", "--now", T2)
    at_t2 = statuses(config, capsys, T2)

    assert statuses(config, capsys, T1) == at_t1
    assert at_t2 != at_t1  # the later store does answer differently for T2
    kr_t1, kr_t2 = (
        json.loads(out["json"])["objectives"][0]["key_results"][0] for out in (at_t1, at_t2)
    )
    assert (kr_t1["current"], kr_t2["current"]) == (70, 77)
    # T1: ONB-11 (3, done), ONB-12 (2), ONB-13 (5), ONB-20 (1); T2: ONB-12 done, 13 points,
    # ONB-11 deleted, ONB-14 (5, done) new, ONB-20 4 points, ONB-30 now mapped (1).
    assert kr_t1["weight"] == {"done": 3, "total": 11}
    assert kr_t2["weight"] == {"done": 7, "total": 25}
    with Store(url) as store:  # the deleted item is gone now, and still there at T1
        assert "ONB-11" not in {item.key for item in store.items()}
        assert "ONB-11" in {
            item.key for item in store.items(as_of=datetime(2026, 11, 10, 12, tzinfo=UTC))
        }
        assert {s.kr_id for s in store.kr_snapshots()} == {"ONB-1"}
        assert len(store.kr_snapshots()) == 2  # one per cycle


def test_a_status_before_anything_was_learned_shows_no_delivery(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = FullPullSource(items_at_t1())
    monkeypatch.setattr(okrsync.cli, "source_factory", lambda _config: lambda _name: source)
    run(config, capsys, "sync", "--once", "--now", T1)

    before = json.loads(run(config, capsys, "status", "--format", "json", "--now", T0))

    kr = before["objectives"][0]["key_results"][0]
    assert kr["items"] == {"total": 0, "done": 0, "in_progress": 0, "todo": 0}
    assert before["unmapped"]["count"] == 0 and before["problems"] == []


def test_a_past_html_report_written_later_is_byte_identical(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = FullPullSource(items_at_t1())
    monkeypatch.setattr(okrsync.cli, "source_factory", lambda _config: lambda _name: source)
    url = f"sqlite:///{config.parent / 'okrsync.db'}"
    with Store(url) as store:
        store.add_sample(MetricSample("ONB-1", 70.0, datetime(2026, 11, 1, tzinfo=UTC)))

    def page(now: str, name: str) -> bytes:
        path = config.parent / name
        run(config, capsys, "report", "--html", str(path), "--now", now)
        return path.read_bytes()

    run(config, capsys, "sync", "--once", "--now", T1)
    at_t1 = page(T1, "t1.html")

    source.items = items_at_t2()
    with Store(url) as store:
        store.add_sample(MetricSample("ONB-1", 75.0, datetime(2026, 11, 15, tzinfo=UTC)))
        store.add_sample(MetricSample("ONB-1", 77.0, datetime(2026, 11, 20, tzinfo=UTC)))
    run(config, capsys, "sync", "--once", "--now", T2)

    assert page(T1, "t1-again.html") == at_t1
    assert page(T2, "t2.html") != at_t1  # the later store does answer differently for T2


# --------------------------------------------------------------------------- KR snapshots


def every_snapshot(store: Store, snapshots: list[KRSnapshot]) -> None:
    """Store each snapshot as it is, as okrsync did before snapshots were thinned."""
    with store.engine.begin() as connection:
        connection.execute(kr_snapshots.insert(), [asdict(snapshot) for snapshot in snapshots])


def test_a_hundred_identical_cycles_store_one_snapshot_per_kr(config: Path) -> None:
    loaded = load_config(config).config
    source = FullPullSource(items_at_t1())
    start = datetime(2026, 11, 10, 12, tzinfo=UTC)
    with Store(loaded.store.url) as store:
        for n in range(100):
            run_cycle(loaded, store, lambda _name: source, now=start + timedelta(minutes=5 * n))
        assert [(s.kr_id, s.at) for s in store.kr_snapshots()] == [("ONB-1", start)]


def test_thinned_snapshots_give_the_forecast_and_burn_up_of_unthinned_ones(
    config: Path, tmp_path: Path
) -> None:
    """Five weeks of cycles every six hours, an item done now and then: the store keeps a
    snapshot only on change; one that kept every cycle's computes the same report (the
    delivery forecast from the weekly done weights) and the same HTML page (burn-up)."""
    loaded = load_config(config).config
    items = [work_item(f"ONB-{n}", labels=["okr:ONB-1"], points=n % 3 + 1) for n in range(40)]
    source = FullPullSource(items)
    start = datetime(2026, 10, 20, 9, tzinfo=UTC)
    nows = [start + timedelta(hours=6 * n) for n in range(4 * 7 * 5)]
    with (
        Store(loaded.store.url) as thinned,
        Store(f"sqlite:///{tmp_path / 'unthinned.db'}") as unthinned,
    ):
        for n, now in enumerate(nows):
            if n % 9 == 4:  # now and then an item is done, or, once, reopened
                done = n // 9 if n != 85 else 3
                source.items[done] = replace(
                    source.items[done],
                    bucket=Bucket.TODO if n == 85 else Bucket.DONE,
                    status="To Do" if n == 85 else "Done",
                )
            result = run_cycle(loaded, thinned, lambda _name: source, now=now)
            unthinned.upsert_items(source.items, seen_at=now)
            every_snapshot(unthinned, snapshots_from(result.report))

        assert len(unthinned.kr_snapshots()) == len(nows)
        assert len(thinned.kr_snapshots()) < len(nows) / 4
        for now in (nows[-1], nows[-1] + timedelta(days=2), nows[70] + timedelta(hours=1)):
            report = current_report(loaded, thinned, now)
            assert report == current_report(loaded, unthinned, now)
            if now >= nows[-1]:  # five weeks of history: a forecast
                assert report.kr_status("ONB-1").delivery_forecast is not None
            assert report_html(loaded, thinned, now) == report_html(loaded, unthinned, now)


def test_a_status_leaves_the_collector_as_it_found_it(config: Path) -> None:
    """The report pauses the cyclic collector until what it read is freed; it resumes it
    afterwards, and leaves it off when it was off."""
    settings = load_config(config).config
    at = datetime(2026, 11, 10, 12, tzinfo=UTC)
    with Store(settings.store.url) as store:
        store.upsert_items(items_at_t1(), seen_at=at)
        assert gc.isenabled()
        report = current_report(settings, store, at)
        assert gc.isenabled()
        gc.disable()
        try:
            assert current_report(settings, store, at) == report
            assert not gc.isenabled()
        finally:
            gc.enable()
