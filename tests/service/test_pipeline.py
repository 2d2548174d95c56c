"""One cycle through the pipeline with in-memory sources: isolation, dry-run, skipping."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from factories import make_config, work_item
from structlog.testing import capture_logs

from okrsync.config import Config
from okrsync.domain import (
    Bucket,
    ItemCounts,
    MetricSample,
    WorkItem,
    compute_report_and_mapping,
    map_items,
)
from okrsync.service import run_cycle
from okrsync.service.pipeline import CommentCounts, PullCounts, SourceOutcome, without_credentials
from okrsync.sources import (
    AuthError,
    FatalError,
    OperationOutcome,
    PlannedWrite,
    PullResult,
    RequestCounter,
    RetriableError,
    SetField,
    TargetOperation,
    WriteOutcome,
)
from okrsync.store import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
WALL = datetime(2026, 11, 24, 12, 5, tzinfo=UTC)


def item(
    key: str, labels: tuple[str, ...] = (), parent: str | None = None, bucket: Bucket = Bucket.TODO
) -> WorkItem:
    return WorkItem(
        source="jira",
        key=key,
        title=f"Title {key}",
        type="Story",
        status=bucket.value,
        bucket=bucket,
        points=None,
        labels=labels,
        parent=parent,
        updated=datetime(2026, 11, 20, tzinfo=UTC),
        url=f"https://x/browse/{key}",
        remote_id=key,
    )


class FakeSource:
    """Keeps comments in a dict, as a connector keeps them in the remote system."""

    name = "jira"

    def __init__(self, items: list[WorkItem]):
        self.items = items
        self.requests = RequestCounter()
        self.comments: dict[str, str] = {}
        self.writes: list[PlannedWrite] = []
        self.pulled_with: list[int | None] = []
        self.fail_writes_for: set[str] = set()

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        self.pulled_with.append(bookmark_ms)
        return PullResult(
            "jira", list(self.items), int(started_at.timestamp() * 1000), bookmark_ms is None
        )

    def children(self, parents: object, known: object) -> list[WorkItem]:
        return []

    def labels_in_use(self) -> set[str]:
        return {label for item in self.items for label in item.labels}

    def apply(self, write: PlannedWrite) -> WriteOutcome:
        if write.item_key in self.fail_writes_for:
            raise FatalError("jira", "boom")
        self.writes.append(write)
        comment_id = write.known_remote_id or f"c-{write.item_key}"
        action = "edited" if comment_id in self.comments else "created"
        self.comments[comment_id] = write.body
        return WriteOutcome(write.target, write.content_hash, comment_id, action)

    def close(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'okrsync.db'}")


def cycle(config: Config, store: Store, source: FakeSource, **options: object):  # type: ignore[no-untyped-def]
    return run_cycle(config, store, lambda name: source, now=NOW, clock=lambda: WALL, **options)  # type: ignore[arg-type]


def test_first_cycle_writes_one_comment_per_top_level_target_then_nothing(
    tmp_path: Path, store: Store
) -> None:
    config = make_config(tmp_path)
    source = FakeSource(
        [
            item("ONB-1", ("okr:ONB-1",)),
            item("ONB-2", ("okr:ONB-1",), parent="ONB-1"),
            item("ONB-3"),
        ]
    )

    first = cycle(config, store, source)
    second = cycle(config, store, source)

    assert [w.target for w in first.plan] == ["jira:ONB-1"]  # the labelled child is not a target
    assert first.sources[0].created == 1 and first.exit_code == 0
    assert second.plan == [] and second.sources[0].skipped == 1
    assert len(source.writes) == 1
    assert source.pulled_with == [None, int(WALL.timestamp() * 1000)]  # bookmark saved and reused
    assert store.writeback("jira:ONB-1").remote_id == "c-ONB-1"  # type: ignore[union-attr]


def test_changed_numbers_edit_the_known_comment(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path)
    source = FakeSource([item("ONB-1", ("okr:ONB-1",)), item("ONB-2", parent="ONB-1")])
    cycle(config, store, source)
    source.items[1] = item("ONB-2", parent="ONB-1", bucket=Bucket.DONE)

    result = cycle(config, store, source)

    (write,) = result.plan
    assert write.known_remote_id == "c-ONB-1"
    assert result.sources[0].edited == 1 and len(source.comments) == 1
    assert "1 of 1 work items done" in source.comments["c-ONB-1"]


def test_dry_run_plans_but_writes_nothing_and_saves_no_record(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path)
    source = FakeSource([item("ONB-1", ("okr:ONB-1",))])

    result = cycle(config, store, source, dry_run=True)

    assert [w.target for w in result.plan] == ["jira:ONB-1"]
    assert source.writes == [] and store.writeback("jira:ONB-1") is None


def test_a_failing_source_is_reported_and_exits_one(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path)

    def refuse(name: str) -> FakeSource:
        raise AuthError(name, "connect: HTTP 401: check the token and its permissions", 401)

    with capture_logs() as logs:
        result = run_cycle(config, store, refuse, now=NOW, clock=lambda: WALL)

    assert result.exit_code == 1
    assert result.sources[0].error is not None and "401" in result.sources[0].error
    assert any(e["event"] == "sync.source_failed" and e["source"] == "jira" for e in logs)
    assert result.report.objectives[0].key_results[0].items.total == 0


def test_a_failed_write_keeps_the_others_and_records_only_what_landed(
    tmp_path: Path, store: Store
) -> None:
    config = make_config(tmp_path)
    source = FakeSource([item("ONB-1", ("okr:ONB-1",)), item("ONB-9", ("okr:ONB-1",))])
    source.fail_writes_for = {"ONB-1"}

    result = cycle(config, store, source)

    assert result.exit_code == 1
    assert store.writeback("jira:ONB-1") is None
    assert store.writeback("jira:ONB-9") is not None
    source.fail_writes_for = set()
    retry = cycle(config, store, source)
    assert [w.target for w in retry.plan] == ["jira:ONB-1"]  # only the one that did not land


def test_full_pull_forgets_items_that_left_the_scope(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path)
    source = FakeSource([item("ONB-1", ("okr:ONB-1",)), item("ONB-2", ("okr:ONB-1",))])
    cycle(config, store, source)
    source.items.pop()

    result = cycle(config, store, source, full=True)

    assert result.sources[0].deleted == 1
    assert [i.key for i in store.items("jira")] == ["ONB-1"]


def test_csv_metric_is_imported_every_cycle_without_duplicates(
    tmp_path: Path, store: Store
) -> None:
    (tmp_path / "onb1.csv").write_text("at,value\n2026-10-01,68\n2026-11-20,74\n")
    config = make_config(
        tmp_path,
        objectives=[
            {
                "id": "ONB",
                "title": "Onboarding",
                "key_results": [
                    {
                        "id": "ONB-1",
                        "title": "Completion",
                        "baseline": 68,
                        "target": 85,
                        "metric": {"type": "csv", "path": "onb1.csv"},
                    }
                ],
            }
        ],
    )
    source = FakeSource([])

    cycle(config, store, source, config_dir=tmp_path)
    result = cycle(config, store, source, config_dir=tmp_path)

    assert [s.value for s in store.samples("ONB-1")] == [68.0, 74.0]
    assert result.report.kr_status("ONB-1").current == 74.0


def test_a_broken_csv_metric_fails_the_cycle_with_exit_one(tmp_path: Path, store: Store) -> None:
    (tmp_path / "bad.csv").write_text("at,value\n2026-10-01,lots\n")
    config = make_config(
        tmp_path,
        objectives=[
            {
                "id": "ONB",
                "title": "Onboarding",
                "key_results": [
                    {
                        "id": "ONB-1",
                        "title": "Completion",
                        "baseline": 68,
                        "target": 85,
                        "metric": {"type": "csv", "path": "bad.csv"},
                    }
                ],
            }
        ],
    )
    store.add_sample(MetricSample("ONB-1", 70.0, datetime(2026, 11, 1, tzinfo=UTC)))

    result = cycle(config, store, FakeSource([]), config_dir=tmp_path)

    assert result.exit_code == 1 and "bad.csv:2" in result.metric_errors[0]
    assert result.report.kr_status("ONB-1").current == 70.0


class ChildrenSource(FakeSource):
    """A source whose children only a look-up shows, like Asana subtasks."""

    name = "asana"

    def __init__(self, items: list[WorkItem], children_of: dict[str, list[WorkItem]]):
        super().__init__(items)
        self.children_of = children_of
        self.asked: list[list[str]] = []

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        result = super().pull(bookmark_ms, started_at)
        result.source = "asana"
        return result

    def children(self, parents: Any, known: Any) -> list[WorkItem]:
        self.asked.append([parent.key for parent in parents])
        return [child for parent in parents for child in self.children_of.get(parent.key, [])]


def asana_item(
    key: str,
    labels: tuple[str, ...] = (),
    parent: str | None = None,
    bucket: Bucket = Bucket.TODO,
    child_count: int | None = None,
) -> WorkItem:
    return replace(item(key, labels, parent, bucket), source="asana", child_count=child_count)


def two_source_config(tmp_path: Path) -> Config:
    return make_config(
        tmp_path,
        sources={
            "jira": {"url": "https://acme.atlassian.net", "jql": "project = ONB"},
            "asana": {"projects": ["1204"]},
        },
    )


def test_children_are_looked_up_for_mapped_parents_only_down_to_grandchildren(
    tmp_path: Path, store: Store
) -> None:
    config = make_config(tmp_path, sources={"asana": {"projects": ["1204"]}})
    mapped = asana_item("T1", ("okr:ONB-1",), child_count=1)
    unmapped = asana_item("T2", child_count=5)
    source = ChildrenSource(
        [mapped, unmapped],
        {
            "T1": [asana_item("S1", parent="T1", child_count=1)],
            "S1": [asana_item("S2", parent="S1", bucket=Bucket.DONE)],
        },
    )

    result = run_cycle(config, store, lambda name: source, now=NOW, clock=lambda: WALL)

    assert source.asked == [["T1"], ["S1"]]  # T2 is unmapped: its subtasks cannot move a KR
    assert result.report.kr_status("ONB-1").items == ItemCounts(
        total=1, done=1, in_progress=0, todo=0
    )
    assert result.sources[0].pulled == 4


def test_one_failing_source_does_not_stop_the_others_from_writing_back(
    tmp_path: Path, store: Store
) -> None:
    config = two_source_config(tmp_path)
    jira = FakeSource([item("ONB-1", ("okr:ONB-1",))])

    def connect(name: str) -> FakeSource:
        if name == "asana":
            raise AuthError("asana", "connect: HTTP 401: check the token and its permissions", 401)
        return jira

    result = run_cycle(config, store, connect, now=NOW, clock=lambda: WALL)

    outcomes = {outcome.name: outcome for outcome in result.sources}
    assert result.exit_code == 1
    assert outcomes["jira"].ok and outcomes["jira"].created == 1
    assert not outcomes["asana"].ok and "401" in (outcomes["asana"].error or "")
    assert len(jira.writes) == 1


class FailingChildrenSource(ChildrenSource):
    """Its listing works; the look-up of its children does not."""

    def __init__(self, items: list[WorkItem]):
        super().__init__(items, {})
        self.fail_children = True

    def children(self, parents: Any, known: Any) -> list[WorkItem]:
        self.asked.append([parent.key for parent in parents])
        if self.fail_children:
            raise RetriableError("asana", "children: HTTP 503 after 5 attempts")
        return []


def test_a_failed_children_look_up_holds_back_that_sources_writes_only(
    tmp_path: Path, store: Store
) -> None:
    config = two_source_config(tmp_path)
    jira = FakeSource([item("ONB-1", ("okr:ONB-1",))])
    asana = FailingChildrenSource([asana_item("T1", ("okr:ONB-1",), child_count=2)])
    sources = {"jira": jira, "asana": asana}

    with capture_logs() as logs:
        result = run_cycle(config, store, sources.__getitem__, now=NOW, clock=lambda: WALL)

    outcomes = {outcome.name: outcome for outcome in result.sources}
    assert result.exit_code == 1
    assert asana.asked == [["T1"]] and asana.writes == []  # looked up, failed, wrote nothing
    assert not outcomes["asana"].ok and "503" in (outcomes["asana"].error or "")
    assert outcomes["asana"].created == 0 and store.writeback("asana:T1") is None
    assert [w.target for w in result.plan] == ["jira:ONB-1"]  # not even planned
    assert outcomes["jira"].ok and outcomes["jira"].created == 1 and len(jira.writes) == 1
    assert any(e["event"] == "sync.writeback_held" and e["source"] == "asana" for e in logs)
    # Its pull still counted and stored, and its bookmark was saved: the pull finished.
    assert outcomes["asana"].pulled == 1 and store.cursor("asana") is not None

    asana.fail_children = False
    retry = run_cycle(config, store, sources.__getitem__, now=NOW, clock=lambda: WALL)

    assert retry.exit_code == 0 and asana.asked[-1] == ["T1"]  # the next cycle looks again
    assert [w.target for w in asana.writes] == ["asana:T1"]


def test_every_source_is_pulled_before_any_children_look_up(tmp_path: Path, store: Store) -> None:
    config = make_config(
        tmp_path,
        sources={"asana": {"projects": ["1204"]}, "github": {"repos": ["acme/web"]}},
    )
    events: list[str] = []

    class Recording(ChildrenSource):
        def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
            events.append(f"pull:{self.name}")
            result = super().pull(bookmark_ms, started_at)
            result.source = self.name
            return result

        def children(self, parents: Any, known: Any) -> list[WorkItem]:
            events.append(f"children:{self.name}")
            return super().children(parents, known)

    def make(name: str) -> Recording:
        parent = replace(asana_item("P1", ("okr:ONB-1",), child_count=1), source=name)
        child = replace(asana_item("C1", parent="P1"), source=name)
        source = Recording([parent], {"P1": [child]})
        source.name = name
        return source

    sources = {name: make(name) for name in ("asana", "github")}
    result = run_cycle(config, store, sources.__getitem__, now=NOW, clock=lambda: WALL)

    order = config.sources.enabled()
    assert events == [f"pull:{name}" for name in order] + [f"children:{name}" for name in order]
    assert all(outcome.pulled == 2 for outcome in result.sources)
    assert result.report.kr_status("ONB-1").items.total == 2  # both children, from memory


class CountingStore(Store):
    def __init__(self, url: str):
        super().__init__(url)
        self.full_reads = 0

    def items(self, source: str | None = None, as_of: datetime | None = None) -> list[WorkItem]:
        if source is None and as_of is None:  # the latest items, not the cycle start's
            self.full_reads += 1
        return super().items(source, as_of)


def test_a_cycle_reads_the_whole_store_once(tmp_path: Path) -> None:
    config = make_config(tmp_path, sources={"asana": {"projects": ["1204"]}})
    store = CountingStore(f"sqlite:///{tmp_path / 'okrsync.db'}")
    source = ChildrenSource(
        [asana_item("T1", ("okr:ONB-1",), child_count=1)],
        {
            "T1": [asana_item("S1", parent="T1", child_count=1)],
            "S1": [asana_item("S2", parent="S1")],
        },
    )

    result = run_cycle(config, store, lambda name: source, now=NOW, clock=lambda: WALL)

    assert store.full_reads == 1
    assert result.report.kr_status("ONB-1").items.total == 1  # S2, the leaf, seen in memory
    assert {i.key for i in store.items("asana")} == {"T1", "S1", "S2"}  # children are stored


class MapCounter:
    """Counts `map_items` wherever a cycle calls it, and checks that every report computed
    from a mapping handed on is the report of its items mapped anew."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls = 0
        self.handed_on = 0
        real_map, real_compute = map_items, compute_report_and_mapping

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real_map(*args, **kwargs)

        def checked(*args: Any, mapped: Any = None, **kwargs: Any) -> Any:
            if mapped is None:
                return real_compute(*args, **kwargs)
            self.handed_on += 1
            report, used = real_compute(*args, mapped=mapped, **kwargs)
            calls = self.calls
            fresh, _ = real_compute(*args, **kwargs)  # the items mapped anew, not counted
            self.calls = calls
            assert report == fresh
            return report, used

        monkeypatch.setattr("okrsync.service.pipeline.map_items", counted)
        monkeypatch.setattr("okrsync.domain.report.map_items", counted)
        monkeypatch.setattr("okrsync.service.pipeline.compute_report_and_mapping", checked)

    def reset(self) -> None:
        self.calls = self.handed_on = 0


def test_a_cycle_that_finds_no_new_child_maps_its_items_once(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tmp_path, sources={"asana": {"projects": ["1204"]}})
    # The look-up gives the same subtask every cycle, as Asana's subtask lists do.
    source = ChildrenSource(
        [asana_item("T1", ("okr:ONB-1",), child_count=1), asana_item("T2")],
        {"T1": [asana_item("S1", parent="T1", bucket=Bucket.DONE)]},
    )
    counter = MapCounter(monkeypatch)

    first = run_cycle(config, store, lambda name: source, now=NOW, clock=lambda: WALL)
    # S1 was new: the items mapped for the look-up are not the report's.
    assert (counter.calls, counter.handed_on) == (2, 0)
    counter.reset()
    second = run_cycle(config, store, lambda name: source, now=NOW, clock=lambda: WALL)

    # S1 again, as stored: one mapping for the look-up and the report.
    assert (counter.calls, counter.handed_on) == (1, 1)
    assert first.report.kr_status("ONB-1").items == ItemCounts(total=1, done=1)
    assert second.report == first.report
    assert second.sources[0].pulled == 3  # S1 counted as found, as before


def test_a_child_that_changed_is_mapped_with_the_other_items(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tmp_path, sources={"asana": {"projects": ["1204"]}})
    subtask = asana_item("S1", parent="T1")
    source = ChildrenSource([asana_item("T1", ("okr:ONB-1",), child_count=1)], {"T1": [subtask]})
    run_cycle(config, store, lambda name: source, now=NOW, clock=lambda: WALL)
    source.children_of["T1"] = [replace(subtask, bucket=Bucket.DONE, status="done")]
    counter = MapCounter(monkeypatch)

    result = run_cycle(config, store, lambda name: source, now=NOW, clock=lambda: WALL)

    # S1 changed: the report maps the items with it.
    assert (counter.calls, counter.handed_on) == (2, 0)
    assert result.report.kr_status("ONB-1").items == ItemCounts(total=1, done=1)


@pytest.mark.parametrize(
    "only",
    [["asana"], ("asana",), {"asana"}, frozenset({"asana"}), (n for n in ["asana"])],
    ids=["list", "tuple", "set", "frozenset", "generator"],
)
def test_only_selects_the_same_sources_from_any_collection_even_a_generator(
    tmp_path: Path, store: Store, only: Any
) -> None:
    config = two_source_config(tmp_path)
    connected: list[str] = []

    def connect(name: str) -> FakeSource:
        connected.append(name)
        return ChildrenSource([], {}) if name == "asana" else FakeSource([])

    result = run_cycle(config, store, connect, now=NOW, clock=lambda: WALL, only=only)

    assert connected == ["asana"] and [s.name for s in result.sources] == ["asana"]


def test_only_with_several_names_from_a_generator_keeps_them_all(
    tmp_path: Path, store: Store
) -> None:
    config = two_source_config(tmp_path)
    sources = {"jira": FakeSource([]), "asana": ChildrenSource([], {})}

    result = run_cycle(
        config,
        store,
        sources.__getitem__,
        now=NOW,
        clock=lambda: WALL,
        only=(name for name in ["asana", "jira"]),  # type: ignore[arg-type]
    )

    assert [s.name for s in result.sources] == ["jira", "asana"]  # the config's order


def test_only_as_a_single_string_is_refused(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path)
    with pytest.raises(TypeError, match="collection of source names"):
        cycle(config, store, FakeSource([]), only="jira")


def test_stage_values_and_the_result_are_immutable(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path)
    result = cycle(config, store, FakeSource([item("ONB-1", ("okr:ONB-1",))]))
    (outcome,) = result.sources

    assert outcome.items == PullCounts(pulled=1, inserted=1)
    assert outcome.comments == CommentCounts(created=1)
    with pytest.raises(FrozenInstanceError):
        outcome.created = 2
    with pytest.raises(FrozenInstanceError):
        result.plan = []
    assert isinstance(result.sources, tuple)


def test_an_outcome_reads_items_and_comments_through_flat_names() -> None:
    outcome = SourceOutcome(
        "jira",
        items=PullCounts(pulled=12, deleted=1),
        comments=CommentCounts(created=2, skipped=5),
    )
    assert (outcome.pulled, outcome.deleted, outcome.created, outcome.skipped) == (12, 1, 2, 5)
    assert outcome.requests == 0 and outcome.ok


# -- typed operations: each record saved as soon as its write succeeded ---------------------


class FieldSource(FakeSource):
    """Also writes fields and the property; `fail_after` ops, the system fails (a cycle cut
    short: a timeout, the process stopped)."""

    def __init__(self, items: list[WorkItem]):
        super().__init__(items)
        self.done: list[TargetOperation] = []
        self.fail_after: int | None = None

    def apply_operations(self, operations: Sequence[TargetOperation]) -> Iterator[OperationOutcome]:
        for operation in operations:
            if self.fail_after is not None and len(self.done) >= self.fail_after:
                raise RetriableError("jira", "write fields: timed out")
            if isinstance(operation, SetField) and operation.name == "Nope":
                yield OperationOutcome(operation, error="no field named 'Nope' on this Jira")
                continue
            self.done.append(operation)
            display = operation.display if isinstance(operation, SetField) else ""
            yield OperationOutcome(operation, remote_id=display)


WRITEBACK = {"jira": {"fields": {"OKR Health": "health", "Nope": "outcome"}, "property": True}}


def test_a_cycle_cut_short_keeps_the_records_of_what_was_written_and_never_repeats_it(
    tmp_path: Path, store: Store
) -> None:
    config = make_config(tmp_path, writeback=WRITEBACK)
    source = FieldSource([item("ONB-1", ("okr:ONB-1",))])
    source.fail_after = 1  # the health field is set, then the system stops answering

    first = cycle(config, store, source)

    assert [op.op_key for op in first.plan] == [
        "comment",
        "field:OKR Health",
        "field:Nope",
        "property:okrsync.status",
    ]
    assert first.exit_code == 1
    assert first.sources[0].write_errors == ("jira:ONB-1: jira: write fields: timed out",)
    record = store.writeback("jira:ONB-1#field:OKR Health")
    assert record is not None and record.remote_id == "No data"
    source.fail_after = None

    second = cycle(config, store, source)

    # The comment and the health field are not written again; what failed is.
    assert [op.op_key for op in second.plan] == ["field:Nope", "property:okrsync.status"]
    assert [op.op_key for op in source.done] == ["field:OKR Health", "property:okrsync.status"]
    assert len(source.writes) == 1 and second.sources[0].write_errors == (
        "jira:ONB-1: no field named 'Nope' on this Jira",
    )


def test_a_source_that_writes_only_comments_reports_the_other_operations_as_errors(
    tmp_path: Path, store: Store
) -> None:
    config = make_config(tmp_path, writeback={"jira": {"property": True}})
    source = FakeSource([item("ONB-1", ("okr:ONB-1",))])

    result = cycle(config, store, source)

    assert result.sources[0].created == 1
    assert result.sources[0].write_errors == (
        "jira:ONB-1: jira cannot write property:okrsync.status",
    )
    assert store.writeback("jira:ONB-1#property:okrsync.status") is None


def test_a_dry_run_plans_operations_and_writes_no_record(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, writeback=WRITEBACK)
    source = FieldSource([item("ONB-1", ("okr:ONB-1",))])

    result = cycle(config, store, source, dry_run=True)

    assert len(result.plan) == 4 and source.done == [] and source.writes == []
    assert store.writeback("jira:ONB-1#field:OKR Health") is None


def test_credentials_leave_item_urls_and_other_items_are_kept_as_they_are() -> None:
    plain = [work_item(f"ONB-{n}") for n in range(3)]
    leaky = replace(plain[0], key="ONB-9", url="https://bot:s3cret@jira.example/browse/ONB-9")

    cleaned = without_credentials([*plain, leaky])

    assert all(after is before for after, before in zip(cleaned, plain, strict=False))
    assert cleaned[3] == replace(leaky, url="https://jira.example/browse/ONB-9")
