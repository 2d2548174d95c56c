"""Allocation: where the work in flight goes, per KR, per objective and on no KR.

The rules (docs/design.md, "The report", Allocation):

- the items weighed are those delivery counts, each once: for each KR, its leaves
  (`leaves_by_kr`), plus the unmapped items without children ("keep the lights on");
- only those in flight count: their effective bucket is `in_progress`;
- an item weighs what delivery weighs it (`leaf_weight`: its points, `default_points`
  without, or 1 in count mode); one that is a leaf of k KRs gives weight / k to each;
- a share is a fraction of the total weight in flight; with nothing in flight (total 0)
  every share is None, never a division by zero;
- an objective's weight is the sum of its own KRs' (its children objectives have their
  own rows), compared with its `allocation` target (a percentage, 0-100) in percentage
  points: `difference` = 100 × share − target.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from okrsync.domain.mapping import MappedItem, MappedItems, leaves_by_kr
from okrsync.domain.models import Bucket, ItemRef, Objective, Rules, WeightMode
from okrsync.domain.progress import leaf_weight


@dataclass(frozen=True, slots=True)
class KRAllocation:
    """One KR's in-flight weight (its leaves in progress, each split between the KRs it
    is a leaf of), how many such leaves, and its share of the total in flight."""

    kr_id: str
    weight: float
    items: int
    share: float | None


@dataclass(frozen=True, slots=True)
class ObjectiveAllocation:
    """An objective's own KRs' in-flight weight and share, against its `allocation`
    target (a percentage, None when not set); `difference` is in percentage points
    (100 × share − target), None without a share or a target."""

    objective_id: str
    weight: float
    share: float | None
    target: float | None
    difference: float | None
    key_results: tuple[KRAllocation, ...]


@dataclass(frozen=True, slots=True)
class Allocation:
    """The in-flight weight, in the unit of `mode`, split over the objectives (flat, in
    config order) and the work on no KR. `total` is every counted item's whole weight,
    so Σ objective weights + `no_kr_weight` = `total`."""

    mode: WeightMode
    total: float
    items: int
    objectives: tuple[ObjectiveAllocation, ...]
    no_kr_weight: float
    no_kr_items: int
    no_kr_share: float | None


def _share(weight: float, total: float) -> float | None:
    return weight / total if total > 0 else None


def _kr_allocation(kr_id: str, weight: float, items: int, total: float) -> KRAllocation:
    return KRAllocation(kr_id, weight, items, _share(weight, total))


def in_flight_leaves(
    mapped: MappedItems,
) -> tuple[dict[ItemRef, tuple[MappedItem, frozenset[str]]], list[MappedItem]]:
    """The in-progress items allocation counts: each mapped leaf with the KRs it is a leaf
    of, and the unmapped items without children."""
    on_krs: dict[ItemRef, tuple[MappedItem, set[str]]] = {}
    for kr_id, leaves in leaves_by_kr(mapped).items():
        for leaf in leaves:
            if leaf.bucket is Bucket.IN_PROGRESS:
                on_krs.setdefault(leaf.ref, (leaf, set()))[1].add(kr_id)
    no_kr = [
        entry
        for ref, entry in mapped.items.items()
        if not entry.kr_ids and entry.bucket is Bucket.IN_PROGRESS and not mapped.children.get(ref)
    ]
    return {ref: (leaf, frozenset(krs)) for ref, (leaf, krs) in on_krs.items()}, no_kr


def allocation(mapped: MappedItems, objectives: Iterable[Objective], rules: Rules) -> Allocation:
    """Where the weight in flight goes (see the module docstring for the rules)."""
    on_krs, no_kr = in_flight_leaves(mapped)
    parts: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    whole: list[float] = []
    for leaf, kr_ids in on_krs.values():
        weight = leaf_weight(leaf, rules)
        whole.append(weight)
        for kr_id in kr_ids:
            parts.setdefault(kr_id, []).append(weight / len(kr_ids))
            counts[kr_id] = counts.get(kr_id, 0) + 1
    no_kr_weights = [leaf_weight(entry, rules) for entry in no_kr]
    no_kr_weight = math.fsum(no_kr_weights)
    # fsum is exactly rounded: the result does not depend on the order of the items.
    total = math.fsum(whole + no_kr_weights)

    rows: list[ObjectiveAllocation] = []
    for objective in objectives:
        krs = tuple(
            _kr_allocation(kr.id, math.fsum(parts.get(kr.id, ())), counts.get(kr.id, 0), total)
            for kr in objective.key_results
        )
        weight = math.fsum(kr.weight for kr in krs)
        share = _share(weight, total)
        target = objective.allocation
        difference = None if share is None or target is None else 100 * share - target
        rows.append(ObjectiveAllocation(objective.id, weight, share, target, difference, krs))
    return Allocation(
        mode=rules.weight,
        total=total,
        items=len(on_krs) + len(no_kr),
        objectives=tuple(rows),
        no_kr_weight=no_kr_weight,
        no_kr_items=len(no_kr),
        no_kr_share=_share(no_kr_weight, total),
    )
