from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from factories import Q4, sample, utc
from hypothesis import given
from hypothesis import strategies as st

from okrsync.domain import MetricSample, cycle_bounds, forecast_at

START, END = cycle_bounds(Q4)
NOW = utc(2026, 11, 15)


def test_exact_line_is_read_at_the_cycle_end() -> None:
    # +1 per day from 60 at the start; the cycle is 92 days long.
    samples = [sample("K", 60 + day, START + timedelta(days=day)) for day in (0, 10, 30)]
    assert forecast_at(samples, NOW, END) == pytest.approx(152.0)


def test_least_squares_through_noisy_points() -> None:
    # Days 0, 1, 2 with values 0, 2, 1: mean (1, 1), slope 1/2 per day, so 2.5 on day 4.
    samples = [
        sample("K", 0, START),
        sample("K", 2, START + timedelta(days=1)),
        sample("K", 1, START + timedelta(days=2)),
    ]
    assert forecast_at(samples, NOW, START + timedelta(days=4)) == pytest.approx(2.5)


def test_samples_after_now_are_ignored() -> None:
    samples = [
        sample("K", 0, START),
        sample("K", 10, START + timedelta(days=10)),
        sample("K", 1000, NOW + timedelta(seconds=1)),
    ]
    assert forecast_at(samples, NOW, START + timedelta(days=20)) == pytest.approx(20.0)


def test_fewer_than_two_samples_is_none() -> None:
    assert forecast_at([], NOW, END) is None
    assert forecast_at([sample("K", 5, START)], NOW, END) is None


def test_samples_at_one_instant_have_no_slope() -> None:
    assert forecast_at([sample("K", 5, START), sample("K", 7, START)], NOW, END) is None


def test_naive_forecast_instant_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        forecast_at([], NOW, datetime(2027, 1, 1))


slopes = st.floats(min_value=-1000, max_value=1000, allow_nan=False)
offsets = st.lists(
    st.integers(min_value=0, max_value=365 * 24 * 3600), min_size=2, max_size=20, unique=True
)


@given(slopes, st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), offsets)
def test_reproduces_any_exact_line(per_day: float, intercept: float, seconds: list[int]) -> None:
    origin = datetime(2026, 1, 1, tzinfo=UTC)

    def line(at: datetime) -> float:
        return intercept + per_day * (at - origin).total_seconds() / 86400

    times = [origin + timedelta(seconds=s) for s in seconds]
    samples = [MetricSample("K", line(at), at) for at in times]
    read_at = origin + timedelta(days=400)
    assert forecast_at(samples, max(times), read_at) == pytest.approx(
        line(read_at), rel=1e-6, abs=1e-6
    )


@given(offsets, st.randoms(use_true_random=False))
def test_invariant_under_shuffling(seconds: list[int], rng: random.Random) -> None:
    samples = [MetricSample("K", float(s % 97), START + timedelta(seconds=s)) for s in seconds]
    shuffled = list(samples)
    rng.shuffle(shuffled)
    now = START + timedelta(days=400)
    assert forecast_at(shuffled, now, END) == forecast_at(samples, now, END)
