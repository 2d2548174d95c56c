"""Where a KR's metric will land: a least-squares line read at the cycle's end."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from okrsync.domain.models import MetricSample
from okrsync.domain.progress import require_aware, samples_until


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
