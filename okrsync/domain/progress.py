"""Expected, outcome and delivery progress: the three numbers health is judged on."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from itertools import chain, compress, repeat
from operator import attrgetter, is_, mul
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
    return leaf_summary(leaves, rules)[1]


def delivery_progress(leaves: Iterable[MappedItem], rules: Rules) -> float | None:
    """Σ credit[bucket] × weight / Σ weight over the leaves; None with nothing to weigh."""
    return leaf_summary(leaves, rules)[0]


def item_counts(leaves: Iterable[MappedItem]) -> ItemCounts:
    """Leaves counted by effective bucket."""
    listed = leaves if isinstance(leaves, (list, tuple)) else list(leaves)
    buckets = list(map(_bucket_of, listed))
    todo, in_progress, done = (sum(map(is_, buckets, repeat(bucket))) for bucket in _COUNTED)
    if todo + in_progress + done == len(buckets):
        return ItemCounts(total=len(buckets), done=done, in_progress=in_progress, todo=todo)
    return _item_counts(listed)


def leaf_summary(
    leaves: Iterable[MappedItem], rules: Rules
) -> tuple[float | None, Weights, ItemCounts]:
    """`delivery_progress`, `leaf_weights` and `item_counts` of the leaves, in one pass."""
    listed = leaves if isinstance(leaves, (list, tuple)) else list(leaves)
    grouped = _weights_by_bucket(listed, rules)
    if grouped is None:
        return (
            _delivery_progress(listed, rules),
            _leaf_weights(listed, rules),
            _item_counts(listed),
        )
    credited: list[float] = []
    for bucket, found in zip(_BUCKETS, grouped, strict=True):
        if found:
            credited += map(mul, repeat(rules.credit.get(bucket, 0.0)), found)
    # fsum is exactly rounded, so the result does not depend on the order of leaves.
    total = math.fsum(chain.from_iterable(grouped))
    todo, in_progress, done, _ = grouped
    return (
        None if total == 0 else math.fsum(credited) / total,
        Weights(done=math.fsum(done), total=total, mode=rules.weight),
        ItemCounts(
            total=len(todo) + len(in_progress) + len(done),
            done=len(done),
            in_progress=len(in_progress),
            todo=len(todo),
        ),
    )


_BUCKETS = (Bucket.TODO, Bucket.IN_PROGRESS, Bucket.DONE, Bucket.EXCLUDED)
_COUNTED = (Bucket.TODO, Bucket.IN_PROGRESS, Bucket.DONE)  # what `item_counts` counts
_bucket_of, _points_of = attrgetter("bucket"), attrgetter("item.points")


def _weights_by_bucket(
    leaves: Sequence[MappedItem], rules: Rules
) -> tuple[list[float], ...] | None:
    """Each leaf's `leaf_weight`, by bucket (in the order of `_BUCKETS`), in the order of
    `leaves`; picked by identity with `map` and `compress`, so that no Python code runs
    per leaf. None when a bucket is no Bucket member (a str equal to one, say)."""
    buckets = list(map(_bucket_of, leaves))
    if rules.weight == "count":
        weights: list[float] = [1.0] * len(leaves)
    else:
        weights = list(map(_points_of, leaves))
        if any(map(is_, weights, repeat(None))):
            default = rules.default_points
            weights = [default if points is None else points for points in weights]
    grouped = tuple(
        list(compress(weights, map(is_, buckets, repeat(bucket)))) for bucket in _BUCKETS
    )
    return grouped if sum(map(len, grouped)) == len(weights) else None


# What the above computes, leaf by leaf: for leaves whose bucket is no Bucket member.


def _leaf_weights(leaves: Iterable[MappedItem], rules: Rules) -> Weights:
    done: list[float] = []
    total: list[float] = []
    for leaf in leaves:
        weight = leaf_weight(leaf, rules)
        total.append(weight)
        if leaf.bucket is Bucket.DONE:
            done.append(weight)
    return Weights(done=math.fsum(done), total=math.fsum(total), mode=rules.weight)


def _delivery_progress(leaves: Iterable[MappedItem], rules: Rules) -> float | None:
    weights: list[float] = []
    credited: list[float] = []
    for leaf in leaves:
        weight = leaf_weight(leaf, rules)
        weights.append(weight)
        credited.append(rules.credit.get(leaf.bucket, 0.0) * weight)
    total_weight = math.fsum(weights)
    if total_weight == 0:
        return None
    return math.fsum(credited) / total_weight


def _item_counts(leaves: Iterable[MappedItem]) -> ItemCounts:
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
