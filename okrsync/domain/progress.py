"""Expected, outcome and delivery progress: the three numbers health is judged on."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Literal

from okrsync.domain.mapping import MappedItem
from okrsync.domain.models import (
    Bucket,
    Cycle,
    ItemCounts,
    KeyResult,
    MetricSample,
    Rules,
    Weights,
)


def require_aware(moment: datetime, what: str = "now") -> datetime:
    """Reject naive datetimes: read as local time they would shift every result."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment


# --------------------------------------------------------------------------- time


def cycle_bounds(cycle: Cycle) -> tuple[datetime, datetime]:
    """00:00 UTC of `start` to 24:00 UTC of `end`: both dates are inclusive."""
    if cycle.end < cycle.start:
        raise ValueError(
            f"cycle {cycle.name!r} ends ({cycle.end}) before it starts ({cycle.start})"
        )
    start = datetime.combine(cycle.start, time(0), tzinfo=UTC)
    end = datetime.combine(cycle.end, time(0), tzinfo=UTC) + timedelta(days=1)
    return start, end


def expected_progress(cycle: Cycle, now: datetime) -> float:
    """The elapsed fraction of the cycle at `now`, clamped to [0, 1]."""
    require_aware(now)
    start, end = cycle_bounds(cycle)
    return min(1.0, max(0.0, (now - start) / (end - start)))


# --------------------------------------------------------------------------- outcome


def cycle_samples(
    samples: Iterable[MetricSample], cycle: Cycle, now: datetime
) -> list[MetricSample]:
    """The samples that count for this cycle at `now`: taken inside the cycle (from 00:00
    UTC of its start to 24:00 UTC of its end) and at or before `now`. Check-ins outside the
    cycle stay in the store but count for neither `current`, the forecast nor `samples`."""
    start, end = cycle_bounds(cycle)
    return [sample for sample in samples_until(samples, now) if start <= sample.at < end]


def last_sample_at(samples: Iterable[MetricSample]) -> datetime | None:
    return max((sample.at for sample in samples), default=None)


def samples_until(samples: Iterable[MetricSample], now: datetime) -> list[MetricSample]:
    """The samples taken at or before `now`: later check-ins are not known yet."""
    require_aware(now)
    return [sample for sample in samples if require_aware(sample.at, "sample time") <= now]


def latest_value(samples: Iterable[MetricSample], now: datetime) -> float | None:
    """The value of the latest sample at or before `now`, None when there is none.

    Two samples at the same instant: the one appearing last wins, so a correction
    recorded after the original check-in replaces it.
    """
    latest: MetricSample | None = None
    for sample in samples_until(samples, now):
        if latest is None or sample.at >= latest.at:
            latest = sample
    return None if latest is None else latest.value


# A milestone check-in of 1 (or `true`) means reached; anything below it, not yet.
MILESTONE_REACHED = 1.0


def milestone_reached(current: float | None) -> bool:
    return current is not None and current >= MILESTONE_REACHED - 1e-9


def outcome_progress(
    kr: KeyResult, current: float | None, delivery: float | None = None
) -> float | None:
    """How far the KR is, by its kind (docs/design.md, "KR kinds").

    `auto`: how far the metric moved from baseline to target; unclamped, any direction.
    Dividing by (target - baseline) makes decreasing metrics (target < baseline) work
    unchanged: moving down toward the target is positive progress.
    `maintain`: 1.0 inside the range, 0.0 outside. `milestone`: 1.0 once a check-in of 1
    says reached, else 0.0. `delivery`: the delivery progress of the KR's mapped work.
    """
    if kr.kind == "delivery":
        return delivery
    if kr.kind == "maintain":
        if kr.range is None:
            raise ValueError(f"key result {kr.id!r}: kind maintain needs a range")
        return None if current is None else (1.0 if current in kr.range else 0.0)
    if kr.kind == "milestone":
        return None if current is None else (1.0 if milestone_reached(current) else 0.0)
    if kr.baseline is None or kr.target is None:
        raise ValueError(f"key result {kr.id!r}: kind auto needs a baseline and a target")
    if kr.target == kr.baseline:
        raise ValueError(f"key result {kr.id!r}: baseline and target are both {kr.target}")
    if current is None:
        return None
    return (current - kr.baseline) / (kr.target - kr.baseline)


# --------------------------------------------------------------------------- delivery


WeightSource = Literal["points", "default_points", "count"]


def weight_source(leaf: MappedItem, rules: Rules) -> WeightSource:
    """Where `leaf_weight` takes the weight from: the item's points, `default_points`
    for an item without, or 1 each in count mode."""
    if rules.weight == "count":
        return "count"
    return "points" if leaf.item.points is not None else "default_points"


def leaf_weight(leaf: MappedItem, rules: Rules) -> float:
    if rules.weight == "count":
        return 1.0
    return leaf.item.points if leaf.item.points is not None else rules.default_points


def leaf_weights(leaves: Iterable[MappedItem], rules: Rules) -> Weights:
    """The total weight of the leaves and the weight of those done: with the default
    credit, `done / total` is the delivery progress, which a reader can check by hand."""
    done: list[float] = []
    total: list[float] = []
    for leaf in leaves:
        weight = leaf_weight(leaf, rules)
        total.append(weight)
        if leaf.bucket is Bucket.DONE:
            done.append(weight)
    return Weights(done=math.fsum(done), total=math.fsum(total), mode=rules.weight)


def delivery_progress(leaves: Iterable[MappedItem], rules: Rules) -> float | None:
    """Σ credit[bucket] × weight / Σ weight over the leaves; None with nothing to weigh."""
    weights: list[float] = []
    credited: list[float] = []
    for leaf in leaves:
        weight = leaf_weight(leaf, rules)
        weights.append(weight)
        credited.append(rules.credit.get(leaf.bucket, 0.0) * weight)
    # fsum is exactly rounded, so the result does not depend on the order of leaves.
    total_weight = math.fsum(weights)
    if total_weight == 0:
        return None
    return math.fsum(credited) / total_weight


def item_counts(leaves: Iterable[MappedItem]) -> ItemCounts:
    """Leaves counted by effective bucket."""
    counted = {Bucket.DONE: 0, Bucket.IN_PROGRESS: 0, Bucket.TODO: 0}
    for leaf in leaves:
        if leaf.bucket in counted:
            counted[leaf.bucket] += 1
    return ItemCounts(
        total=sum(counted.values()),
        done=counted[Bucket.DONE],
        in_progress=counted[Bucket.IN_PROGRESS],
        todo=counted[Bucket.TODO],
    )
