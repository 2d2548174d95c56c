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
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

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


def parent_cycles(parents: Mapping[ItemRef, ItemRef | None]) -> tuple[tuple[ItemRef, ...], ...]:
    """Every cycle of parent links, each listed from its smallest member and then parent
    by parent (`(a, b)`: a's parent is b, b's parent is a), cycles sorted by that member.

    Each item has at most one parent, so cycles never share an item.
    """
    return _cycles(parents, ref_sort_key)


_K = TypeVar("_K", bound=Hashable)


def _cycles(
    parents: Mapping[_K, _K | None], order: Callable[[_K], tuple[str, str]]
) -> tuple[tuple[_K, ...], ...]:
    """`parent_cycles` over any keys, ordered by `order`."""
    cycles: list[tuple[_K, ...]] = []
    settled: set[_K] = set()
    # Any order of starts finds the same cycles: each is rotated and sorted below.
    for start, first_parent in parents.items():
        if first_parent is None or start in settled:
            continue  # a root ends every walk that reaches it; a settled item was walked
        path: list[_K] = [start]
        on_path: set[_K] = {start}
        node: _K | None = first_parent
        while node is not None and node not in settled and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = parents.get(node)
        if node is not None and node in on_path:
            cycle = path[path.index(node) :]
            first = cycle.index(min(cycle, key=order))
            cycles.append(tuple(cycle[first:] + cycle[:first]))
        settled.update(path)
    return tuple(sorted(cycles, key=lambda cycle: order(cycle[0])))


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


def _bucket_override(rules: Rules) -> Callable[[WorkItem], Bucket | None]:
    """The bucket `rules` override an item's own with (see `bucket_decision`), or None,
    with the overrides folded once and each answer remembered by what it depends on
    (the labels and the status: they repeat a lot)."""
    label_buckets = [(_fold(label), bucket) for label, bucket in rules.label_buckets.items()]
    status_buckets: dict[str, Bucket] = {}
    for status_name, bucket in rules.status_buckets.items():
        status_buckets.setdefault(_fold(status_name), bucket)
    decided: dict[tuple[tuple[str, ...], str], Bucket | None] = {}

    def decide(labels: tuple[str, ...], status: str) -> Bucket | None:
        if label_buckets:
            item_labels = {_fold(label) for label in labels}
            for folded, bucket in label_buckets:
                if folded in item_labels:
                    return bucket
        return status_buckets.get(_fold(status))

    def override(item: WorkItem) -> Bucket | None:
        key = (item.labels, item.status)
        if key in decided:
            return decided[key]
        found = decided[key] = decide(*key)
        return found

    if not label_buckets and not status_buckets:
        return lambda item: None
    return override


def map_items(items: Iterable[WorkItem], index: KRIndex, rules: Rules) -> MappedItems:
    """Apply bucket overrides, drop excluded items, resolve parents and map to KRs.

    Items are keyed by plain (source, key) tuples until the result is built: they hash
    far faster than `ItemRef`s, and they sort the same way (`ref_sort_key`).
    """
    override = _bucket_override(rules)
    kept: dict[_Key, tuple[WorkItem, Bucket]] = {}
    links: dict[_Key, _Key] = {}  # parent links as the items state them
    by_labels: dict[tuple[str, ...], frozenset[str]] = {}  # labels repeat a lot
    direct: dict[_Key, frozenset[str]] = {}
    for key, item in _pick_one_per_key(items).items():
        bucket = override(item)
        if bucket is None:
            bucket = item.bucket
        if bucket is Bucket.EXCLUDED:
            continue
        kept[key] = (item, bucket)
        if item.parent:
            links[key] = (item.source, item.parent)
        labels = item.labels
        found = by_labels.get(labels)
        if found is None:
            found = by_labels[labels] = kr_ids_for_labels(labels, index, rules)
        direct[key] = found

    # Parent links that point at an item we have; any other parent counts as none.
    parents: dict[_Key, _Key | None] = dict.fromkeys(kept)
    for key, link in links.items():
        if link in kept:
            parents[key] = link
    cycles = _cycles(parents, _same)
    for cycle in cycles:  # cut each at its smallest member, as `break_parent_cycles` does
        parents[cycle[0]] = None

    refs = {key: ItemRef(*key) for key in sorted(kept)}
    mapped: dict[ItemRef, MappedItem] = {}
    children: dict[_Key, list[ItemRef]] = {}
    inherited: dict[_Key, frozenset[str]] = {}  # each item's KRs with its ancestors'
    inherit = rules.inherit_from_parent
    for key, ref in refs.items():
        item, bucket = kept[key]
        parent = parents[key]
        own = direct[key]
        if parent is None:
            mapped[ref] = MappedItem(item, bucket, None, own, own)
            continue
        kr_ids = own
        if inherit:
            above = inherited.get(parent)
            if above is None:
                above = _with_ancestors(parent, parents, direct, inherited)
            kr_ids = _union(own, above)
        mapped[ref] = MappedItem(item, bucket, refs[parent], own, kr_ids)
        children.setdefault(parent, []).append(ref)

    return MappedItems(
        items=mapped,
        children={refs[parent]: tuple(found) for parent, found in children.items()},
        cycles=tuple(tuple(refs[key] for key in cycle) for cycle in cycles),
    )


_Key = tuple[str, str]  # (source, key): an ItemRef's fields


def _same(key: _Key) -> _Key:
    return key


def _pick_one_per_key(items: Iterable[WorkItem]) -> dict[_Key, WorkItem]:
    """One item per (source, key), independent of input order.

    Sources and the store deliver each key once; should a key repeat, the most
    recently updated copy wins and exact ties fall back to a stable comparison.
    """
    chosen: dict[_Key, WorkItem] = {}
    for item in items:
        key = (item.source, item.key)
        current = chosen.get(key)
        if current is None or (item.updated, repr(item)) > (current.updated, repr(current)):
            chosen[key] = item
    return chosen


def _with_ancestors(
    key: _Key,
    parents: Mapping[_Key, _Key | None],
    direct: Mapping[_Key, frozenset[str]],
    inherited: dict[_Key, frozenset[str]],
) -> frozenset[str]:
    """An item's KRs with every ancestor's, remembered in `inherited` for the items on
    the way up."""
    path: list[_Key] = []
    node: _Key | None = key
    known: frozenset[str] = frozenset()
    while node is not None:
        done = inherited.get(node)
        if done is not None:
            known = done
            break
        path.append(node)
        node = parents[node]
    for node in reversed(path):
        known = inherited[node] = _union(direct[node], known)
    return known


def _union(own: frozenset[str], above: frozenset[str]) -> frozenset[str]:
    """`own | above`, without a new set when one already holds the other."""
    if above <= own:
        return own
    if own <= above:
        return above
    return own | above


# --------------------------------------------------------------------------- leaves


def leaves_by_kr(mapped: MappedItems) -> dict[str, tuple[MappedItem, ...]]:
    """For each KR, its mapped items none of whose children is mapped to it.

    An epic whose children carry the KR (by label or by inheritance) is rolled up
    from them and does not count itself; an item without children counts as itself.
    """
    leaves: dict[str, list[MappedItem]] = {}
    items, children = mapped.items, mapped.children
    for ref, entry in items.items():
        kr_ids = entry.kr_ids
        if not kr_ids:
            continue
        child_refs = children.get(ref)
        if child_refs:
            kr_ids = kr_ids.difference(*(items[child].kr_ids for child in child_refs))
        for kr_id in kr_ids:
            leaves.setdefault(kr_id, []).append(entry)
    return {kr_id: tuple(entries) for kr_id, entries in leaves.items()}


def _entry_order(entry: MappedItem) -> tuple[str, str]:
    """`ref_sort_key` of the entry's ref, without making the ref."""
    return (entry.item.source, entry.item.key)


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
    return tuple(sorted(leaves, key=_entry_order))


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
