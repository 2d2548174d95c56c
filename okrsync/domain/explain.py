"""Why one item counts where it counts: `okrsync explain`, computed without I/O.

The explanation retraces the mapping of okrsync/domain/mapping.py for one item (same
bucket overrides, same effective parents, same leaves, same target rule), so it can
never disagree with the report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from okrsync.domain.mapping import (
    BucketDecision,
    KRIndex,
    LabelMatch,
    LabelRule,
    MappedItem,
    MappedItems,
    bucket_decision,
    kr_ids_for_labels,
    label_matches,
    map_items,
    ref_sort_key,
)
from okrsync.domain.models import Bucket, ItemRef, Objective, Problem, Rules, WorkItem
from okrsync.domain.problems import mapping_problems
from okrsync.domain.progress import WeightSource, leaf_weight, weight_source
from okrsync.domain.report import is_target

KRVia = Literal["label", "inherited"]


@dataclass(frozen=True, slots=True)
class KRReason:
    """Why the item maps to one KR.

    `via` "label": one of the item's own labels matched, by `rule`. `via` "inherited":
    the nearest ancestor carrying the KR by its own label is `inherited_from`, and
    `label`/`rule` are that ancestor's; `through` lists the parents between the item
    and that ancestor (empty when it is the item's parent). `leaf`: whether the item
    counts itself toward the KR (it does unless some child maps to the KR too, then it
    is rolled up from its children).
    """

    kr_id: str
    via: KRVia
    label: str
    rule: LabelRule
    inherited_from: ItemRef | None
    through: tuple[ItemRef, ...]
    leaf: bool


@dataclass(frozen=True, slots=True)
class Explanation:
    """Everything `okrsync explain` shows about one item.

    `weight` and `weight_from` are None for an excluded item, which counts nowhere.
    `excluded_krs` names the KRs the labels of an excluded item would map to.
    """

    item: WorkItem
    parent: ItemRef | None
    krs: tuple[KRReason, ...]
    bucket: BucketDecision
    weight: float | None
    weight_from: WeightSource | None
    target: bool
    target_reason: str
    problems: tuple[Problem, ...]
    excluded_krs: tuple[str, ...] = ()

    @property
    def excluded(self) -> bool:
        return self.bucket.bucket is Bucket.EXCLUDED

    @property
    def counts_toward(self) -> tuple[str, ...]:
        """The KRs whose delivery this item's own weight is part of."""
        return tuple(reason.kr_id for reason in self.krs if reason.leaf)


# --------------------------------------------------------------------------- finding the item


def resolve_item(text: str, items: Iterable[WorkItem]) -> tuple[WorkItem, ...]:
    """The items `text` names, sorted by (source, key): one, none, or several when ambiguous.

    `source:key` (`jira:ONB-12`, `github:acme/web#7`, `asana:1204…`) looks in that source
    when some item comes from it; anything else is a bare key, looked up in every
    source. Keys match exactly, or else case-insensitively (Jira keys and GitHub repos
    are case-insensitive).
    """
    candidates = list(items)
    sources = {item.source.casefold() for item in candidates}
    wanted = text.strip()
    source, sep, key = wanted.partition(":")
    if sep and source.casefold() in sources:
        candidates = [item for item in candidates if item.source.casefold() == source.casefold()]
        wanted = key.strip()
    exact = {item.ref: item for item in candidates if item.key == wanted}
    if not exact:
        folded = wanted.casefold()
        exact = {item.ref: item for item in candidates if item.key.casefold() == folded}
    return tuple(exact[ref] for ref in sorted(exact, key=ref_sort_key))


# --------------------------------------------------------------------------- explaining it


def _first_matches(item: WorkItem, index: KRIndex, rules: Rules) -> dict[str, LabelMatch]:
    """For each KR the item's own labels name, the first match (labels in case-folded order)."""
    first: dict[str, LabelMatch] = {}
    for label in sorted(item.labels, key=lambda text: (text.casefold(), text)):
        for match in label_matches(label, index, rules):
            first.setdefault(match.kr_id, match)
    return first


def _ancestors(mapped: MappedItems, ref: ItemRef) -> list[MappedItem]:
    found: list[MappedItem] = []
    parent = mapped.items[ref].parent
    while parent is not None:
        found.append(mapped.items[parent])
        parent = mapped.items[parent].parent
    return found


def _reasons(
    entry: MappedItem, mapped: MappedItems, index: KRIndex, rules: Rules
) -> list[KRReason]:
    child_kr_ids = frozenset[str]().union(*(c.kr_ids for c in mapped.children_of(entry.ref)))
    own = _first_matches(entry.item, index, rules)
    ancestors = _ancestors(mapped, entry.ref)
    reasons: list[KRReason] = []
    for kr_id in sorted(entry.kr_ids):
        leaf = kr_id not in child_kr_ids
        if kr_id in own:
            match = own[kr_id]
            reasons.append(KRReason(kr_id, "label", match.label, match.rule, None, (), leaf))
            continue
        for depth, ancestor in enumerate(ancestors):
            if kr_id in ancestor.direct_kr_ids:
                match = _first_matches(ancestor.item, index, rules)[kr_id]
                through = tuple(a.ref for a in ancestors[:depth])
                reasons.append(
                    KRReason(
                        kr_id, "inherited", match.label, match.rule, ancestor.ref, through, leaf
                    )
                )
                break
    return reasons


def _target_reason(entry: MappedItem, mapped: MappedItems, rules: Rules) -> str:
    if rules.writeback_targets == "none":
        return "writeback.targets is none"
    if not entry.kr_ids:
        return "it maps to no KR"
    if rules.writeback_targets == "all":
        return "writeback.targets is all and it maps to a KR"
    if not entry.direct_kr_ids:
        return "it carries no KR label itself (top_level)"
    if entry.parent is not None and mapped.items[entry.parent].kr_ids:
        return f"its parent {entry.parent} is mapped (top_level)"
    return "it carries a KR label itself and has no mapped parent (top_level)"


def explain_item(
    item: WorkItem, items: Iterable[WorkItem], objectives: Sequence[Objective], rules: Rules
) -> Explanation:
    """Why `item` (one of `items`, found by its ref) maps where it does.

    `items` are all the items the report is computed from: parents and children matter.
    Raises KeyError when no item in `items` has the item's ref.
    """
    index = KRIndex.from_objectives(objectives)
    everything = list(items)
    same = [candidate for candidate in everything if candidate.ref == item.ref]
    if not same:
        raise KeyError(str(item.ref))
    mapped = map_items(everything, index, rules)
    problems = tuple(p for p in mapping_problems(mapped, index, rules) if p.item == item.ref)
    entry = mapped.items.get(item.ref)
    if entry is None:
        # Excluded: dropped before mapping. Read the copy the mapping would have read.
        chosen = max(same, key=lambda candidate: (candidate.updated, repr(candidate)))
        return Explanation(
            item=chosen,
            parent=chosen.parent_ref,
            krs=(),
            bucket=bucket_decision(chosen, rules),
            weight=None,
            weight_from=None,
            target=False,
            target_reason="excluded items are never written to",
            problems=problems,
            excluded_krs=tuple(sorted(kr_ids_for_labels(chosen.labels, index, rules))),
        )
    target = is_target(entry, mapped, rules)
    return Explanation(
        item=entry.item,
        parent=entry.parent,
        krs=tuple(_reasons(entry, mapped, index, rules)),
        bucket=bucket_decision(entry.item, rules),
        weight=leaf_weight(entry, rules),
        weight_from=weight_source(entry, rules),
        target=target,
        target_reason=_target_reason(entry, mapped, rules),
        problems=problems,
    )
