"""From labels and parent links to "which items count toward which KR".

The rules (docs/design.md, "Rules of the computation"):

- an item's bucket is its native bucket unless the config overrides it by status
  name or by label; EXCLUDED items are dropped before anything else;
- a label maps to a KR when it equals one of the KR's explicit labels, or when it
  matches `label_pattern` and the pattern's `kr` group names the KR;
- a child inherits its ancestors' KRs (when `inherit_from_parent`);
- for each KR only leaves count: a mapped item none of whose children is mapped
  to that KR.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from okrsync.domain.models import Bucket, ItemRef, Objective, Rules, WorkItem


def _fold(text: str) -> str:
    """The one normalisation used for every case-insensitive comparison."""
    return text.strip().casefold()


def ref_sort_key(ref: ItemRef) -> tuple[str, str]:
    return (ref.source, ref.key)


# --------------------------------------------------------------------------- buckets


BucketRule = Literal["source", "status_buckets", "label_buckets"]


@dataclass(frozen=True, slots=True)
class BucketDecision:
    """An item's effective bucket and what decided it.

    `rule` is "label_buckets" or "status_buckets" when a config entry overrode the
    source, with `value` that entry's key as configured; it is "source" when the
    source's own reading stands, with `value` the item's status as the source reports it.
    """

    bucket: Bucket
    rule: BucketRule
    value: str


def bucket_decision(item: WorkItem, rules: Rules) -> BucketDecision:
    """The item's bucket after the config's overrides, and which one applied.

    A label override wins over a status override because labels are what people
    set on purpose for one item, while a status name is shared by a whole workflow.
    When several labels override, the first in config order wins, so the result
    does not depend on the order a source lists labels in.
    """
    item_labels = {_fold(label) for label in item.labels}
    for label, bucket in rules.label_buckets.items():
        if _fold(label) in item_labels:
            return BucketDecision(bucket, "label_buckets", label)
    status = _fold(item.status)
    for status_name, bucket in rules.status_buckets.items():
        if _fold(status_name) == status:
            return BucketDecision(bucket, "status_buckets", status_name)
    return BucketDecision(item.bucket, "source", item.status)


def effective_bucket(item: WorkItem, rules: Rules) -> Bucket:
    """The item's bucket after the config's overrides (see `bucket_decision`)."""
    return bucket_decision(item, rules).bucket


# --------------------------------------------------------------------------- labels


@dataclass(frozen=True, slots=True)
class KRIndex:
    """Case-insensitive lookups from KR ids and explicit labels to canonical KR ids."""

    ids: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_objectives(cls, objectives: Iterable[Objective]) -> KRIndex:
        ids: dict[str, str] = {}
        labels: dict[str, set[str]] = {}
        for objective in objectives:
            for kr in objective.key_results:
                # Config validation rejects duplicate ids; keep the first if one slips by.
                ids.setdefault(_fold(kr.id), kr.id)
                for label in kr.labels:
                    labels.setdefault(_fold(label), set()).add(kr.id)
        return cls(ids=ids, labels={label: frozenset(krs) for label, krs in labels.items()})

    def canonical_id(self, kr_id: str) -> str | None:
        """The configured spelling of `kr_id`, or None for an unknown KR."""
        return self.ids.get(_fold(kr_id))


LabelRule = Literal["label_pattern", "labels"]


@dataclass(frozen=True, slots=True)
class LabelMatch:
    """One label mapping an item to one KR, and the rule that matched: the global
    `label_pattern`, or the KR's own explicit `labels`."""

    label: str
    kr_id: str
    rule: LabelRule


def pattern_kr(label: str, rules: Rules) -> str | None:
    """What the `kr` group of `label_pattern` captures in `label`, or None without a match."""
    match = re.search(rules.label_pattern, label.strip(), re.IGNORECASE)
    if match is None:
        return None
    named = match.groupdict().get("kr")
    return named or None


def label_matches(label: str, index: KRIndex, rules: Rules) -> tuple[LabelMatch, ...]:
    """Every (KR, rule) one label maps to: the KR's explicit labels first, sorted by KR id,
    then the KR the pattern names."""
    found = [
        LabelMatch(label, kr_id, "labels") for kr_id in sorted(index.labels.get(_fold(label), ()))
    ]
    named = pattern_kr(label, rules)
    canonical = index.canonical_id(named) if named else None
    if canonical is not None:
        found.append(LabelMatch(label, canonical, "label_pattern"))
    return tuple(found)


def kr_ids_for_label(label: str, index: KRIndex, rules: Rules) -> frozenset[str]:
    """The KRs one label names: explicit labels plus the `kr` group of `label_pattern`."""
    return frozenset(match.kr_id for match in label_matches(label, index, rules))


def kr_ids_for_labels(labels: Iterable[str], index: KRIndex, rules: Rules) -> frozenset[str]:
    """The KRs a set of labels names; labels naming unknown KRs map to nothing."""
    found: set[str] = set()
    for label in labels:
        found |= kr_ids_for_label(label, index, rules)
    return frozenset(found)


# --------------------------------------------------------------------------- the item tree


@dataclass(frozen=True, slots=True)
class MappedItem:
    """A non-excluded item with its effective bucket, parent and KRs."""

    item: WorkItem
    bucket: Bucket
    parent: ItemRef | None
    direct_kr_ids: frozenset[str]
    kr_ids: frozenset[str]

    @property
    def ref(self) -> ItemRef:
        return self.item.ref


@dataclass(frozen=True, slots=True)
class MappedItems:
    """Every non-excluded item, keyed and ordered by (source, key), plus the child index.

    Parents always point at an item in `items`, and the parent links form a forest
    (cycles in bad data are cut), so walks up and down always terminate.
    """

    items: Mapping[ItemRef, MappedItem]
    children: Mapping[ItemRef, tuple[ItemRef, ...]]
    # The cycles of parent links found (and cut) while mapping; see `parent_cycles`.
    cycles: tuple[tuple[ItemRef, ...], ...] = ()

    def children_of(self, ref: ItemRef) -> tuple[MappedItem, ...]:
        return tuple(self.items[child] for child in self.children.get(ref, ()))


def _pick_one_per_ref(items: Iterable[WorkItem]) -> dict[ItemRef, WorkItem]:
    """One item per (source, key), independent of input order.

    Sources and the store deliver each key once; should a key repeat, the most
    recently updated copy wins and exact ties fall back to a stable comparison.
    """
    chosen: dict[ItemRef, WorkItem] = {}
    for item in items:
        current = chosen.get(item.ref)
        if current is None or (item.updated, repr(item)) > (current.updated, repr(current)):
            chosen[item.ref] = item
    return chosen


def _present_parents(items: Mapping[ItemRef, WorkItem]) -> dict[ItemRef, ItemRef | None]:
    """Parent links that point at an item we have; any other parent counts as none."""
    parents: dict[ItemRef, ItemRef | None] = {}
    for ref, item in items.items():
        parent = item.parent_ref
        parents[ref] = parent if parent is not None and parent in items else None
    return parents


def parent_cycles(parents: Mapping[ItemRef, ItemRef | None]) -> tuple[tuple[ItemRef, ...], ...]:
    """Every cycle of parent links, each listed from its smallest member and then parent
    by parent (`(a, b)`: a's parent is b, b's parent is a), cycles sorted by that member.

    Each item has at most one parent, so cycles never share an item.
    """
    cycles: list[tuple[ItemRef, ...]] = []
    settled: set[ItemRef] = set()
    for start in sorted(parents, key=ref_sort_key):
        path: list[ItemRef] = []
        on_path: set[ItemRef] = set()
        node: ItemRef | None = start
        while node is not None and node not in settled and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = parents.get(node)
        if node is not None and node in on_path:
            cycle = path[path.index(node) :]
            first = cycle.index(min(cycle, key=ref_sort_key))
            cycles.append(tuple(cycle[first:] + cycle[:first]))
        settled.update(path)
    return tuple(sorted(cycles, key=lambda cycle: ref_sort_key(cycle[0])))


def break_parent_cycles(parents: Mapping[ItemRef, ItemRef | None]) -> dict[ItemRef, ItemRef | None]:
    """Cut every cycle of parent links at its smallest member, which becomes a root.

    Sources should never produce cycles, but one bad record must not hang the
    daemon or make items vanish; cutting at the smallest ref keeps this independent
    of input order.
    """
    result = dict(parents)
    for cycle in parent_cycles(parents):
        result[cycle[0]] = None
    return result


def _ancestors(ref: ItemRef, parents: Mapping[ItemRef, ItemRef | None]) -> list[ItemRef]:
    ancestors: list[ItemRef] = []
    parent = parents[ref]
    while parent is not None:
        ancestors.append(parent)
        parent = parents[parent]
    return ancestors


def map_items(items: Iterable[WorkItem], index: KRIndex, rules: Rules) -> MappedItems:
    """Apply bucket overrides, drop excluded items, resolve parents and map to KRs."""
    buckets: dict[ItemRef, Bucket] = {}
    kept: dict[ItemRef, WorkItem] = {}
    for ref, item in _pick_one_per_ref(items).items():
        bucket = effective_bucket(item, rules)
        if bucket is not Bucket.EXCLUDED:
            buckets[ref] = bucket
            kept[ref] = item

    present = _present_parents(kept)
    cycles = parent_cycles(present)
    parents = break_parent_cycles(present)
    direct = {ref: kr_ids_for_labels(item.labels, index, rules) for ref, item in kept.items()}

    mapped: dict[ItemRef, MappedItem] = {}
    children: dict[ItemRef, list[ItemRef]] = {}
    for ref in sorted(kept, key=ref_sort_key):
        kr_ids = direct[ref]
        if rules.inherit_from_parent:
            kr_ids = kr_ids.union(*(direct[ancestor] for ancestor in _ancestors(ref, parents)))
        mapped[ref] = MappedItem(kept[ref], buckets[ref], parents[ref], direct[ref], kr_ids)
        parent = parents[ref]
        if parent is not None:
            children.setdefault(parent, []).append(ref)

    return MappedItems(
        items=mapped,
        children={parent: tuple(refs) for parent, refs in children.items()},
        cycles=cycles,
    )


# --------------------------------------------------------------------------- leaves


def leaves_by_kr(mapped: MappedItems) -> dict[str, tuple[MappedItem, ...]]:
    """For each KR, its mapped items none of whose children is mapped to it.

    An epic whose children carry the KR (by label or by inheritance) is rolled up
    from them and does not count itself; an item without children counts as itself.
    """
    leaves: dict[str, list[MappedItem]] = {}
    for entry in mapped.items.values():
        child_kr_ids = frozenset[str]().union(*(c.kr_ids for c in mapped.children_of(entry.ref)))
        for kr_id in entry.kr_ids - child_kr_ids:
            leaves.setdefault(kr_id, []).append(entry)
    return {kr_id: tuple(entries) for kr_id, entries in leaves.items()}


def subtree_leaves(mapped: MappedItems, ref: ItemRef) -> tuple[MappedItem, ...]:
    """The childless items under `ref` (or `ref` itself when it has no children)."""
    leaves: list[MappedItem] = []
    pending = [ref]
    while pending:
        current = pending.pop()
        child_refs = mapped.children.get(current, ())
        if child_refs:
            pending.extend(child_refs)
        else:
            leaves.append(mapped.items[current])
    return tuple(sorted(leaves, key=lambda entry: ref_sort_key(entry.ref)))


def unmapped_items(mapped: MappedItems) -> tuple[MappedItem, ...]:
    """Non-excluded items, at any level, that map to no KR."""
    return tuple(entry for entry in mapped.items.values() if not entry.kr_ids)


def mapped_parents(
    items: Iterable[WorkItem], objectives: Iterable[Objective], rules: Rules
) -> dict[str, tuple[WorkItem, ...]]:
    """By source, the mapped items that say they have children: the only ones whose
    children are worth a look-up (an unmapped parent's children cannot move any KR)."""
    mapped = map_items(items, KRIndex.from_objectives(objectives), rules)
    parents: dict[str, list[WorkItem]] = {}
    for ref in sorted(mapped.items, key=ref_sort_key):
        entry = mapped.items[ref]
        if entry.kr_ids and entry.item.child_count:
            parents.setdefault(ref.source, []).append(entry.item)
    return {source: tuple(found) for source, found in parents.items()}
