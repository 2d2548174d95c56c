"""KR kinds, grading, final, stale metrics, scope, the delivery forecast and the objective tree
(docs/design.md, "KR kinds" and "History")."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from factories import Q4, key_result, objective, sample, utc, work_item

from okrsync.domain import (
    STALE_METRIC,
    Bucket,
    Health,
    KRSnapshot,
    MetricSample,
    Objective,
    Report,
    Rules,
    ValueRange,
    WorkItem,
    compute_report,
    delivery_forecast,
    effective_parents,
    snapshots_from,
    weekly_done,
)

NOW = utc(2026, 11, 20, 14, 24)  # expected progress 0.55
END = utc(2027, 1, 1)  # 24:00 UTC of Dec 31


def report_for(
    objectives: list[Objective],
    samples: list[MetricSample] | None = None,
    items: list[WorkItem] | None = None,
    now: datetime = NOW,
    **kwargs: object,
) -> Report:
    return compute_report(Q4, objectives, items or [], samples or [], Rules(), now, **kwargs)  # type: ignore[arg-type]


def done_items(kr_id: str, done: int, todo: int) -> list[WorkItem]:
    return [
        work_item(f"{kr_id}-{n}", labels=[f"okr:{kr_id}"], bucket=Bucket.DONE) for n in range(done)
    ] + [
        work_item(f"{kr_id}-t{n}", labels=[f"okr:{kr_id}"], bucket=Bucket.TODO) for n in range(todo)
    ]


# --------------------------------------------------------------------------- kinds


class TestMaintain:
    KR = key_result("M-1", kind="maintain", range=ValueRange(99.5, 100.0))

    def test_inside_the_range_is_full_progress_and_on_track(self) -> None:
        status = report_for(
            [objective("M", self.KR)], [sample("M-1", 99.9, utc(2026, 11, 19))]
        ).kr_status("M-1")
        assert (status.outcome_progress, status.health, status.score) == (1.0, Health.ON_TRACK, 1.0)

    def test_outside_the_range_is_nothing_and_off_track(self) -> None:
        status = report_for(
            [objective("M", self.KR)], [sample("M-1", 99.2, utc(2026, 11, 19))]
        ).kr_status("M-1")
        assert (status.outcome_progress, status.health) == (0.0, Health.OFF_TRACK)

    def test_both_ends_count_as_inside(self) -> None:
        for value in (99.5, 100.0):
            status = report_for(
                [objective("M", self.KR)], [sample("M-1", value, utc(2026, 11, 19))]
            ).kr_status("M-1")
            assert status.health is Health.ON_TRACK

    def test_needs_no_baseline_or_target(self) -> None:
        kr = replace(
            key_result("M-2", kind="maintain", range=ValueRange(1, 2)), baseline=None, target=None
        )
        status = report_for([objective("M", kr)], [sample("M-2", 1.5, NOW)]).kr_status("M-2")
        assert status.outcome_progress == 1.0


class TestMilestone:
    KR = key_result("S-1", kind="milestone")

    def test_a_check_in_of_1_means_reached(self) -> None:
        status = report_for([objective("S", self.KR)], [sample("S-1", 1, NOW)]).kr_status("S-1")
        assert (status.outcome_progress, status.health) == (1.0, Health.ON_TRACK)
        assert status.forecast is None

    def test_not_reached_without_work_is_at_risk_until_the_end(self) -> None:
        status = report_for([objective("S", self.KR)], [sample("S-1", 0, NOW)]).kr_status("S-1")
        assert (status.outcome_progress, status.health) == (0.0, Health.AT_RISK)
        after = report_for([objective("S", self.KR)], [sample("S-1", 0, NOW)], now=END)
        assert after.kr_status("S-1").health is Health.OFF_TRACK
        assert after.kr_status("S-1").final == "missed"

    def test_not_reached_is_judged_by_its_delivery(self) -> None:
        # 6 of 10 done: 0.6 >= 0.9 × 0.55.
        status = report_for(
            [objective("S", self.KR)], [sample("S-1", 0, NOW)], done_items("S-1", 6, 4)
        ).kr_status("S-1")
        assert status.health is Health.ON_TRACK
        assert status.outcome_progress == 0.0

    def test_no_check_in_is_no_data(self) -> None:
        status = report_for([objective("S", self.KR)]).kr_status("S-1")
        assert (status.outcome_progress, status.health) == (None, Health.NO_DATA)


class TestDeliveryKind:
    KR = key_result("D-1", kind="delivery")

    def test_outcome_is_the_delivery_progress(self) -> None:
        status = report_for([objective("D", self.KR)], items=done_items("D-1", 3, 1)).kr_status(
            "D-1"
        )
        assert status.outcome_progress == status.delivery_progress == 0.75
        assert status.health is Health.ON_TRACK
        assert status.flags == ()  # never shipping_without_impact, never stale
        assert status.forecast is None

    def test_counts_in_the_objective_score(self) -> None:
        report = report_for([objective("D", self.KR)], items=done_items("D-1", 1, 3))
        assert report.objectives[0].score == 0.25


# --------------------------------------------------------------------------- grading, final


class TestGrading:
    def test_aspirational_is_judged_against_70_percent_of_expected(self) -> None:
        # 0.40 against 0.55: committed at risk (< 0.495), aspirational on track (>= 0.3465).
        samples = [sample("A-1", 40, NOW)]
        committed = report_for([objective("A", key_result("A-1"))], samples).kr_status("A-1")
        aspirational = report_for(
            [objective("A", key_result("A-1", grading="aspirational"))], samples
        ).kr_status("A-1")
        assert committed.health is Health.AT_RISK
        assert aspirational.health is Health.ON_TRACK

    @pytest.mark.parametrize(
        ("value", "grading", "final"),
        [
            (100, "committed", "achieved"),
            (120, "committed", "achieved"),
            (70, "committed", "partial"),
            (70, "aspirational", "achieved"),
            (69, "aspirational", "partial"),
            (30, "committed", "partial"),
            (29, "committed", "missed"),
            (-5, "aspirational", "missed"),
        ],
    )
    def test_final_at_the_cycle_end(self, value: float, grading: str, final: str) -> None:
        okr = objective("A", key_result("A-1", grading=grading))  # type: ignore[arg-type]
        status = report_for([okr], [sample("A-1", value, utc(2026, 12, 31))], now=END).kr_status(
            "A-1"
        )
        assert status.final == final

    def test_no_final_before_the_end(self) -> None:
        okr = objective("A", key_result("A-1"))
        just_before = END - timedelta(seconds=1)
        status = report_for([okr], [sample("A-1", 100, NOW)], now=just_before).kr_status("A-1")
        assert status.final is None

    def test_no_data_at_the_end_is_missed(self) -> None:
        status = report_for([objective("A", key_result("A-1"))], now=END).kr_status("A-1")
        assert (status.score, status.final) == (None, "missed")


# --------------------------------------------------------------------------- samples


class TestSamplesInTheCycle:
    def test_check_ins_outside_the_cycle_do_not_count(self) -> None:
        okr = objective("C", key_result("C-1"))
        samples = [
            sample("C-1", 90, utc(2026, 9, 30, 23, 59)),  # before the start
            sample("C-1", 20, utc(2026, 10, 1)),
            sample("C-1", 30, utc(2026, 11, 1)),
            sample("C-1", 95, utc(2027, 1, 1)),  # after the end
        ]
        status = report_for([okr], samples, now=utc(2027, 2, 1)).kr_status("C-1")
        assert status.current == 30
        assert status.samples == 2
        assert status.last_sample_at == utc(2026, 11, 1)

    def test_no_current_from_before_the_cycle(self) -> None:
        okr = objective("C", key_result("C-1"))
        status = report_for([okr], [sample("C-1", 90, utc(2026, 9, 1))]).kr_status("C-1")
        assert (status.current, status.samples, status.health) == (None, 0, Health.NO_DATA)

    def test_metric_errors_match_ids_case_insensitively(self) -> None:
        okr = objective("C", key_result("C-1"), key_result("C-2"))
        report = report_for([okr], metric_errors={"c-1": "HTTP 500", "GONE-1": "x"})
        assert report.kr_status("C-1").metric_error == "HTTP 500"
        assert report.kr_status("C-2").metric_error is None


# --------------------------------------------------------------------------- stale


class TestStaleMetric:
    def test_a_check_in_older_than_14_days_is_stale(self) -> None:
        okr = objective("S", key_result("S-1"))
        fresh = report_for([okr], [sample("S-1", 50, NOW - timedelta(days=14))])
        stale = report_for([okr], [sample("S-1", 50, NOW - timedelta(days=14, seconds=1))])
        assert STALE_METRIC not in fresh.kr_status("S-1").flags
        assert STALE_METRIC in stale.kr_status("S-1").flags

    def test_per_kr_and_rules_stale_after(self) -> None:
        kr = key_result("S-1", stale_after=timedelta(days=3))
        status = report_for([objective("S", kr)], [sample("S-1", 50, NOW - timedelta(days=4))])
        assert STALE_METRIC in status.kr_status("S-1").flags
        rules = Rules(stale_after=timedelta(days=30))
        relaxed = compute_report(
            Q4,
            [objective("S", key_result("S-1"))],
            [],
            [sample("S-1", 50, NOW - timedelta(days=20))],
            rules,
            NOW,
        )
        assert relaxed.kr_status("S-1").flags == ()

    def test_not_for_delivery_kr_reached_milestone_or_no_check_in(self) -> None:
        old = NOW - timedelta(days=40)
        report = report_for(
            [
                objective(
                    "S",
                    key_result("D-1", kind="delivery"),
                    key_result("M-1", kind="milestone"),
                    key_result("N-1"),
                )
            ],
            [sample("D-1", 1, old), sample("M-1", 1, old)],
        )
        for kr_id in ("D-1", "M-1", "N-1"):
            assert STALE_METRIC not in report.kr_status(kr_id).flags

    def test_read_at_the_cycle_end_once_it_is_over(self) -> None:
        okr = objective("S", key_result("S-1"))
        report = report_for([okr], [sample("S-1", 50, utc(2026, 12, 25))], now=utc(2027, 3, 1))
        assert STALE_METRIC not in report.kr_status("S-1").flags


# --------------------------------------------------------------------------- scope


class TestScope:
    def test_a_story_going_from_5_to_8_points_shows_growth(self) -> None:
        okr = objective("P", key_result("P-1"))
        before = [work_item("P-1", labels=["okr:P-1"], points=5)]
        after = [work_item("P-1", labels=["okr:P-1"], points=8)]
        scope = report_for([okr], items=after, start_items=before).kr_status("P-1").scope
        assert scope is not None
        assert (scope.start_weight, scope.weight) == (5, 8)
        assert scope.growth == pytest.approx(0.6)

    def test_unknown_start_or_empty_start_has_no_growth(self) -> None:
        okr = objective("P", key_result("P-1"))
        items = [work_item("P-1", labels=["okr:P-1"], points=8)]
        unknown = report_for([okr], items=items).kr_status("P-1").scope
        empty = report_for([okr], items=items, start_items=[]).kr_status("P-1").scope
        assert unknown is not None and empty is not None
        assert (unknown.start_weight, unknown.growth) == (None, None)
        assert (empty.start_weight, empty.weight, empty.growth) == (0, 8, None)


# --------------------------------------------------------------------------- Monte Carlo


def weekly(points: list[float], end: datetime = NOW) -> list[tuple[datetime, float]]:
    """Done weights one week apart, the last at `end`."""
    n = len(points)
    return [(end - timedelta(weeks=n - 1 - i), value) for i, value in enumerate(points)]


class TestDeliveryForecast:
    def test_weekly_increments(self) -> None:
        start = utc(2026, 10, 1)
        history = [(start, 0.0), (start + timedelta(days=3), 2.0), (start + timedelta(days=8), 5.0)]
        history += [(start + timedelta(days=14), 6.0), (start + timedelta(days=15), 9.0)]
        # Boundaries at days 0, 7, 14: values 0, 2, 6.
        assert weekly_done(history, utc(2026, 12, 1)) == [2.0, 4.0]

    def test_null_under_three_weeks(self) -> None:
        assert delivery_forecast(weekly([0, 2, 4]), 10, NOW) is None
        assert delivery_forecast(weekly([0, 2, 4, 6]), 10, NOW) is not None

    def test_deterministic_with_a_seed_and_p50_not_after_p85(self) -> None:
        history = weekly([0, 1, 5, 6, 10, 11, 13])
        first = delivery_forecast(history, 20, NOW, seed=7)
        again = delivery_forecast(history, 20, NOW, seed=7)
        assert first == again and first is not None
        assert first.p50 is not None and first.p85 is not None
        assert NOW.date() < first.p50 <= first.p85
        assert first.remaining == 20

    def test_constant_throughput_is_exact(self) -> None:
        # 2 a week, 10 to go: five weeks in every run.
        forecast = delivery_forecast(weekly([0, 2, 4, 6]), 10, NOW)
        assert forecast is not None
        assert forecast.p50 == forecast.p85 == date(2026, 12, 25)

    def test_nothing_left_is_today_and_no_throughput_is_never(self) -> None:
        done = delivery_forecast(weekly([0, 2, 4, 6]), 0, NOW)
        stuck = delivery_forecast(weekly([3, 3, 3, 3]), 5, NOW)
        assert done is not None and (done.p50, done.remaining) == (NOW.date(), 0)
        assert stuck is not None and (stuck.p50, stuck.p85, stuck.remaining) == (None, None, 5)

    def test_through_compute_report_with_the_seed(self) -> None:
        okr = objective("F", key_result("F-1"))
        items = done_items("F-1", 6, 6)
        history = {"f-1": weekly([0, 1, 3, 4, 6], NOW - timedelta(days=1))}
        one = report_for([okr], items=items, done_history=history, seed=1).kr_status("F-1")
        same = report_for([okr], items=items, done_history=history, seed=1).kr_status("F-1")
        assert one.delivery_forecast is not None
        assert one.delivery_forecast == same.delivery_forecast
        assert one.delivery_forecast.remaining == 6
        assert report_for([okr], items=items).kr_status("F-1").delivery_forecast is None


# --------------------------------------------------------------------------- objective tree


class TestObjectiveTree:
    def tree(self) -> list[Objective]:
        return [
            objective("CO", key_result("CO-1")),
            objective("TEAM", key_result("T-1"), parent="co", weight=3),
            objective("SQUAD", key_result("Q-1"), parent="TEAM"),
        ]

    def test_parent_score_includes_its_children_weighted(self) -> None:
        samples = [sample("CO-1", 20, NOW), sample("T-1", 60, NOW), sample("Q-1", 100, NOW)]
        report = report_for(self.tree(), samples)
        squad = report.objective_status("SQUAD")
        team = report.objective_status("TEAM")
        company = report.objective_status("CO")
        assert squad.score == 1.0
        assert team.score == pytest.approx((0.6 + 1.0) / 2)
        assert company.score == pytest.approx((0.2 + 3 * 0.8) / 4)
        assert [o.objective.id for o in report.roots()] == ["CO"]
        assert company.children == ("TEAM",) and team.children == ("SQUAD",)
        assert team.objective.parent == "CO"  # the canonical spelling
        assert [o.objective.id for o in report.objectives] == ["CO", "TEAM", "SQUAD"]

    def test_a_child_without_data_does_not_count(self) -> None:
        report = report_for(self.tree(), [sample("CO-1", 20, NOW)])
        assert report.objective_status("CO").score == pytest.approx(0.2)

    def test_unknown_and_cyclic_parents_become_roots(self) -> None:
        objectives = [
            objective("A", key_result("A-1"), parent="B"),
            objective("B", key_result("B-1"), parent="A"),
            objective("C", key_result("C-1"), parent="A"),
            objective("D", key_result("D-1"), parent="NOPE"),
        ]
        assert effective_parents(objectives) == {"A": None, "B": None, "C": "A", "D": None}
        report = report_for(objectives)
        assert [o.objective.id for o in report.roots()] == ["A", "B", "D"]


def test_snapshots_from_a_report() -> None:
    okr = objective("H", key_result("H-1"))
    report = report_for([okr], [sample("H-1", 40, NOW)], done_items("H-1", 1, 3))
    assert snapshots_from(report) == [
        KRSnapshot(
            kr_id="H-1",
            at=NOW,
            current=40,
            outcome_progress=0.4,
            delivery_progress=0.25,
            expected_progress=report.kr_status("H-1").expected_progress,
            health="at_risk",
            done_weight=1,
            total_weight=4,
        )
    ]
