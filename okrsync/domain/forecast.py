"""Where a KR's metric will land (a least-squares line read at the cycle's end), and when
its remaining work will be done (a Monte Carlo over its weekly done weight)."""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import compress, repeat
from operator import add, gt, mod

from okrsync.domain.models import DeliveryForecast, MetricSample
from okrsync.domain.progress import require_aware, samples_until

MONTE_CARLO_RUNS = 10_000
# Fewer weekly increments than this and the forecast is None: too little to resample.
MIN_HISTORY_WEEKS = 3
# A run that has not finished after this many weeks (ten years) counts as never.
HORIZON_WEEKS = 520
WEEK = timedelta(days=7)
_TOLERANCE = 1e-9
# An array type of 32-bit words, for the draws (`I` is 32 bits wide almost everywhere).
_WORD = next(code for code in ("I", "L") if array(code).itemsize == 4)
_WORD_BYTES = 4
# How many choices one draw of a block of weeks may pick from, at most.
_BLOCK = 4096


def forecast_at(samples: Iterable[MetricSample], now: datetime, at: datetime) -> float | None:
    """The ordinary least-squares line through the samples up to `now`, read at `at`.

    None with fewer than two samples, or when they all share one instant (no slope).
    """
    require_aware(at, "forecast instant")
    # Sorted so the float sums, and therefore the result, do not depend on input order.
    known = sorted(samples_until(samples, now), key=lambda sample: (sample.at, sample.value))
    if len(known) < 2:
        return None

    # Seconds since the first sample: epoch seconds (~1.8e9) squared would swamp
    # the differences the slope is made of.
    origin = known[0].at
    times = [(sample.at - origin).total_seconds() for sample in known]
    values = [sample.value for sample in known]
    mean_time = math.fsum(times) / len(times)
    mean_value = math.fsum(values) / len(values)

    spread = math.fsum((t - mean_time) ** 2 for t in times)
    if spread == 0:
        return None
    covariance = math.fsum(
        (t - mean_time) * (v - mean_value) for t, v in zip(times, values, strict=True)
    )
    slope = covariance / spread
    return mean_value + slope * ((at - origin).total_seconds() - mean_time)


def weekly_done(history: Iterable[tuple[datetime, float]], now: datetime) -> list[float]:
    """The done weight added in each whole week of history up to `now`.

    Weeks are counted from the first point: the value at each week boundary is that of the
    last point at or before it, and week k's increment is value(k) − value(k − 1). A reopened
    item makes an increment negative; it is kept here (resampling clamps it at 0).
    """
    require_aware(now)
    points = sorted(
        ((require_aware(at, "history instant"), value) for at, value in history if at <= now),
        key=lambda point: (point[0], point[1]),
    )
    if not points:
        return []
    origin = points[0][0]
    weeks = int((points[-1][0] - origin) / WEEK)
    values: list[float] = []
    index = 0
    for week in range(weeks + 1):
        boundary = origin + week * WEEK
        while index + 1 < len(points) and points[index + 1][0] <= boundary:
            index += 1
        values.append(points[index][1])
    return [after - before for before, after in zip(values, values[1:], strict=False)]


def delivery_forecast(
    history: Iterable[tuple[datetime, float]],
    remaining: float,
    now: datetime,
    *,
    seed: int | str = 0,
    runs: int = MONTE_CARLO_RUNS,
) -> DeliveryForecast | None:
    """When `remaining` weight will be done, from `runs` resampled futures of past weeks.

    Each run draws weekly increments (clamped at 0) with replacement from `weekly_done`
    until their sum reaches `remaining`; `p50`/`p85` are the days (UTC, from `now`) by
    which 50 % / 85 % of the runs finished (nearest rank), None where those runs did not
    finish within `HORIZON_WEEKS`. None with fewer than `MIN_HISTORY_WEEKS` weekly
    increments. Pure and deterministic: the generator is local and seeded by `seed`.
    """
    increments = weekly_done(history, now)
    if len(increments) < MIN_HISTORY_WEEKS:
        return None
    remaining = max(0.0, remaining)
    today = now.astimezone(UTC).date()
    if remaining <= _TOLERANCE:
        return DeliveryForecast(p50=today, p85=today, remaining=0.0)
    throughput = [max(0.0, increment) for increment in increments]
    mean = math.fsum(throughput) / len(throughput)
    if mean <= 0:
        return DeliveryForecast(p50=None, p85=None, remaining=remaining)

    finished = _finishing_weeks(throughput, remaining - _TOLERANCE, runs, random.Random(seed))

    def percentile(share: float) -> datetime | None:
        rank = math.ceil(share * runs)  # nearest rank, 1-based
        return None if rank > len(finished) else now + finished[rank - 1] * WEEK

    p50, p85 = percentile(0.5), percentile(0.85)
    return DeliveryForecast(
        p50=None if p50 is None else p50.astimezone(UTC).date(),
        p85=None if p85 is None else p85.astimezone(UTC).date(),
        remaining=remaining,
    )


def _finishing_weeks(
    throughput: Sequence[float], goal: float, runs: int, rng: random.Random
) -> list[int]:
    """The week each of `runs` resampled futures reaches `goal` (ascending), leaving out
    the runs that have not by `HORIZON_WEEKS`.

    All runs advance together: each open run adds increments drawn uniformly, with
    replacement, from `throughput`, and the runs whose sum reached `goal` finish that
    week. Every step is a C-level map over the open runs, and the first weeks, in which
    no run can finish yet (even the largest increment every week falls short), go
    `_BLOCK` weeks per draw: one draw from the sums of every sequence of that many
    increments is that many draws. A draw is a 32-bit word of `rng` modulo the number
    of choices (a bias below choices/2**32).
    """
    top = max(throughput)
    # Weeks in which no run can reach `goal` (with a margin for the sums' rounding).
    no_finish = HORIZON_WEEKS
    if top > 0:
        no_finish = min(HORIZON_WEEKS, math.ceil(goal / (top * (1 + 1e-9))) - 1)
    if no_finish >= HORIZON_WEEKS:
        return []
    totals = [0.0] * runs
    week = 0
    span = max(1, min(no_finish, int(math.log(_BLOCK) / math.log(len(throughput)))))
    if span > 1:
        sums = list(throughput)
        for _ in range(span - 1):
            sums = [total + increment for total in sums for increment in throughput]
        while week + span <= no_finish:
            totals = list(map(add, totals, _draws(sums, runs, rng)))
            week += span
    finished: list[int] = []
    while week < HORIZON_WEEKS and totals:
        week += 1
        totals = list(map(add, totals, _draws(throughput, len(totals), rng)))
        if week <= no_finish:
            continue
        left = list(compress(totals, map(gt, repeat(goal), totals)))
        finished.extend(repeat(week, len(totals) - len(left)))
        totals = left
    return finished


def _draws(choices: Sequence[float], count: int, rng: random.Random) -> Iterator[float]:
    """`count` uniform draws from `choices`, with replacement."""
    words = array(_WORD, rng.randbytes(_WORD_BYTES * count))
    return map(choices.__getitem__, map(mod, words, repeat(len(choices))))
