"""The mapping, leaves, targets, problems and leaf totals, as `map_items` and friends work
them out in bulk (on positions, by bucket), are what the rules give item by item: each
compared with a plain reading of docs/design.md, "Rules of the computation", on random
trees (repeated keys, two sources, cycles, overrides, excluded items)."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence

from factories import key_result, objective, utc
from hypothesis import given, settings
from hypothesis import strategies as st

from okrsync.domain import Bucket, ItemRef, KRIndex, Rules, WorkItem, leaves_by_kr, map_items
from okrsync.domain.mapping import (
    MappedItem,
    MappedItems,
    break_parent_cycles,
    effective_bucket,
    kr_ids_for_labels,
    parent_cycles,
    subtree_leaf_entries,
)
from okrsync.domain.models import ItemCounts, Problem, Weights
from okrsync.domain.problems import check_label, mapping_problems, unknown_kr_detail
from okrsync.domain.progress import (
    delivery_progress,
    item_counts,
    leaf_summary,
    leaf_weight,
    leaf_weights,
)
from okrsync.domain.report import is_target, select_targets

OBJECTIVES = [
    objective("O", key_result("A-1", labels=["alpha"]), key_result("B-1", labels=["Beta "])),
    objective("P", key_result("C-1", labels=["alpha"])),
]
INDEX = KRIndex.from_objectives(OBJECTIVES)
LABELS = ["okr:A-1", "okr:b-1", "alpha", "beta", "okr:C-1", "okr:C-9", "kr/Z", "bug", "hold"]
BUCKETS = list(Bucket)
STATUSES = ["todo", "Doing", "done", "parked"]

items_strategy = st.lists(
    st.tuples(
        st.sampled_from(["jira", "github"]),
        st.integers(0, 15),  # the key's number (repeats: one item per key is kept)
        st.one_of(st.none(), st.just(""), st.integers(0, 17)),  # the parent's number
        st.lists(st.sampled_from(LABELS), max_size=3).map(tuple),
        st.sampled_from(BUCKETS),
        st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.5, 8.0, -1.0])),
        st.sampled_from(STATUSES),
        st.integers(0, 2),  # the day it was updated: ties between repeated keys too
    ),
    max_size=40,
).map(
    lambda shape: [
        WorkItem(
            source=source,
            key=f"K-{n}",
            title=f"t{n}",
            type="Story",
            status=status,
            bucket=bucket,
            points=points,
            labels=labels,
            parent=None if parent is None else ("" if parent == "" else f"K-{parent}"),
            updated=utc(2026, 11, 1 + day),
            url="u",
        )
        for source, n, parent, labels, bucket, points, status, day in shape
    ]
)

rules_strategy = st.builds(
    Rules,
    inherit_from_parent=st.booleans(),
    weight=st.sampled_from(["points", "count"]),
    default_points=st.sampled_from([1.0, 3.0]),
    credit=st.sampled_from(
        [
            {Bucket.TODO: 0.0, Bucket.IN_PROGRESS: 0.0, Bucket.DONE: 1.0},
            {Bucket.TODO: 0.1, Bucket.IN_PROGRESS: 0.3, Bucket.DONE: 1.0},
            {Bucket.DONE: 1.0},
        ]
    ),
    status_buckets=st.sampled_from(
        [{}, {"doing": Bucket.IN_PROGRESS}, {"Parked": Bucket.EXCLUDED, "todo": Bucket.DONE}]
    ),
    label_buckets=st.sampled_from([{}, {"hold": Bucket.EXCLUDED}, {"BUG": Bucket.DONE}]),
    writeback_targets=st.sampled_from(["top_level", "all", "none"]),
)


def reference_map(items: Sequence[WorkItem], rules: Rules) -> MappedItems:
    """`map_items` item by item, straight from the rules."""
    chosen: dict[ItemRef, WorkItem] = {}
    for item in items:  # the most recently updated copy of a key, ties by repr
        current = chosen.get(item.ref)
        if current is None or (item.updated, repr(item)) > (current.updated, repr(current)):
            chosen[item.ref] = item
    kept = {
        ref: (item, effective_bucket(item, rules))
        for ref, item in sorted(chosen.items(), key=lambda pair: (pair[0].source, pair[0].key))
        if effective_bucket(item, rules) is not Bucket.EXCLUDED
    }
    stated = {
        ref: item.parent_ref if item.parent_ref in kept else None for ref, (item, _) in kept.items()
    }
    parents = break_parent_cycles(stated)
    direct = {ref: kr_ids_for_labels(item.labels, INDEX, rules) for ref, (item, _) in kept.items()}

    def inherited(ref: ItemRef) -> frozenset[str]:
        parent = parents[ref]
        if parent is None or not rules.inherit_from_parent:
            return direct[ref]
        return direct[ref] | inherited(parent)

    children: dict[ItemRef, list[ItemRef]] = {}
    for ref in kept:
        parent = parents[ref]
        if parent is not None:
            children.setdefault(parent, []).append(ref)
    return MappedItems(
        items={
            ref: MappedItem(item, bucket, parents[ref], direct[ref], inherited(ref))
            for ref, (item, bucket) in kept.items()
        },
        children={parent: tuple(found) for parent, found in children.items()},
        cycles=parent_cycles(stated),
    )


def reference_problems(mapped: MappedItems, rules: Rules) -> set[Problem]:
    """The `unknown_kr` and `kr_label_on_child_only` problems, item by item."""
    found: set[Problem] = set()
    for ref, entry in mapped.items.items():
        for label in entry.item.labels:
            check = check_label(label, INDEX, rules)
            if check is not None and check.unknown is not None:
                found.add(Problem(ref, "unknown_kr", unknown_kr_detail(check)))
        if entry.parent is not None:
            parent = mapped.items[entry.parent]
            if parent.kr_ids and entry.direct_kr_ids - parent.kr_ids:
                found.add(Problem(ref, "kr_label_on_child_only", ""))
    return found


@settings(max_examples=300, deadline=None)
@given(items_strategy, rules_strategy, st.booleans())
def test_map_items_is_the_rules_item_by_item(
    items: list[WorkItem], rules: Rules, reverse: bool
) -> None:
    mapped = map_items(reversed(items) if reverse else items, INDEX, rules)
    expected = reference_map(items, rules)
    assert list(mapped.items.items()) == list(expected.items.items())  # in the same order
    assert mapped.children == expected.children
    assert mapped.cycles == expected.cycles
    keys = {id(ref) for ref in mapped.items}  # a parent is the very ref keying its item
    assert all(entry.parent is None or id(entry.parent) in keys for entry in mapped.items.values())

    walked = dataclasses.replace(mapped, leaf_kr_ids=None, layout=None)
    fast, slow = leaves_by_kr(mapped), leaves_by_kr(walked)
    assert list(fast.items()) == list(slow.items())
    for ref in mapped.items:
        assert subtree_leaf_entries(mapped, ref) == subtree_leaf_entries(walked, ref)

    targets = select_targets(mapped, rules)
    assert [target.item.ref for target in targets] == [
        ref for ref, entry in expected.items.items() if is_target(entry, expected, rules)
    ]
    assert targets == select_targets(walked, rules)

    problems = mapping_problems(mapped, INDEX, rules)
    assert {
        dataclasses.replace(problem, detail="") if problem.kind != "unknown_kr" else problem
        for problem in problems
        if problem.kind != "cycle_in_parents"
    } == reference_problems(expected, rules)
    assert len([p for p in problems if p.kind == "cycle_in_parents"]) == len(mapped.cycles)


def reference_summary(
    leaves: Sequence[MappedItem], rules: Rules
) -> tuple[float | None, Weights, ItemCounts]:
    weights = [leaf_weight(leaf, rules) for leaf in leaves]
    credited = [
        rules.credit.get(leaf.bucket, 0.0) * w for leaf, w in zip(leaves, weights, strict=True)
    ]
    done = [w for leaf, w in zip(leaves, weights, strict=True) if leaf.bucket is Bucket.DONE]
    total = math.fsum(weights)
    counted = [leaf.bucket for leaf in leaves]
    todo = counted.count(Bucket.TODO)
    in_progress = counted.count(Bucket.IN_PROGRESS)
    done_count = counted.count(Bucket.DONE)
    return (
        None if total == 0 else math.fsum(credited) / total,
        Weights(done=math.fsum(done), total=total, mode=rules.weight),
        ItemCounts(todo + in_progress + done_count, done_count, in_progress, todo),
    )


@settings(max_examples=200, deadline=None)
@given(items_strategy, rules_strategy)
def test_leaf_totals_are_the_sums_leaf_by_leaf(items: list[WorkItem], rules: Rules) -> None:
    everything = list(map_items(items, INDEX, rules).items.values())
    # A bucket no Bucket member (a plain str) takes the leaf-by-leaf path: the same numbers.
    odd = [dataclasses.replace(entry, bucket="done") for entry in everything[:2]]  # type: ignore[arg-type]
    for leaves in (everything, everything + odd, iter(everything)):
        listed = list(leaves)
        summary = leaf_summary(listed, rules)
        expected = reference_summary(listed, rules)
        assert repr(summary) == repr(expected)
        assert delivery_progress(listed, rules) == expected[0]
        assert leaf_weights(listed, rules) == expected[1]
        assert item_counts(listed) == expected[2]


def test_map_items_is_the_rules_on_many_cycles() -> None:
    """Parents drawn at random among a few keys: several cycles per tree, reached from
    items outside them, so that they are met in any order and entered anywhere."""
    rng = random.Random(11)
    for _ in range(200):
        size = rng.randint(2, 30)
        items = [
            WorkItem(
                source=rng.choice(["jira", "jira", "github"]),
                key=f"K-{n}",
                title="t",
                type="Story",
                status=rng.choice(STATUSES),
                bucket=rng.choice(BUCKETS[:3]),
                points=None,
                labels=tuple(rng.sample(LABELS, rng.randint(0, 2))),
                parent=f"K-{rng.randrange(size)}",
                updated=utc(2026, 11, 1),
                url="u",
            )
            for n in rng.sample(range(size), size)
        ]
        for rules in (Rules(), Rules(inherit_from_parent=False)):
            mapped, expected = map_items(items, INDEX, rules), reference_map(items, rules)
            assert list(mapped.items.items()) == list(expected.items.items())
            assert mapped.children == expected.children
            assert mapped.cycles == expected.cycles
