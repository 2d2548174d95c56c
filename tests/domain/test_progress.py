from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from factories import Q4, key_result, leaf, sample, utc
from hypothesis import given
from hypothesis import strategies as st

from okrsync.domain import (
    Bucket,
    ItemCounts,
    MappedItem,
    Rules,
    WeightMode,
    cycle_bounds,
    delivery_progress,
    expected_progress,
    item_counts,
    latest_value,
    outcome_progress,
)

WEIGHT_MODES: list[WeightMode] = ["points", "count"]
COUNT = Rules(weight="count")
POINTS = Rules(weight="points", default_points=2.0)

# --------------------------------------------------------------------------- time


def test_cycle_bounds_cover_both_dates_in_utc() -> None:
    assert cycle_bounds(Q4) == (utc(2026, 10, 1), utc(2027, 1, 1))


class TestExpectedProgress:
    def test_last_day_of_the_cycle_is_still_inside_it(self) -> None:
        assert expected_progress(Q4, utc(2026, 12, 31, 12)) < 1.0

    def test_complete_exactly_at_midnight_after_the_end_date(self) -> None:
        assert expected_progress(Q4, utc(2027, 1, 1)) == 1.0

    def test_zero_before_and_at_start(self) -> None:
        assert expected_progress(Q4, utc(2026, 9, 15)) == 0.0
        assert expected_progress(Q4, utc(2026, 10, 1)) == 0.0

    def test_one_after_the_end(self) -> None:
        assert expected_progress(Q4, utc(2027, 3, 1)) == 1.0

    def test_elapsed_fraction(self) -> None:
        # Q4 2026 is 92 days; 46 days in is half.
        assert expected_progress(Q4, utc(2026, 11, 16)) == pytest.approx(0.5)
        # 50.6 days in (2026-11-20 14:24 UTC) is the DESIGN example's 0.55.
        assert expected_progress(Q4, utc(2026, 11, 20, 14, 24)) == pytest.approx(0.55)

    def test_other_timezones_are_converted(self) -> None:
        plus_two = datetime(2026, 11, 16, 4, tzinfo=timezone(timedelta(hours=2)))
        assert expected_progress(Q4, plus_two) == pytest.approx(
            expected_progress(Q4, utc(2026, 11, 16, 2))
        )

    def test_naive_now_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            expected_progress(Q4, datetime(2026, 11, 1))

    @given(
        st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 1, 1)),
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
    )
    def test_monotone_in_now_and_within_unit_interval(
        self, naive: datetime, step: timedelta
    ) -> None:
        earlier = naive.replace(tzinfo=UTC)
        first = expected_progress(Q4, earlier)
        second = expected_progress(Q4, earlier + step)
        assert 0.0 <= first <= second <= 1.0


# --------------------------------------------------------------------------- outcome


class TestLatestValue:
    def test_latest_sample_at_or_before_now(self) -> None:
        samples = [
            sample("K", 70, utc(2026, 10, 5)),
            sample("K", 74, utc(2026, 11, 1)),
            sample("K", 72, utc(2026, 10, 20)),
        ]
        assert latest_value(samples, utc(2026, 11, 1)) == 74

    def test_sample_after_now_is_ignored(self) -> None:
        samples = [sample("K", 70, utc(2026, 10, 5)), sample("K", 99, utc(2026, 11, 2))]
        assert latest_value(samples, utc(2026, 11, 1)) == 70

    def test_ties_on_time_take_the_one_appearing_last(self) -> None:
        at = utc(2026, 10, 5)
        assert latest_value([sample("K", 1, at), sample("K", 2, at)], utc(2026, 11, 1)) == 2

    def test_no_sample_is_none(self) -> None:
        assert latest_value([], utc(2026, 11, 1)) is None
        assert latest_value([sample("K", 1, utc(2026, 12, 1))], utc(2026, 11, 1)) is None

    def test_naive_sample_time_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="sample time"):
            latest_value([sample("K", 1, datetime(2026, 10, 5))], utc(2026, 11, 1))


class TestOutcomeProgress:
    def test_design_example(self) -> None:
        kr = key_result("ONB-1", baseline=68, target=85)
        assert outcome_progress(kr, 74) == pytest.approx(6 / 17)
        assert outcome_progress(kr, 74) == pytest.approx(0.353, abs=5e-4)

    def test_decreasing_metric(self) -> None:
        assert outcome_progress(key_result("K", baseline=30, target=10), 20) == 0.5

    def test_not_clamped(self) -> None:
        kr = key_result("K", baseline=0, target=10)
        assert outcome_progress(kr, 15) == 1.5
        assert outcome_progress(kr, -5) == -0.5

    def test_no_current_value(self) -> None:
        assert outcome_progress(key_result("K"), None) is None

    def test_baseline_equal_to_target_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="baseline and target"):
            outcome_progress(key_result("K", baseline=5, target=5), 5)

    finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)

    @given(finite, finite)
    def test_baseline_is_zero_and_target_is_one(self, baseline: float, target: float) -> None:
        if abs(target - baseline) < 1e-3:
            return
        kr = key_result("K", baseline=baseline, target=target)
        assert outcome_progress(kr, baseline) == pytest.approx(0.0, abs=1e-9)
        assert outcome_progress(kr, target) == pytest.approx(1.0)

    @given(finite, finite, finite)
    def test_decreasing_metric_mirrors_increasing(
        self, baseline: float, target: float, current: float
    ) -> None:
        if abs(target - baseline) < 1e-3:
            return
        decreasing = key_result("K", baseline=baseline, target=target)
        mirrored = key_result("K", baseline=-baseline, target=-target)
        swapped = key_result("K", baseline=target, target=baseline)
        progress = outcome_progress(decreasing, current)
        assert progress is not None
        assert outcome_progress(mirrored, -current) == pytest.approx(progress)
        assert outcome_progress(swapped, current) == pytest.approx(1 - progress, abs=1e-6)


# --------------------------------------------------------------------------- delivery


class TestDeliveryProgress:
    def test_count_weights_each_leaf_once(self) -> None:
        leaves = [leaf(Bucket.DONE, 8), leaf(Bucket.TODO, 1), leaf(Bucket.TODO, 1)]
        assert delivery_progress(leaves, COUNT) == pytest.approx(1 / 3)

    def test_points_weights_with_default_points(self) -> None:
        # done 8 + done (default 2) of 8 + 2 + 5 + 5 = 10 / 20
        leaves = [
            leaf(Bucket.DONE, 8),
            leaf(Bucket.DONE, None),
            leaf(Bucket.TODO, 5),
            leaf(Bucket.IN_PROGRESS, 5),
        ]
        assert delivery_progress(leaves, POINTS) == pytest.approx(0.5)

    def test_credit_for_in_progress(self) -> None:
        rules = Rules(
            weight="count",
            credit={Bucket.TODO: 0.0, Bucket.IN_PROGRESS: 0.5, Bucket.DONE: 1.0},
        )
        leaves = [leaf(Bucket.DONE), leaf(Bucket.IN_PROGRESS), leaf(Bucket.TODO)]
        assert delivery_progress(leaves, rules) == pytest.approx(0.5)

    def test_open_items_count_as_todo_with_no_credit(self) -> None:
        assert delivery_progress([leaf(Bucket.TODO), leaf(Bucket.TODO)], COUNT) == 0.0

    def test_no_leaves_is_none(self) -> None:
        assert delivery_progress([], COUNT) is None

    def test_zero_total_weight_is_none(self) -> None:
        assert delivery_progress([leaf(Bucket.DONE, 0), leaf(Bucket.TODO, 0)], POINTS) is None

    leaf_lists = st.lists(
        st.builds(
            leaf,
            st.sampled_from([Bucket.TODO, Bucket.IN_PROGRESS, Bucket.DONE]),
            st.none() | st.floats(min_value=0, max_value=100, allow_nan=False),
        ),
        max_size=30,
    )
    credits = st.floats(min_value=0, max_value=1, allow_nan=False)

    @given(leaf_lists, credits, credits, credits, st.sampled_from(WEIGHT_MODES))
    def test_within_unit_interval_when_credits_are(
        self, leaves: list[MappedItem], todo: float, doing: float, done: float, weight: WeightMode
    ) -> None:
        credit = {Bucket.TODO: todo, Bucket.IN_PROGRESS: doing, Bucket.DONE: done}
        rules = Rules(weight=weight, credit=credit)
        progress = delivery_progress(leaves, rules)
        assert progress is None or 0.0 <= progress <= 1.0

    @given(leaf_lists, st.randoms(use_true_random=False))
    def test_invariant_under_shuffling(self, leaves: list[MappedItem], rng: random.Random) -> None:
        shuffled = list(leaves)
        rng.shuffle(shuffled)
        assert delivery_progress(shuffled, POINTS) == delivery_progress(leaves, POINTS)


def test_item_counts_by_bucket() -> None:
    leaves = [leaf(Bucket.DONE), leaf(Bucket.DONE), leaf(Bucket.IN_PROGRESS), leaf(Bucket.TODO)]
    assert item_counts(leaves) == ItemCounts(total=4, done=2, in_progress=1, todo=1)
    assert item_counts([]) == ItemCounts()
