"""The whole computation for one `now`: items and samples in, a Report out."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from itertools import compress
from operator import attrgetter, not_
from typing import TypeVar, cast

from okrsync.domain.forecast import delivery_forecast, forecast_at
from okrsync.domain.health import (
    clamp01,
    final_for,
    flags_for,
    health_for,
    kr_health,
    stale_metric,
)
from okrsync.domain.mapping import (
    KRIndex,
    MappedItem,
    MappedItems,
    ScopeItem,
    leaves_by_kr,
    map_items,
    scope_weights,
    scope_weights_as_mapped,
    subtree_leaf_entries,
)
from okrsync.domain.models import (
    Cycle,
    Health,
    KeyResult,
    KRSnapshot,
    KRStatus,
    MetricSample,
    Objective,
    ObjectiveStatus,
    Report,
    Rules,
    Scope,
    Target,
    WorkItem,
)
from okrsync.domain.problems import mapping_problems
from okrsync.domain.progress import (
    cycle_bounds,
    cycle_samples,
    expected_progress,
    item_counts,
    last_sample_at,
    latest_value,
    leaf_summary,
    outcome_progress,
    require_aware,
)

_V = TypeVar("_V")
_kr_ids_of = attrgetter("kr_ids")


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


def start_weights_of(report: Report) -> dict[str, float] | None:
    """Each KR's weight at the cycle start as `report` computed it (configured KR id ->
    weight), to give a later report as `start_weights`; None when the report had no
    start (`scope.start_weight` not known)."""
    weights: dict[str, float] = {}
    for objective in report.objectives:
        for status in objective.key_results:
            scope = status.scope
            if scope is None or scope.start_weight is None:
                return None
            weights[status.kr.id] = scope.start_weight
    return weights


def scope_of(start_weight: float | None, weight: float) -> Scope:
    """The KR's scope now against the cycle start; growth as a fraction of the start."""
    growth = None if not start_weight else (weight - start_weight) / start_weight
    return Scope(start_weight=start_weight, weight=weight, growth=growth)


def _by_canonical_id(by_id: Mapping[str, _V], index: KRIndex) -> dict[str, _V]:
    found: dict[str, _V] = {}
    for kr_id, value in by_id.items():
        canonical = index.canonical_id(kr_id)
        if canonical is not None:
            found.setdefault(canonical, value)
    return found


def snapshots_from(report: Report) -> list[KRSnapshot]:
    """One history row per KR at the report's `as_of`, in config order."""
    return [
        KRSnapshot(
            kr_id=status.kr.id,
            at=report.as_of,
            current=status.current,
            outcome_progress=status.outcome_progress,
            delivery_progress=status.delivery_progress,
            expected_progress=status.expected_progress,
            health=status.health.value,
            done_weight=status.weight.done,
            total_weight=status.weight.total,
        )
        for objective in report.objectives
        for status in objective.key_results
    ]


def kr_status(
    kr: KeyResult,
    leaves: Sequence[MappedItem],
    samples: Sequence[MetricSample],
    cycle: Cycle,
    rules: Rules,
    now: datetime,
    *,
    start_weight: float | None = None,
    done_history: Sequence[tuple[datetime, float]] = (),
    metric_error: str | None = None,
    seed: int = 0,
) -> KRStatus:
    """Everything shown for one KR, from its leaves and its own metric samples.

    Only the samples inside the cycle (and at or before `now`) count; `done_history` is
    the KR's (instant, done weight) history for the delivery forecast, to which the done
    weight at `now` is added.
    """
    counted = cycle_samples(samples, cycle, now)
    current = latest_value(counted, now)
    delivery, weights, counts = leaf_summary(leaves, rules)
    outcome = outcome_progress(kr, current, delivery)
    expected = expected_progress(cycle, now)
    _, cycle_end = cycle_bounds(cycle)
    ended = now >= cycle_end
    last_at = last_sample_at(counted)
    score = None if outcome is None else clamp01(outcome)
    metric_kind = kr.kind in ("auto", "maintain")
    history = [point for point in done_history if point[0] != now] + [(now, weights.done)]
    return KRStatus(
        kr=kr,
        current=current,
        outcome_progress=outcome,
        delivery_progress=delivery,
        expected_progress=expected,
        health=kr_health(kr, outcome, delivery, expected, rules, ended=ended),
        forecast=forecast_at(counted, now, cycle_end) if metric_kind else None,
        flags=flags_for(
            delivery,
            outcome,
            rules,
            stale=stale_metric(kr, current, last_at, cycle, now, rules),
        ),
        items=counts,
        weight=weights,
        score=score,
        final=final_for(kr, score) if ended else None,
        samples=len(counted),
        last_sample_at=last_at,
        metric_error=metric_error,
        scope=scope_of(start_weight, weights.total),
        delivery_forecast=delivery_forecast(
            history, weights.total - weights.done, now, seed=f"{seed}:{kr.id}"
        ),
    )


def objective_score(
    key_results: Iterable[KRStatus], children: Iterable[ObjectiveStatus] = ()
) -> float | None:
    """Weighted mean of the clamped outcome progress of the KRs that have data and of the
    scores of the child objectives that have one (each weighted by its `weight`, like a KR)."""
    weights: list[float] = []
    weighted: list[float] = []
    for status in key_results:
        if status.outcome_progress is not None:
            weights.append(status.kr.weight)
            weighted.append(status.kr.weight * clamp01(status.outcome_progress))
    for child in children:
        if child.score is not None:
            weights.append(child.objective.weight)
            weighted.append(child.objective.weight * clamp01(child.score))
    total_weight = math.fsum(weights)
    if total_weight == 0:
        return None
    return math.fsum(weighted) / total_weight


def objective_status(
    objective: Objective,
    key_results: Sequence[KRStatus],
    expected: float,
    rules: Rules,
    children: Sequence[ObjectiveStatus] = (),
) -> ObjectiveStatus:
    score = objective_score(key_results, children)
    return ObjectiveStatus(
        objective=objective,
        score=score,
        health=health_for(score, expected, rules) if score is not None else Health.NO_DATA,
        key_results=tuple(key_results),
        children=tuple(child.objective.id for child in children),
    )


def effective_parents(objectives: Sequence[Objective]) -> dict[str, str | None]:
    """Each objective's parent id (canonical spelling), or None for a root.

    Parents match case-insensitively. An unknown parent, or one that leads back to the
    objective itself (a cycle; both are config errors), is dropped: the objective is a root.
    """
    by_fold = {objective.id.casefold(): objective for objective in objectives}
    declared = {
        objective.id: (
            by_fold[objective.parent.casefold()].id
            if objective.parent is not None and objective.parent.casefold() in by_fold
            else None
        )
        for objective in objectives
    }
    parents: dict[str, str | None] = {}
    for objective in objectives:
        seen = {objective.id}
        step = declared[objective.id]
        while step is not None and step not in seen:
            seen.add(step)
            step = declared[step]
        parents[objective.id] = None if step == objective.id else declared[objective.id]
    return parents


def objective_tree(
    objectives: Sequence[Objective],
    key_results: Mapping[str, Sequence[KRStatus]],
    expected: float,
    rules: Rules,
) -> tuple[ObjectiveStatus, ...]:
    """Every objective's status, in config order; a parent's score includes its children's."""
    parents = effective_parents(objectives)
    children: dict[str, list[Objective]] = {}
    for objective in objectives:
        parent = parents[objective.id]
        if parent is not None:
            children.setdefault(parent, []).append(objective)
    done: dict[str, ObjectiveStatus] = {}

    def build(objective: Objective) -> ObjectiveStatus:
        if objective.id not in done:
            kids = [build(child) for child in children.get(objective.id, [])]
            parent = parents[objective.id]
            if parent != objective.parent:
                objective = dataclasses.replace(objective, parent=parent)
            done[objective.id] = objective_status(
                objective, key_results[objective.id], expected, rules, kids
            )
        return done[objective.id]

    return tuple(build(objective) for objective in objectives)


def is_target(entry: MappedItem, mapped: MappedItems, rules: Rules) -> bool:
    """Whether an item gets a managed comment (docs/design.md, "Write-back rules")."""
    if rules.writeback_targets == "all":
        return bool(entry.kr_ids)
    if rules.writeback_targets == "top_level":
        if not entry.direct_kr_ids:  # most items: no look-up of the parent
            return False
        return entry.parent is None or not mapped.items[entry.parent].kr_ids
    return False


def select_targets(mapped: MappedItems, rules: Rules) -> tuple[Target, ...]:
    """The items to write back to, ordered by (source, key)."""
    # What `is_target` needs first, tested first: it drops most items without a call each.
    if rules.writeback_targets == "top_level":
        candidates = [(ref, entry) for ref, entry in mapped.items.items() if entry.direct_kr_ids]
    elif rules.writeback_targets == "all":
        candidates = [(ref, entry) for ref, entry in mapped.items.items() if entry.kr_ids]
    else:
        candidates = []
    targets = [
        Target(
            item=entry.item,
            kr_ids=tuple(sorted(entry.kr_ids)),
            leaves=item_counts(subtree_leaf_entries(mapped, ref)),
        )
        for ref, entry in candidates
        if is_target(entry, mapped, rules)
    ]
    return tuple(sorted(targets, key=_target_order))


def _target_order(target: Target) -> tuple[str, str]:
    """`ref_sort_key` of the target's item, without making its ref."""
    return (target.item.source, target.item.key)


def compute_report(
    cycle: Cycle,
    objectives: Sequence[Objective],
    items: Iterable[WorkItem],
    samples: Iterable[MetricSample],
    rules: Rules,
    now: datetime,
    *,
    start_items: Iterable[WorkItem] | Iterable[ScopeItem] | None = None,
    start_weights: Mapping[str, float] | None = None,
    done_history: Mapping[str, Sequence[tuple[datetime, float]]] | None = None,
    metric_errors: Mapping[str, str] | None = None,
    seed: int = 0,
) -> Report:
    """Map items to KRs, measure every KR and objective as of `now`, pick targets.

    `start_items`: the items as the store knew them at the cycle start (WorkItems, or
    the lighter ScopeItems: all that is read of them), for each KR's
    `scope.start_weight` (None: not known, so `start_weight` and `growth` are None).
    `start_weights`: instead of `start_items`, each KR's weight at the cycle start as an
    earlier report over those items gave it (`start_weights_of`), by configured KR id;
    a KR not in it had none.
    `done_history`: KR id → (instant, done weight) points (the KR snapshots) for the
    delivery forecast, seeded by `seed`. `metric_errors`: KR id → why its last reading
    failed. KR ids in both match case-insensitively.

    Pure: the same inputs give the same Report whatever the order of items or samples.
    """
    return compute_report_and_mapping(
        cycle,
        objectives,
        items,
        samples,
        rules,
        now,
        start_items=start_items,
        start_weights=start_weights,
        done_history=done_history,
        metric_errors=metric_errors,
        seed=seed,
    )[0]


def compute_report_and_mapping(
    cycle: Cycle,
    objectives: Sequence[Objective],
    items: Iterable[WorkItem],
    samples: Iterable[MetricSample],
    rules: Rules,
    now: datetime,
    *,
    start_items: Iterable[WorkItem] | Iterable[ScopeItem] | None = None,
    start_weights: Mapping[str, float] | None = None,
    done_history: Mapping[str, Sequence[tuple[datetime, float]]] | None = None,
    metric_errors: Mapping[str, str] | None = None,
    seed: int = 0,
    mapped: MappedItems | None = None,
) -> tuple[Report, MappedItems]:
    """`compute_report`, and the mapping of `items` it was computed from (the report page
    lists each KR's items from it, without mapping them again).

    `mapped`: that mapping, when the caller made it already (a sync cycle maps its items
    to find the parents to look up; with no child found, its report is of the same
    items): exactly `map_items(items, KRIndex.from_objectives(objectives), rules)`,
    which is then used instead of mapping `items` again."""
    require_aware(now)
    index = KRIndex.from_objectives(objectives)
    if mapped is None:
        mapped = map_items(items, index, rules)
    leaves = leaves_by_kr(mapped)
    samples_of = samples_by_kr(samples, index)
    expected = expected_progress(cycle, now)
    if start_items is not None and start_weights is not None:
        raise ValueError("give start_items or start_weights, not both")
    if start_items is not None:
        # Read twice below; a list is copied as pointers.
        listed = cast("list[WorkItem] | list[ScopeItem]", list(start_items))
        at_start = scope_weights_as_mapped(mapped, leaves, listed, rules)
        if at_start is None:
            at_start = scope_weights(listed, index, rules)
        start_weights = at_start
    if start_weights is not None:
        known = start_weights
        start_weights = {
            kr.id: known.get(kr.id, 0.0) for objective in objectives for kr in objective.key_results
        }
    history = _by_canonical_id(done_history or {}, index)
    errors = _by_canonical_id(metric_errors or {}, index)

    key_results = {
        objective.id: [
            kr_status(
                kr,
                leaves.get(kr.id, ()),
                samples_of.get(kr.id, []),
                cycle,
                rules,
                now,
                start_weight=None if start_weights is None else start_weights[kr.id],
                done_history=history.get(kr.id, ()),
                metric_error=errors.get(kr.id),
                seed=seed,
            )
            for kr in objective.key_results
        ]
        for objective in objectives
    }
    statuses = objective_tree(objectives, key_results, expected, rules)

    # `map_items` orders its items by (source, key), keyed by their refs: the unmapped
    # ones in order are already sorted, and their keys are their refs (no ref made anew;
    # picked in C, as most items are unmapped).
    unmapped = tuple(compress(mapped.items, map(not_, map(_kr_ids_of, mapped.items.values()))))
    report = Report(
        cycle=cycle,
        as_of=now,
        objectives=tuple(statuses),
        unmapped_count=len(unmapped),
        targets=select_targets(mapped, rules),
        unmapped=unmapped,
        problems=mapping_problems(mapped, index, rules),
    )
    return report, mapped
