"""The whole computation for one `now`: items and samples in, a Report out."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from okrsync.domain.forecast import forecast_at
from okrsync.domain.health import clamp01, flags_for, health_for
from okrsync.domain.mapping import (
    KRIndex,
    MappedItem,
    MappedItems,
    leaves_by_kr,
    map_items,
    ref_sort_key,
    subtree_leaves,
    unmapped_items,
)
from okrsync.domain.models import (
    Cycle,
    Health,
    KeyResult,
    KRStatus,
    MetricSample,
    Objective,
    ObjectiveStatus,
    Report,
    Rules,
    Target,
    WorkItem,
)
from okrsync.domain.problems import mapping_problems
from okrsync.domain.progress import (
    cycle_bounds,
    delivery_progress,
    expected_progress,
    item_counts,
    latest_value,
    leaf_weights,
    outcome_progress,
    require_aware,
)


def samples_by_kr(samples: Iterable[MetricSample], index: KRIndex) -> dict[str, list[MetricSample]]:
    """Samples grouped under canonical KR ids (matched case-insensitively, like labels).

    Samples of KRs no longer in the config are dropped. Input order is kept within
    each KR because it breaks ties between samples taken at the same instant.
    """
    grouped: dict[str, list[MetricSample]] = {}
    for sample in samples:
        kr_id = index.canonical_id(sample.kr_id)
        if kr_id is not None:
            grouped.setdefault(kr_id, []).append(sample)
    return grouped


def kr_status(
    kr: KeyResult,
    leaves: Sequence[MappedItem],
    samples: Sequence[MetricSample],
    cycle: Cycle,
    rules: Rules,
    now: datetime,
) -> KRStatus:
    """Everything shown for one KR, from its leaves and its own metric samples."""
    current = latest_value(samples, now)
    outcome = outcome_progress(kr, current)
    delivery = delivery_progress(leaves, rules)
    expected = expected_progress(cycle, now)
    _, cycle_end = cycle_bounds(cycle)
    return KRStatus(
        kr=kr,
        current=current,
        outcome_progress=outcome,
        delivery_progress=delivery,
        expected_progress=expected,
        health=health_for(outcome, expected, rules),
        forecast=forecast_at(samples, now, cycle_end),
        flags=flags_for(delivery, outcome, rules),
        items=item_counts(leaves),
        weight=leaf_weights(leaves, rules),
    )


def objective_score(key_results: Iterable[KRStatus]) -> float | None:
    """Weighted mean of the clamped outcome progress of the KRs that have data."""
    weights: list[float] = []
    weighted: list[float] = []
    for status in key_results:
        if status.outcome_progress is not None:
            weights.append(status.kr.weight)
            weighted.append(status.kr.weight * clamp01(status.outcome_progress))
    total_weight = math.fsum(weights)
    if total_weight == 0:
        return None
    return math.fsum(weighted) / total_weight


def objective_status(
    objective: Objective, key_results: Sequence[KRStatus], expected: float, rules: Rules
) -> ObjectiveStatus:
    score = objective_score(key_results)
    return ObjectiveStatus(
        objective=objective,
        score=score,
        health=health_for(score, expected, rules) if score is not None else Health.NO_DATA,
        key_results=tuple(key_results),
    )


def is_target(entry: MappedItem, mapped: MappedItems, rules: Rules) -> bool:
    """Whether an item gets a managed comment (docs/design.md, "Write-back rules")."""
    if rules.writeback_targets == "all":
        return bool(entry.kr_ids)
    if rules.writeback_targets == "top_level":
        parent = mapped.items[entry.parent] if entry.parent is not None else None
        return bool(entry.direct_kr_ids) and (parent is None or not parent.kr_ids)
    return False


def select_targets(mapped: MappedItems, rules: Rules) -> tuple[Target, ...]:
    """The items to write back to, ordered by (source, key)."""
    targets = [
        Target(
            item=entry.item,
            kr_ids=tuple(sorted(entry.kr_ids)),
            leaves=item_counts(subtree_leaves(mapped, entry.ref)),
        )
        for entry in mapped.items.values()
        if is_target(entry, mapped, rules)
    ]
    return tuple(sorted(targets, key=lambda target: ref_sort_key(target.item.ref)))


def compute_report(
    cycle: Cycle,
    objectives: Sequence[Objective],
    items: Iterable[WorkItem],
    samples: Iterable[MetricSample],
    rules: Rules,
    now: datetime,
) -> Report:
    """Map items to KRs, measure every KR and objective as of `now`, pick targets.

    Pure: the same inputs give the same Report whatever the order of items or samples.
    """
    require_aware(now)
    index = KRIndex.from_objectives(objectives)
    mapped = map_items(items, index, rules)
    leaves = leaves_by_kr(mapped)
    samples_of = samples_by_kr(samples, index)
    expected = expected_progress(cycle, now)

    statuses = []
    for objective in objectives:
        key_results = [
            kr_status(kr, leaves.get(kr.id, ()), samples_of.get(kr.id, []), cycle, rules, now)
            for kr in objective.key_results
        ]
        statuses.append(objective_status(objective, key_results, expected, rules))

    unmapped = tuple(sorted((entry.ref for entry in unmapped_items(mapped)), key=ref_sort_key))
    return Report(
        cycle=cycle,
        as_of=now,
        objectives=tuple(statuses),
        unmapped_count=len(unmapped),
        targets=select_targets(mapped, rules),
        unmapped=unmapped,
        problems=mapping_problems(mapped, index, rules),
    )
