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

import math
import re
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice, repeat
from operator import attrgetter, eq, is_
from typing import Generic, Literal, NamedTuple, Protocol, TypeVar, cast

from okrsync.domain.models import Bucket, ItemRef, Objective, Rules, WorkItem


def _fold(text: str) -> str:
    """The one normalisation used for every case-insensitive comparison."""
    return text.strip().casefold()


def ref_sort_key(ref: ItemRef) -> tuple[str, str]:
    return (ref.source, ref.key)


_Key = tuple[str, str]  # (source, key): an ItemRef's fields


class ScopeItem(NamedTuple):
    """What a cycle start's scope (`scope_weights`) is computed from: a work item's
    identity, the fields mapping reads, and its points; a light stand-in for a WorkItem
    when that is all that is needed."""

    source: str
    key: str
    status: str
    bucket: Bucket
    points: float | None
    labels: tuple[str, ...]
    parent: str | None
    updated: datetime


class _Mappable(Protocol):
    """What mapping reads of an item: a WorkItem or a ScopeItem."""

    @property
    def source(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def bucket(self) -> Bucket: ...
    @property
    def points(self) -> float | None: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def parent(self) -> str | None: ...
    @property
    def updated(self) -> datetime: ...


_I = TypeVar("_I", bound=_Mappable)


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
class _Layout:
    """`map_items`'s index of what it made, by position in the order of its `items`: the
    entries, each parent's children (in order), each item's position by source and key."""

    entries: Sequence[MappedItem]
    below: Mapping[int, Sequence[int]]
    positions: Mapping[str, Mapping[str, int]]

    def subtree_leaves(self, at: int) -> list[MappedItem]:
        """`subtree_leaf_entries` of the item at `at`, in the same order."""
        below, entries = self.below, self.entries
        children = below.get(at)
        if not children:
            return [entries[at]]
        if not any(map(below.get, children)):  # most often: the walk below, without a loop
            return list(map(entries.__getitem__, reversed(children)))
        leaves: list[MappedItem] = []
        walk = list(children)
        while walk:
            node = walk.pop()
            found = below.get(node)
            if found:
                walk.extend(found)
            else:
                leaves.append(entries[node])
        return leaves


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
    # What `map_items` also works out on positions, far cheaper there than on the refs
    # afterwards (an ItemRef hashes in Python): in the order of `items`, the KRs each
    # item is a leaf of (`leaves_by_kr`); the tree by position (`subtree_leaf_entries`).
    # None when made otherwise: then they are worked out from `items` and `children` (so
    # a copy with other items must leave them out).
    leaf_kr_ids: tuple[frozenset[str], ...] | None = field(default=None, compare=False, repr=False)
    layout: _Layout | None = field(default=None, compare=False, repr=False)

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
        if first_parent in settled:  # the walk would stop at once: no cycle through start
            settled.add(start)
            continue
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


def _bucket_override(rules: Rules) -> Callable[[_Mappable], Bucket | None] | None:
    """The bucket `rules` override an item's own with (see `bucket_decision`), or None,
    with the overrides folded once and each answer remembered by what it depends on
    (the labels and the status: they repeat a lot); None when `rules` override nothing."""
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

    def override(item: _Mappable) -> Bucket | None:
        key = (item.labels, item.status)
        if key in decided:
            return decided[key]
        found = decided[key] = decide(*key)
        return found

    if not label_buckets and not status_buckets:
        return None
    return override


def map_items(items: Iterable[WorkItem], index: KRIndex, rules: Rules) -> MappedItems:
    """Apply bucket overrides, drop excluded items, resolve parents and map to KRs.

    The work is done on positions in (source, key) order (see `_resolve`); the refs and
    entries are then made a field at a time over all items at once (see `_new_object`).
    """
    tree = _resolve(items, index, rules)
    kept, parents, kr_of = tree.items, tree.parents, tree.kr_ids
    count = len(kept)
    new = _new_object
    refs: list[ItemRef] = list(map(new, repeat(ItemRef, count)))
    any(map(_set_ref_source, refs, map(_source_of, kept)))
    any(map(_set_ref_key, refs, map(_key_of, kept)))
    parent_refs: list[ItemRef | None] = [*refs, None]  # position -1: no parent
    entries: list[MappedItem] = list(map(new, repeat(MappedItem, count)))
    any(map(_set_entry_item, entries, kept))
    any(map(_set_entry_bucket, entries, tree.buckets))
    any(map(_set_entry_parent, entries, map(parent_refs.__getitem__, parents)))
    any(map(_set_entry_direct, entries, tree.direct))
    any(map(_set_entry_kr_ids, entries, kr_of))

    below: dict[int, list[int]] = {}  # by parent, its children; parents met by first child
    for child, parent in enumerate(parents):
        if parent >= 0:
            siblings = below.get(parent)
            if siblings is None:  # not `setdefault(parent, [])`: no list made per child
                below[parent] = [child]
            else:
                siblings.append(child)
    # What `leaves_by_kr` computes from the refs, the same way (the same sets, in the same
    # order, so the same frozensets), on the positions.
    leaf_kr_ids = list(kr_of)
    for parent, children in below.items():
        kr_ids = kr_of[parent]
        if kr_ids:
            leaf_kr_ids[parent] = kr_ids.difference(*map(kr_of.__getitem__, children))

    ref_at = refs.__getitem__
    return MappedItems(
        items=dict(zip(refs, entries, strict=True)),
        children={refs[parent]: tuple(map(ref_at, children)) for parent, children in below.items()},
        cycles=tuple(tuple(map(ref_at, cycle)) for cycle in tree.cycles),
        leaf_kr_ids=tuple(leaf_kr_ids),
        layout=_Layout(entries, below, tree.positions),
    )


# Objects made by setting their slots directly: `ItemRef(...)` and `MappedItem(...)`
# without the frozen dataclass's `object.__setattr__` per field (the same objects; a
# test compares them), for the tens of thousands `map_items` makes; `map_items` sets
# each field over all objects with `map`, so that no Python code runs per object.
_new_object = object.__new__
_set_ref_source, _set_ref_key = (getattr(ItemRef, name).__set__ for name in ("source", "key"))
(
    _set_entry_item,
    _set_entry_bucket,
    _set_entry_parent,
    _set_entry_direct,
    _set_entry_kr_ids,
) = (getattr(MappedItem, name).__set__ for name in MappedItem.__match_args__)
_source_of, _key_of, _labels_of = attrgetter("source"), attrgetter("key"), attrgetter("labels")
_parent_of, _bucket_of = attrgetter("parent"), attrgetter("bucket")


def _new_ref(source: str, key: str) -> ItemRef:
    ref: ItemRef = _new_object(ItemRef)
    _set_ref_source(ref, source)
    _set_ref_key(ref, key)
    return ref


def _new_mapped_item(
    item: WorkItem,
    bucket: Bucket,
    parent: ItemRef | None,
    direct_kr_ids: frozenset[str],
    kr_ids: frozenset[str],
) -> MappedItem:
    entry: MappedItem = _new_object(MappedItem)
    _set_entry_item(entry, item)
    _set_entry_bucket(entry, bucket)
    _set_entry_parent(entry, parent)
    _set_entry_direct(entry, direct_kr_ids)
    _set_entry_kr_ids(entry, kr_ids)
    return entry


def scope_weights_as_mapped(
    mapped: MappedItems,
    leaves: Mapping[str, Sequence[MappedItem]],
    start_items: Iterable[WorkItem] | Iterable[ScopeItem],
    rules: Rules,
) -> dict[str, float] | None:
    """`scope_weights(start_items, ...)` read off the current items' mapping (`mapped`,
    `leaves` = `leaves_by_kr(mapped)`), when the start items map the same way: the same
    keys kept (none excluded at one instant and not the other), each with the same labels
    and parent. Then the tree, the KRs and the leaves are the same items and only their
    weights differ (points and buckets move far more often than labels and parents).
    None when anything that shapes the mapping differs: map the start items then."""
    override = _bucket_override(rules)
    excluded = Bucket.EXCLUDED
    start: dict[_Key, _Mappable] = {}
    listed = 0
    dropped = 0
    for item in start_items:
        listed += 1
        bucket = override(item) if override is not None else None
        if (item.bucket if bucket is None else bucket) is excluded:
            dropped += 1
            continue
        start[(item.source, item.key)] = item
    if len(start) + dropped != listed or len(start) != len(mapped.items):
        return None  # a key twice (mapping picks one), or other items kept
    for entry in mapped.items.values():
        now = entry.item
        then = start.get((now.source, now.key))
        if then is None or then.labels != now.labels or then.parent != now.parent:
            return None
    if rules.weight == "count":
        return {kr_id: float(len(found)) for kr_id, found in leaves.items() if found}
    default = rules.default_points
    weights: dict[str, float] = {}
    for kr_id, found in leaves.items():
        if not found:
            continue
        points = (start[(leaf.item.source, leaf.item.key)].points for leaf in found)
        weights[kr_id] = math.fsum(default if p is None else p for p in points)
    return weights


def scope_weights(
    items: Iterable[WorkItem] | Iterable[ScopeItem], index: KRIndex, rules: Rules
) -> dict[str, float]:
    """Each KR's total leaf weight (`leaf_weights(...).total` over `leaves_by_kr`), by
    canonical KR id, for KRs with at least one leaf: the same numbers as mapping the
    items with `map_items`, without making its objects (a cycle start's scope needs
    only these totals)."""
    tree: _Tree[_Mappable] = _resolve(items, index, rules)
    kept, kr_of = tree.items, tree.kr_ids
    below: dict[int, set[str]] = {}  # the KRs of each parent's children
    for child, parent in enumerate(tree.parents):
        if parent >= 0:
            found_below = below.get(parent)
            if found_below is None:  # not `setdefault(parent, set())`: no set per child
                below[parent] = set(kr_of[child])
            else:
                found_below |= kr_of[child]
    count = rules.weight == "count"
    default = rules.default_points
    weights: dict[str, list[float]] = {}
    for at, kr_ids in enumerate(kr_of):
        if not kr_ids:
            continue
        children_krs = below.get(at)
        leaf_of = kr_ids.difference(children_krs) if children_krs else kr_ids
        if not leaf_of:
            continue
        if count:
            weight = 1.0
        else:
            points = kept[at].points
            weight = points if points is not None else default
        for kr_id in leaf_of:
            found = weights.get(kr_id)
            if found is None:
                weights[kr_id] = [weight]
            else:
                found.append(weight)
    return {kr_id: math.fsum(found) for kr_id, found in weights.items()}


@dataclass(frozen=True, slots=True)
class _Tree(Generic[_I]):
    """What mapping decides, by position: the kept items in (source, key) order, each
    with its effective bucket, its parent's position (-1: none, or a cycle cut there),
    its own KRs and its KRs with inheritance; the cycles found, as positions (see
    `parent_cycles`), and each item's position by source and key."""

    items: list[_I]
    buckets: list[Bucket]
    parents: list[int]
    direct: list[frozenset[str]]
    kr_ids: list[frozenset[str]]
    cycles: list[tuple[int, ...]]
    positions: dict[str, dict[str, int]]


def _resolve(items: Iterable[_I], index: KRIndex, rules: Rules) -> _Tree[_I]:
    """The mapping of `items` on positions in (source, key) order.

    Parents are in the same source, so each source's items are looked up by their plain
    key (a str caches its hash; a tuple or an ItemRef hashes anew each time), and a
    position orders the same way as a ref (`ref_sort_key`), so the smallest member of a
    cycle is its smallest position.
    """
    override = _bucket_override(rules)
    excluded = Bucket.EXCLUDED
    kept: list[_I] = []
    buckets: list[Bucket] = []
    parents: list[int] = []
    positions: dict[str, dict[str, int]] = {}
    for source, keys, values in _pick_one_per_key(items):
        if override is None:
            found = list(map(_bucket_of, values))
        else:
            found = [item.bucket if (b := override(item)) is None else b for item in values]
        if any(map(is_, found, repeat(excluded))):
            kept_at = [at for at, bucket in enumerate(found) if bucket is not excluded]
            keys = [keys[at] for at in kept_at]
            values = [values[at] for at in kept_at]
            found = [found[at] for at in kept_at]
        start = len(kept)
        position = positions[source] = dict(zip(keys, range(start, start + len(keys)), strict=True))
        parent_keys = list(map(_parent_of, values))
        linked = list(map(position.get, parent_keys, repeat(-1)))
        if "" in position:  # an empty parent key is no parent, even with an item keyed ""
            linked = [at if key else -1 for at, key in zip(linked, parent_keys, strict=True)]
        kept += values
        buckets += found
        parents += linked

    all_labels = list(map(_labels_of, kept))
    by_labels: dict[tuple[str, ...], frozenset[str]] = {}  # labels repeat a lot
    for labels in set(all_labels):
        by_labels[labels] = kr_ids_for_labels(labels, index, rules)
    direct = list(map(by_labels.__getitem__, all_labels))

    # Each item's KRs with its ancestors', found in one walk that also finds the cycles.
    inherited: list[frozenset[str] | None] = [None] * len(kept)
    cycles: list[tuple[int, ...]] = []
    for at, parent in enumerate(parents):  # a cut is seen: the list is read as it goes
        if parent < 0:
            inherited[at] = direct[at]
        elif (above := inherited[parent]) is None:
            _inherit(at, parents, direct, inherited, cycles)
        elif inherited[at] is None:  # not yet set on the way up from an earlier item
            own = direct[at]
            inherited[at] = own if above <= own else above if own <= above else own | above
    cycles.sort()
    if not rules.inherit_from_parent:
        return _Tree(kept, buckets, parents, direct, direct, cycles, positions)
    kr_ids = cast("list[frozenset[str]]", inherited)  # every position was set above
    return _Tree(kept, buckets, parents, direct, kr_ids, cycles, positions)


def _inherit(
    start: int,
    parents: list[int],
    direct: Sequence[frozenset[str]],
    inherited: list[frozenset[str] | None],
    cycles: list[tuple[int, ...]],
) -> None:
    """Set the inherited KRs of `start` and of its ancestors not known yet. A cycle met on
    the way up is cut at its smallest member, as `break_parent_cycles` does, and listed
    in `cycles` from that member, parent by parent."""
    while True:  # again after cutting a cycle, up to its new root
        path: list[int] = []
        on_path: dict[int, int] = {}
        node = start
        cut = False
        while (known := inherited[node]) is None:
            if node in on_path:
                cycle = path[on_path[node] :]
                first = cycle.index(min(cycle))
                cycles.append(tuple(cycle[first:] + cycle[:first]))
                parents[cycle[first]] = -1
                cut = True
                break
            on_path[node] = len(path)
            path.append(node)
            parent = parents[node]
            if parent < 0:
                break
            node = parent
        if not cut:
            for node in reversed(path):
                own = direct[node]
                known = inherited[node] = own if known is None else _union(own, known)
            return


def _pick_one_per_key(items: Iterable[_I]) -> list[tuple[str, list[str], list[_I]]]:
    """One item per (source, key), independent of input order: by source, in order, each
    source's keys in order and its items in that order.

    Sources and the store deliver each key once; should a key repeat, the most
    recently updated copy wins and exact ties fall back to a stable comparison.
    """
    listed = items if isinstance(items, (list, tuple)) else list(items)
    sources = set(map(_source_of, listed))
    if len(sources) == 1:  # one source: no grouping needed
        keys = list(map(_key_of, listed))
        if keys == sorted(keys) and not any(map(eq, keys, islice(keys, 1, None))):
            return [(sources.pop(), keys, list(listed))]  # as the store lists them
        chosen = dict(zip(keys, listed, strict=True))
        if len(chosen) == len(listed):  # every key once, as sources deliver them
            keys.sort()
            return [(sources.pop(), keys, list(map(chosen.__getitem__, keys)))]
    by_source: dict[str, dict[str, _I]] = {source: {} for source in sorted(sources)}
    for item in listed:
        found = by_source[item.source]
        current = found.get(item.key)
        if current is None or (item.updated, repr(item)) > (current.updated, repr(current)):
            found[item.key] = item
    picked = []
    for source, found in by_source.items():
        keys = sorted(found)
        picked.append((source, keys, list(map(found.__getitem__, keys))))
    return picked


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
    if mapped.leaf_kr_ids is not None:  # worked out by `map_items`
        for entry, kr_ids in zip(items.values(), mapped.leaf_kr_ids, strict=True):
            for kr_id in kr_ids:
                found = leaves.get(kr_id)
                if found is None:
                    leaves[kr_id] = [entry]
                else:
                    found.append(entry)
        return {kr_id: tuple(entries) for kr_id, entries in leaves.items()}
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
    return tuple(sorted(subtree_leaf_entries(mapped, ref), key=_entry_order))


def subtree_leaf_entries(mapped: MappedItems, ref: ItemRef) -> list[MappedItem]:
    """`subtree_leaves` in no particular order (for counting them)."""
    layout = mapped.layout
    if layout is not None:  # the same walk on positions (see `MappedItems.layout`)
        at = layout.positions.get(ref.source, {}).get(ref.key)
        if at is not None:
            return layout.subtree_leaves(at)
    leaves: list[MappedItem] = []
    children, items = mapped.children, mapped.items
    pending = [ref]
    while pending:
        current = pending.pop()
        child_refs = children.get(current)
        if child_refs:
            pending.extend(child_refs)
        else:
            leaves.append(items[current])
    return leaves


def unmapped_items(mapped: MappedItems) -> tuple[MappedItem, ...]:
    """Non-excluded items, at any level, that map to no KR."""
    return tuple(entry for entry in mapped.items.values() if not entry.kr_ids)


def mapped_parents(
    items: Iterable[WorkItem], objectives: Iterable[Objective], rules: Rules
) -> dict[str, tuple[WorkItem, ...]]:
    """By source, the mapped items that say they have children: the only ones whose
    children are worth a look-up (an unmapped parent's children cannot move any KR)."""
    return parents_to_look_up(map_items(items, KRIndex.from_objectives(objectives), rules))


def parents_to_look_up(mapped: MappedItems) -> dict[str, tuple[WorkItem, ...]]:
    """`mapped_parents` of the items `mapped` is `map_items`' mapping of (a cycle maps
    its items once, for this and for its report), by source, each in (source, key)
    order: the order of `mapped.items` as `map_items` makes it, so nothing is sorted
    (and no ref made) per item."""
    parents: dict[str, list[WorkItem]] = {}
    for entry in mapped.items.values():
        if entry.kr_ids and entry.item.child_count:  # the few mapped parents, tested first
            item = entry.item
            parents.setdefault(item.source, []).append(item)
    return {source: tuple(found) for source, found in parents.items()}
