"""A sync cycle maps its items once: to find the parents whose children to look up
(`parents_to_look_up`) and, when no child was found, for the report
(`compute_report_and_mapping(..., mapped=...)`). Both read the mapping in the order
`map_items` gives it, (source, key), without sorting: checked here on shuffled items of
several sources against what sorting gives."""

from __future__ import annotations

import random

from factories import Q4, key_result, objective, sample, utc, work_item
from hypothesis import given, settings
from hypothesis import strategies as st

from okrsync.domain import (
    Bucket,
    KRIndex,
    MappedItems,
    Report,
    Rules,
    WorkItem,
    compute_report_and_mapping,
    map_items,
    mapped_parents,
    parents_to_look_up,
    ref_sort_key,
)

NOW = utc(2026, 11, 20, 14, 24)
OBJECTIVES = [
    objective("ONB", key_result("ONB-1", labels=["onboarding"]), key_result("ONB-2")),
    objective("SEC", key_result("SEC-1")),
]


def items() -> list[WorkItem]:
    """Three sources, mapped parents with and without children, unmapped items, an
    excluded one, a grandchild and a key that sorts before its parent's."""
    return [
        work_item("B-2", labels=["okr:onb-1"], child_count=2),
        work_item("B-10", parent="B-2", points=3, bucket=Bucket.DONE),
        work_item("A-1", parent="B-2", child_count=1),
        work_item("A-0", parent="A-1", labels=["okr:sec-1"]),
        work_item("Z-9"),
        work_item("C-3", bucket=Bucket.EXCLUDED, labels=["okr:onb-2"], child_count=4),
        work_item("acme/web#7", source="github", labels=["onboarding"], child_count=3),
        work_item("acme/web#10", source="github", parent="acme/web#7"),
        work_item("acme/api#1", source="github"),
        work_item("120", source="asana", labels=["okr:onb-2"], child_count=1),
        work_item("1199", source="asana", parent="120", child_count=0),
        work_item("9", source="asana"),
    ]


def sorted_parents(listed: list[WorkItem]) -> dict[str, tuple[WorkItem, ...]]:
    """What `mapped_parents` gave when it sorted the refs of the mapping itself."""
    mapped = map_items(listed, KRIndex.from_objectives(OBJECTIVES), Rules())
    found: dict[str, list[WorkItem]] = {}
    for ref in sorted(mapped.items, key=ref_sort_key):
        entry = mapped.items[ref]
        if entry.kr_ids and entry.item.child_count:
            found.setdefault(ref.source, []).append(entry.item)
    return {source: tuple(parents) for source, parents in found.items()}


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_the_parents_to_look_up_are_those_of_the_sorted_mapping(rng: random.Random) -> None:
    listed = items()
    rng.shuffle(listed)
    mapped = map_items(listed, KRIndex.from_objectives(OBJECTIVES), Rules())

    found = parents_to_look_up(mapped)

    assert found == sorted_parents(listed) == mapped_parents(listed, OBJECTIVES, Rules())
    assert {source: [p.key for p in parents] for source, parents in found.items()} == {
        "jira": ["A-1", "B-2"],
        "github": ["acme/web#7"],
        "asana": ["120"],
    }


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False))
def test_a_report_from_the_mapping_given_is_the_report_of_the_items(rng: random.Random) -> None:
    listed = items()
    rng.shuffle(listed)
    samples = [sample("ONB-1", 20, utc(2026, 10, 5)), sample("SEC-1", 40, utc(2026, 11, 1))]
    rules = Rules()

    def compute(mapped: MappedItems | None = None) -> tuple[Report, MappedItems]:
        return compute_report_and_mapping(
            Q4, OBJECTIVES, listed, samples, rules, NOW, start_items=listed, mapped=mapped
        )

    mapped = map_items(listed, KRIndex.from_objectives(OBJECTIVES), rules)
    report, used = compute(mapped)

    assert used is mapped
    assert (report, used) == compute()
    # The unmapped items in (source, key) order, as sorting them gives.
    assert list(report.unmapped) == sorted(report.unmapped, key=ref_sort_key)
    assert [str(ref) for ref in report.unmapped] == [
        "asana:9",
        "github:acme/api#1",
        "jira:Z-9",
    ]
