"""Objects made in bulk without their frozen dataclass's `__init__` (`WorkItem.from_fields`,
mapping's refs and entries) are the very objects `__init__` makes, and what `map_items`
works out on plain keys (each item's leaf KRs, the children's entries) gives the leaves
that `leaves_by_kr` and `subtree_leaf_entries` work out from the refs."""

from __future__ import annotations

import dataclasses
import random

from factories import key_result, objective, utc

from okrsync.domain import Bucket, ItemRef, KRIndex, Rules, WorkItem, leaves_by_kr, map_items
from okrsync.domain.mapping import (
    MappedItem,
    _new_mapped_item,
    _new_ref,
    subtree_leaf_entries,
)


def test_work_item_from_fields_is_the_work_item() -> None:
    values = (
        "jira",
        "ONB-1",
        "Title",
        "Story",
        "In Progress",
        Bucket.IN_PROGRESS,
        3.0,
        ("okr:ONB-1", "x"),
        "ONB-0",
        utc(2026, 11, 2),
        "https://example.test/ONB-1",
        "10001",
        4,
    )
    made, built = WorkItem.from_fields(*values), WorkItem(*values)
    assert type(made) is WorkItem
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    for field in dataclasses.fields(WorkItem):  # every slot set, each to its own value
        assert getattr(made, field.name) is getattr(built, field.name)
    try:
        made.key = "other"  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a WorkItem from fields must stay frozen")


def test_mapping_refs_and_entries_are_the_dataclasses_own() -> None:
    assert _new_ref("jira", "A-1") == ItemRef("jira", "A-1")
    assert hash(_new_ref("jira", "A-1")) == hash(ItemRef("jira", "A-1"))
    item = WorkItem.from_fields(
        "jira",
        "A-1",
        "t",
        "Story",
        "todo",
        Bucket.TODO,
        None,
        (),
        None,
        utc(2026, 11, 1),
        "u",
        "",
        None,
    )
    fields = (
        item,
        Bucket.TODO,
        ItemRef("jira", "A-0"),
        frozenset({"K-1"}),
        frozenset({"K-1", "K-2"}),
    )
    assert _new_mapped_item(*fields) == MappedItem(*fields)
    assert repr(_new_mapped_item(*fields)) == repr(MappedItem(*fields))


def test_precomputed_leaves_are_those_worked_out_from_the_refs() -> None:
    rng = random.Random(5)
    okrs = objective("O", *(key_result(f"K-{n}", labels=[f"label-{n}"]) for n in range(1, 5)))
    items = []
    for n in range(300):
        parent = rng.choice([None, None, f"I-{rng.randrange(300)}"])
        labels = rng.sample(
            ["okr:K-1", "okr:K-2", "label-3", "label-4", "other"], rng.randint(0, 2)
        )
        items.append(
            WorkItem(
                "jira" if n % 3 else "github",
                f"I-{n}",
                "t",
                "Story",
                "s",
                rng.choice(list(Bucket)),
                rng.choice([None, 1.0, 3.0]),
                tuple(labels),
                parent,
                utc(2026, 11, 1),
                "u",
            )
        )
    for rules in (Rules(), Rules(inherit_from_parent=False)):
        mapped = map_items(items, KRIndex.from_objectives([okrs]), rules)
        assert mapped.leaf_kr_ids is not None
        fast = leaves_by_kr(mapped)
        slow = leaves_by_kr(dataclasses.replace(mapped, leaf_kr_ids=None))
        assert list(fast) == list(slow)  # the same KRs, first met in the same order
        for kr_id, entries in fast.items():
            assert [entry.ref for entry in entries] == [entry.ref for entry in slow[kr_id]]
        walked = dataclasses.replace(mapped, layout=None)
        for ref in mapped.items:  # the same leaves, in the same order, from every item
            assert subtree_leaf_entries(mapped, ref) == subtree_leaf_entries(walked, ref)
