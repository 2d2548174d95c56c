from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from factories import Q4, key_result, objective, sample, utc, work_item
from hypothesis import given, settings
from hypothesis import strategies as st

from okrsync.domain import (
    SHIPPING_WITHOUT_IMPACT,
    Bucket,
    Health,
    ItemCounts,
    KRStatus,
    MetricSample,
    Objective,
    Report,
    Rules,
    WorkItem,
    compute_report,
    objective_score,
)

# 50.6 of Q4's 92 days have passed: expected progress 0.55, as in docs/design.md.
NOW = utc(2026, 11, 20, 14, 24)

ONB = objective(
    "ONB",
    key_result("ONB-1", baseline=68, target=85, labels=["onboarding-completion"]),
    key_result("ONB-2", baseline=30, target=10),
)


def design_items() -> list[WorkItem]:
    """An epic on ONB-1 with 10 stories (8 done, 1 in progress, 1 todo) and 2 loose items."""
    buckets = [Bucket.DONE] * 8 + [Bucket.IN_PROGRESS, Bucket.TODO]
    stories = [
        work_item(f"ONB-{n}", parent="ONB-100", bucket=bucket)
        for n, bucket in enumerate(buckets, start=101)
    ]
    loose = [work_item("SEC-1"), work_item("SEC-2", bucket=Bucket.DONE)]
    return [work_item("ONB-100", labels=["OKR:onb-1"]), *stories, *loose]


def report_for(
    items: list[WorkItem],
    samples: list[MetricSample] | None = None,
    rules: Rules | None = None,
    objectives: list[Objective] | None = None,
    now: datetime = NOW,
) -> Report:
    return compute_report(Q4, objectives or [ONB], items, samples or [], rules or Rules(), now)


class TestDesignExample:
    samples = [sample("ONB-1", 68, utc(2026, 10, 1)), sample("ONB-1", 74, utc(2026, 11, 16))]

    def status(self) -> KRStatus:
        return report_for(design_items(), self.samples).kr_status("ONB-1")

    def test_progress_numbers(self) -> None:
        status = self.status()
        assert status.current == 74
        assert status.outcome_progress == pytest.approx(0.353, abs=5e-4)
        assert status.delivery_progress == pytest.approx(0.8)
        assert status.expected_progress == pytest.approx(0.55)

    def test_health_and_flag(self) -> None:
        status = self.status()
        assert status.health is Health.AT_RISK
        assert status.flags == (SHIPPING_WITHOUT_IMPACT,)

    def test_items_count_the_stories_not_the_epic(self) -> None:
        assert self.status().items == ItemCounts(total=10, done=8, in_progress=1, todo=1)

    def test_forecast_reads_the_trend_at_cycle_end(self) -> None:
        # +6 over 46 days from 68 on day 0: 80 on day 92 (24:00 on 2026-12-31).
        assert self.status().forecast == pytest.approx(80.0)

    def test_objective_and_unmapped(self) -> None:
        report = report_for(design_items(), self.samples)
        onb = report.objectives[0]
        # ONB-2 has no samples and is left out of the score.
        assert onb.score == pytest.approx(6 / 17)
        assert onb.health is Health.AT_RISK
        assert report.unmapped_count == 2
        assert report.as_of == NOW
        assert report.cycle == Q4


class TestKRStatus:
    def test_no_sample_is_no_data_without_flag(self) -> None:
        status = report_for(design_items()).kr_status("ONB-1")
        assert status.current is None
        assert status.outcome_progress is None
        assert status.health is Health.NO_DATA
        assert status.forecast is None
        assert status.flags == ()
        assert status.delivery_progress == pytest.approx(0.8)

    def test_decreasing_metric(self) -> None:
        status = report_for([], [sample("ONB-2", 20, utc(2026, 11, 1))]).kr_status("ONB-2")
        assert status.outcome_progress == 0.5
        assert status.health is Health.ON_TRACK  # 0.5 ≥ 0.9 × 0.55
        assert status.delivery_progress is None
        assert status.items == ItemCounts()

    def test_sample_after_now_is_ignored(self) -> None:
        samples = [sample("ONB-1", 74, utc(2026, 11, 1)), sample("ONB-1", 85, utc(2026, 12, 1))]
        assert report_for([], samples).kr_status("ONB-1").current == 74

    def test_sample_kr_ids_match_case_insensitively_and_unknown_ones_are_ignored(self) -> None:
        samples = [sample("onb-1", 74, utc(2026, 11, 1)), sample("SEC-1", 1, utc(2026, 11, 2))]
        assert report_for([], samples).kr_status("ONB-1").current == 74

    def test_flag_at_exact_divergence_through_the_whole_computation(self) -> None:
        # 7 of 10 done and 3 of 10 moved: 0.7 - 0.3 is 0.39999999999999997 in floats.
        okr = objective("X", key_result("X-1", baseline=0, target=10))
        items = [
            work_item(f"X-{n}", labels=["okr:x-1"], bucket=Bucket.DONE if n < 7 else Bucket.TODO)
            for n in range(10)
        ]
        status = report_for(
            items, [sample("X-1", 3, utc(2026, 11, 15))], objectives=[okr]
        ).kr_status("X-1")
        assert status.flags == (SHIPPING_WITHOUT_IMPACT,)

    def test_item_in_two_krs_counts_in_both(self) -> None:
        report = report_for([work_item("A", labels=["okr:onb-1", "okr:onb-2"])])
        assert report.kr_status("ONB-1").items.total == 1
        assert report.kr_status("ONB-2").items.total == 1

    def test_child_inherits_and_grandchildren_count(self) -> None:
        items = [
            work_item("EPIC", labels=["okr:onb-1"]),
            work_item("STORY", parent="EPIC"),
            work_item("T1", parent="STORY", bucket=Bucket.DONE),
            work_item("T2", parent="STORY"),
        ]
        status = report_for(items).kr_status("ONB-1")
        assert status.items == ItemCounts(total=2, done=1, todo=1)
        assert status.delivery_progress == 0.5

    def test_without_inheritance_the_labelled_epic_is_the_leaf(self) -> None:
        items = [
            work_item("EPIC", labels=["okr:onb-1"]),
            work_item("STORY", parent="EPIC", bucket=Bucket.DONE),
        ]
        report = report_for(items, rules=Rules(inherit_from_parent=False))
        assert report.kr_status("ONB-1").items == ItemCounts(total=1, todo=1)
        assert report.unmapped_count == 1

    def test_points_weighting_with_default_points(self) -> None:
        items = [
            work_item("A", labels=["okr:onb-1"], points=5, bucket=Bucket.DONE),
            work_item("B", labels=["okr:onb-1"], points=None, bucket=Bucket.TODO),
        ]
        points = report_for(items, rules=Rules(weight="points", default_points=3))
        count = report_for(items, rules=Rules(weight="count"))
        assert points.kr_status("ONB-1").delivery_progress == pytest.approx(5 / 8)
        assert count.kr_status("ONB-1").delivery_progress == pytest.approx(1 / 2)

    def test_bucket_overrides_apply(self) -> None:
        items = [
            work_item("A", labels=["okr:onb-1"], status="In Review", bucket=Bucket.IN_PROGRESS),
            work_item("B", labels=["okr:onb-1", "shipped"], bucket=Bucket.TODO),
        ]
        rules = Rules(
            status_buckets={"in review": Bucket.DONE}, label_buckets={"SHIPPED": Bucket.DONE}
        )
        assert report_for(items, rules=rules).kr_status("ONB-1").items == ItemCounts(
            total=2, done=2
        )

    def test_excluded_items_count_nowhere(self) -> None:
        items = [
            work_item("A", labels=["okr:onb-1"], bucket=Bucket.DONE),
            work_item("PR", labels=["okr:onb-1"], bucket=Bucket.EXCLUDED),
            work_item("NOPE", bucket=Bucket.EXCLUDED),
            work_item("WONT", labels=["okr:onb-1", "wontfix"]),
        ]
        rules = Rules(label_buckets={"wontfix": Bucket.EXCLUDED}, writeback_targets="all")
        report = report_for(items, rules=rules)
        assert report.kr_status("ONB-1").items == ItemCounts(total=1, done=1)
        assert report.unmapped_count == 0
        assert [t.item.key for t in report.targets] == ["A"]


class TestObjectiveScore:
    def test_weighted_mean_of_clamped_progress_skipping_krs_without_data(self) -> None:
        okr = objective(
            "X",
            key_result("X-1", baseline=0, target=10, weight=3),
            key_result("X-2", baseline=0, target=10, weight=1),
            key_result("X-3", baseline=0, target=10, weight=100),
        )
        samples = [sample("X-1", 12, utc(2026, 11, 1)), sample("X-2", 2, utc(2026, 11, 1))]
        report = report_for([], samples, objectives=[okr])
        # (3 × clamp(1.2) + 1 × 0.2) / (3 + 1) = 0.8; X-3 has no data.
        assert report.objectives[0].score == pytest.approx(0.8)
        assert report.objectives[0].health is Health.ON_TRACK

    def test_no_krs_with_data_is_no_data(self) -> None:
        objective_status = report_for([]).objectives[0]
        assert objective_status.score is None
        assert objective_status.health is Health.NO_DATA

    def test_zero_total_weight_is_none(self) -> None:
        okr = objective("X", key_result("X-1", weight=0))
        report = report_for([], [sample("X-1", 50, utc(2026, 11, 1))], objectives=[okr])
        assert objective_score(report.objectives[0].key_results) is None

    def test_objectives_and_krs_keep_config_order(self) -> None:
        second = objective("AAA", key_result("Z-1"), key_result("A-1"))
        report = report_for([], objectives=[ONB, second])
        assert [o.objective.id for o in report.objectives] == ["ONB", "AAA"]
        assert [k.kr.id for k in report.objectives[1].key_results] == ["Z-1", "A-1"]


class TestTargets:
    def items(self) -> list[WorkItem]:
        return [
            work_item("EPIC", labels=["okr:onb-1"]),
            work_item("CHILD", parent="EPIC", labels=["okr:onb-2"], bucket=Bucket.DONE),
            work_item("T1", parent="CHILD"),
            work_item("PLAIN", parent="EPIC"),
            work_item("LONE", labels=["onboarding-completion"], bucket=Bucket.DONE),
            work_item("3", source="github", labels=["okr:onb-2"]),
            work_item("OTHER"),
        ]

    def test_top_level_only_labelled_items_without_mapped_parent(self) -> None:
        targets = report_for(self.items()).targets
        assert [(t.item.source, t.item.key) for t in targets] == [
            ("github", "3"),
            ("jira", "EPIC"),
            ("jira", "LONE"),
        ]
        epic = targets[1]
        assert epic.kr_ids == ("ONB-1",)
        # Its subtree's leaves: T1 (under CHILD) and PLAIN.
        assert epic.leaves == ItemCounts(total=2, todo=2)
        assert targets[2].leaves == ItemCounts(total=1, done=1)

    def test_labelled_child_under_unmapped_parent_is_top_level(self) -> None:
        items = [work_item("EPIC"), work_item("CHILD", parent="EPIC", labels=["okr:onb-1"])]
        assert [t.item.key for t in report_for(items).targets] == ["CHILD"]

    def test_labelled_child_under_labelled_parent_without_inheritance(self) -> None:
        items = [
            work_item("EPIC", labels=["okr:onb-1"]),
            work_item("CHILD", parent="EPIC", labels=["okr:onb-2"]),
        ]
        report = report_for(items, rules=Rules(inherit_from_parent=False))
        assert [t.item.key for t in report.targets] == ["EPIC"]

    def test_all_mapped_items(self) -> None:
        report = report_for(self.items(), rules=Rules(writeback_targets="all"))
        keys = [t.item.key for t in report.targets]
        assert keys == ["3", "CHILD", "EPIC", "LONE", "PLAIN", "T1"]
        child = report.targets[1]
        assert child.kr_ids == ("ONB-1", "ONB-2")
        assert child.leaves == ItemCounts(total=1, todo=1)

    def test_none(self) -> None:
        assert report_for(self.items(), rules=Rules(writeback_targets="none")).targets == ()


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        report_for([], now=datetime(2026, 11, 1))


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_report_does_not_depend_on_input_order(rng: random.Random) -> None:
    items = [
        *design_items(),
        work_item("CHILD", parent="ONB-101", labels=["okr:onb-2"], points=3),
        work_item("ONB-200", labels=["okr:onb-2"], points=2, bucket=Bucket.DONE),
    ]
    samples = [
        sample("ONB-1", 60 + day % 11, utc(2026, 10, 1) + timedelta(days=day)) for day in range(40)
    ] + [sample("ONB-2", 30 - day, utc(2026, 10, 1) + timedelta(days=2 * day)) for day in range(9)]
    shuffled_items, shuffled_samples = list(items), list(samples)
    rng.shuffle(shuffled_items)
    rng.shuffle(shuffled_samples)
    assert report_for(shuffled_items, shuffled_samples) == report_for(items, samples)
