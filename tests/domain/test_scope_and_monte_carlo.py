"""The cycle start's scope without the mapping's objects, and the delivery forecast's
Monte Carlo: the same numbers as mapping the items, the same statistics as drawing each
run's weeks one by one."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from factories import key_result, objective, work_item
from hypothesis import given, settings
from hypothesis import strategies as st

from okrsync.domain import (
    Bucket,
    KRIndex,
    Rules,
    ScopeItem,
    WorkItem,
    delivery_forecast,
    leaf_weights,
    leaves_by_kr,
    map_items,
    scope_weights,
    scope_weights_as_mapped,
)
from okrsync.domain.forecast import HORIZON_WEEKS, _finishing_weeks

OBJECTIVES = [objective("O", key_result("A-1", labels=["alpha"]), key_result("B-1"))]
INDEX = KRIndex.from_objectives(OBJECTIVES)
LABELS = [(), ("okr:A-1",), ("okr:B-1",), ("alpha",), ("okr:A-1", "okr:B-1"), ("okr:C-9",)]
BUCKETS = [Bucket.TODO, Bucket.IN_PROGRESS, Bucket.DONE, Bucket.EXCLUDED]


def mapped_totals(items: list[WorkItem], rules: Rules) -> dict[str, float]:
    leaves = leaves_by_kr(map_items(items, INDEX, rules))
    return {kr_id: leaf_weights(found, rules).total for kr_id, found in leaves.items()}


def scope_item(item: WorkItem) -> ScopeItem:
    return ScopeItem(
        item.source,
        item.key,
        item.status,
        item.bucket,
        item.points,
        item.labels,
        item.parent,
        item.updated,
    )


trees = st.lists(
    st.tuples(
        st.integers(0, 30),  # the parent's number (itself or a missing one: no parent)
        st.sampled_from(LABELS),
        st.sampled_from(BUCKETS),
        st.one_of(st.none(), st.floats(0, 13, allow_nan=False)),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(
    trees,
    st.sampled_from(["points", "count"]),
    st.booleans(),
    st.booleans(),
)
def test_scope_weights_are_the_mapped_leaf_totals(
    shape: list[tuple[int, tuple[str, ...], Bucket, float | None]],
    weight: Literal["points", "count"],
    inherit: bool,
    overrides: bool,
) -> None:
    items = [
        work_item(f"K-{n}", labels=labels, parent=f"K-{parent}", bucket=bucket, points=points)
        for n, (parent, labels, bucket, points) in enumerate(shape)
    ]
    rules = replace(
        Rules(),
        weight=weight,
        inherit_from_parent=inherit,
        status_buckets={"done": Bucket.EXCLUDED} if overrides else {},
        label_buckets={"alpha": Bucket.DONE} if overrides else {},
    )
    expected = mapped_totals(items, rules)
    assert scope_weights(items, INDEX, rules) == expected
    assert scope_weights([scope_item(item) for item in items], INDEX, rules) == expected


@settings(max_examples=200, deadline=None)
@given(
    trees,
    st.lists(
        st.tuples(
            st.sampled_from(BUCKETS),
            st.one_of(st.none(), st.floats(0, 13, allow_nan=False)),
            st.booleans(),  # relabel the item at the start
        ),
        max_size=25,
    ),
    st.sampled_from(["points", "count"]),
    st.booleans(),
    st.booleans(),
)
def test_the_start_scope_read_off_the_current_mapping_is_the_mapped_one(
    shape: list[tuple[int, tuple[str, ...], Bucket, float | None]],
    moves: list[tuple[Bucket, float | None, bool]],
    weight: Literal["points", "count"],
    inherit: bool,
    overrides: bool,
) -> None:
    """The shortcut answers exactly what mapping the start items answers, or None when
    something that shapes the mapping moved (labels, parents, the kept items)."""
    now_items = [
        work_item(f"K-{n}", labels=labels, parent=f"K-{parent}", bucket=bucket, points=points)
        for n, (parent, labels, bucket, points) in enumerate(shape)
    ]
    start_items = list(now_items)
    for n, (bucket, points, relabel) in enumerate(moves[: len(now_items)]):
        labels = ("okr:B-1",) if relabel else now_items[n].labels
        start_items[n] = replace(now_items[n], bucket=bucket, points=points, labels=labels)
    rules = replace(
        Rules(),
        weight=weight,
        inherit_from_parent=inherit,
        status_buckets={"done": Bucket.EXCLUDED} if overrides else {},
        label_buckets={"alpha": Bucket.DONE} if overrides else {},
    )
    mapped = map_items(now_items, INDEX, rules)
    found = scope_weights_as_mapped(mapped, leaves_by_kr(mapped), start_items, rules)
    expected = scope_weights(start_items, INDEX, rules)
    if found is not None:
        assert found == expected
    # Only buckets and points moved, none to or from excluded: the shortcut applies.
    if (
        all(
            then.labels == now.labels
            and (then.bucket is Bucket.EXCLUDED) == (now.bucket is Bucket.EXCLUDED)
            for then, now in zip(start_items, now_items, strict=True)
        )
        and not overrides
    ):
        assert found == expected


def weekly_history(values: list[float], now: datetime) -> list[tuple[datetime, float]]:
    return [(now - timedelta(weeks=len(values) - 1 - n), v) for n, v in enumerate(values)]


def one_by_one(throughput: list[float], goal: float, runs: int, rng: random.Random) -> list[int]:
    """The plain Monte Carlo: each run draws its weeks one at a time."""
    finished = []
    for _ in range(runs):
        total = 0.0
        for week in range(1, HORIZON_WEEKS + 1):
            total += throughput[math.floor(rng.random() * len(throughput))]
            if total >= goal:
                finished.append(week)
                break
    return sorted(finished)


def test_the_monte_carlo_has_the_statistics_of_drawing_week_by_week() -> None:
    # Kolmogorov–Smirnov between the two, 20,000 runs each: the critical distance at the
    # 0.1% level is 1.95 * sqrt(2 / 20,000) ≈ 0.0195. Fixed seeds: the test is repeatable.
    cases = [
        ([0.0, 1.0, 4.0, 1.0, 4.0, 2.0], 20.0),
        ([2.5, 0.0, 7.0, 3.0, 3.0, 0.5, 9.0, 1.0, 0.0, 4.0, 2.0, 6.0, 1.0], 44.4),
        ([5.0, 5.0, 5.0], 9.0),
        ([0.0, 0.0, 0.0, 0.1], 2.0),
    ]
    for number, (throughput, goal) in enumerate(cases):
        ours = _finishing_weeks(throughput, goal, 20_000, random.Random(number))
        plain = one_by_one(throughput, goal, 20_000, random.Random(100 + number))
        assert ours == sorted(ours)
        weeks = range(1, max(ours + plain) + 1)
        distance = max(
            abs(sum(w <= week for w in ours) - sum(w <= week for w in plain)) / 20_000
            for week in weeks
        )
        assert distance < 0.0195, (throughput, goal, distance)


def test_a_goal_out_of_reach_within_the_horizon_finishes_no_run() -> None:
    assert _finishing_weeks([0.0, 1.0], 600.0, 1000, random.Random(1)) == []
    now = datetime(2026, 11, 20, tzinfo=UTC)
    forecast = delivery_forecast(weekly_history([0, 0, 0, 1], now), 1000, now)
    assert forecast is not None and (forecast.p50, forecast.p85) == (None, None)


def test_the_forecast_is_deterministic_for_a_seed() -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    history = weekly_history([0, 1, 5, 6, 10, 11, 13, 20, 21], now)
    first = [delivery_forecast(history, 40, now, seed=f"0:K-{n}") for n in range(20)]
    again = [delivery_forecast(history, 40, now, seed=f"0:K-{n}") for n in range(20)]
    assert first == again and None not in first
    runs = [_finishing_weeks([0.0, 1.0, 4.0], 20.0, 500, random.Random(seed)) for seed in (1, 2)]
    assert runs[0] != runs[1]  # another seed, other runs
