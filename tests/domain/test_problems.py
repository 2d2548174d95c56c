"""Problems found while mapping: unknown KRs, KR labels on a child only, parent cycles."""

from __future__ import annotations

import random

import pytest
from factories import Q4, key_result, mapped, objective, utc, work_item

from okrsync.domain import (
    Bucket,
    ItemRef,
    KRIndex,
    Problem,
    Rules,
    break_parent_cycles,
    compute_report,
    edit_distance,
    mapping_problems,
    parent_cycles,
    problem_counts,
    problems_summary,
    suggest_kr,
)

NOW = utc(2026, 11, 20)
ONB = objective(
    "ONB",
    key_result("ONB-1", labels=["onboarding-completion"]),
    key_result("ONB-2"),
    key_result("SEC-10"),
)
PLAT = objective("PLAT", key_result("PLAT-7", labels=["kr-platform"]))
OBJECTIVES = [ONB, PLAT]


def problems(*items: object, rules: Rules | None = None) -> list[tuple[str, str, str]]:
    rules = rules or Rules()
    found = mapping_problems(
        mapped(items, OBJECTIVES, rules),  # type: ignore[arg-type]
        KRIndex.from_objectives(OBJECTIVES),
        rules,
    )
    return [(str(p.item), p.kind, p.detail) for p in found]


# --------------------------------------------------------------------------- edit distance


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("onb-1", "onb-1", 0),
        ("onb1", "onb-1", 1),  # deletion
        ("onb-l", "onb-1", 1),  # substitution
        ("obn-1", "onb-1", 1),  # adjacent swap: Damerau
        ("nob-1", "onb-1", 1),
        ("onb-12", "onb-1", 1),
        ("ob-2", "onb-1", 2),
        ("", "abc", 3),
        ("plat", "onb-1", 5),
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_suggestion_is_the_one_nearest_id_within_two() -> None:
    assert suggest_kr("onb1", ["ONB-1", "ONB-2", "PLAT-7"]) == "ONB-1"  # ONB-2 is 2 away
    assert suggest_kr("OBN-1", ["ONB-1", "PLAT-7"]) == "ONB-1"
    assert suggest_kr("plat7", ["ONB-1", "PLAT-7"]) == "PLAT-7"


def test_no_suggestion_when_two_ids_are_equally_close_or_none_is_close() -> None:
    assert suggest_kr("ONB-3", ["ONB-1", "ONB-2"]) is None  # both 1 away
    assert suggest_kr("ONB-l", ["ONB-1", "ONB-2"]) is None
    assert suggest_kr("NOPE-9", ["ONB-1", "ONB-2"]) is None  # nothing within 2
    assert suggest_kr("ONB-3", []) is None


# --------------------------------------------------------------------------- unknown_kr


def test_unknown_kr_with_did_you_mean() -> None:
    assert problems(work_item("A-1", labels=["okr:PLAT7"])) == [
        (
            "jira:A-1",
            "unknown_kr",
            "label okr:PLAT7 names PLAT7, which is not a configured KR; did you mean PLAT-7?",
        )
    ]


def test_unknown_kr_without_a_suggestion_when_two_krs_are_equally_close() -> None:
    assert problems(work_item("A-1", labels=["kr/ONB-3"], source="github")) == [
        ("github:A-1", "unknown_kr", "label kr/ONB-3 names ONB-3, which is not a configured KR")
    ]


def test_known_krs_and_other_labels_are_no_problem() -> None:
    items = [
        work_item("A-1", labels=["OKR:onb-1", "bug", "onboarding-completion"]),
        # Matches the pattern (kr group "platform"), but is PLAT-7's explicit label.
        work_item("A-2", labels=["kr-platform"]),
    ]
    assert problems(*items) == []


def test_unknown_kr_on_excluded_items_is_not_reported() -> None:
    assert problems(work_item("A-1", labels=["okr:ONB-9"], bucket=Bucket.EXCLUDED)) == []


def test_one_problem_per_unknown_label_sorted_by_item() -> None:
    items = [
        work_item("B-1", labels=["okr:ZZZ-1", "okr:AAA-1"]),
        work_item("1204", labels=["okr:XX"], source="asana"),
    ]
    assert [(item, detail.split(",")[0]) for item, _, detail in problems(*items)] == [
        ("asana:1204", "label okr:XX names XX"),
        ("jira:B-1", "label okr:AAA-1 names AAA-1"),
        ("jira:B-1", "label okr:ZZZ-1 names ZZZ-1"),
    ]


# --------------------------------------------------------------------------- kr_label_on_child_only


def test_kr_label_on_a_child_whose_parent_maps_elsewhere() -> None:
    items = [
        work_item("E-1", labels=["okr:ONB-1"]),
        work_item("S-1", parent="E-1", labels=["okr:ONB-2"]),
    ]
    assert problems(*items) == [
        (
            "jira:S-1",
            "kr_label_on_child_only",
            "label okr:ONB-2 maps it to ONB-2, but its parent jira:E-1 maps to ONB-1 only; "
            "by inheritance it counts toward ONB-1 too",
        )
    ]


def test_child_only_without_inheritance_says_so() -> None:
    items = [
        work_item("E-1", labels=["okr:ONB-1"], source="asana"),
        work_item("S-1", parent="E-1", labels=["okr:ONB-2"], source="asana"),
    ]
    [(_, kind, detail)] = problems(*items, rules=Rules(inherit_from_parent=False))
    assert kind == "kr_label_on_child_only"
    assert detail.endswith("but its parent asana:E-1 maps to ONB-1 only")


def test_no_child_only_problem_when_the_parent_carries_the_kr_or_maps_nowhere() -> None:
    items = [
        # The parent carries ONB-1 too (by label, or inherited from the grandparent).
        work_item("G-1", labels=["okr:ONB-1"]),
        work_item("E-1", parent="G-1", labels=["onboarding-completion"]),
        work_item("S-1", parent="E-1", labels=["okr:ONB-1"]),
        # An unmapped parent: its labelled children are top-level, the normal case.
        work_item("E-2", labels=["bug"]),
        work_item("S-2", parent="E-2", labels=["okr:ONB-2"]),
        # A parent that is excluded or not pulled counts as none.
        work_item("E-3", labels=["okr:ONB-1"], bucket=Bucket.EXCLUDED),
        work_item("S-3", parent="E-3", labels=["okr:ONB-2"]),
        work_item("S-4", parent="NOT-PULLED", labels=["okr:ONB-2"]),
    ]
    assert problems(*items) == []


def test_child_only_is_one_problem_per_kr_and_names_every_label() -> None:
    items = [
        work_item("E-1", labels=["okr:ONB-2"]),
        work_item("S-1", parent="E-1", labels=["onboarding-completion", "okr:ONB-1", "okr:PLAT-7"]),
    ]
    found = problems(*items)
    # Sorted by detail within the item and kind.
    assert [detail.split(" but")[0] for _, _, detail in found] == [
        "label okr:PLAT-7 maps it to PLAT-7,",
        "labels onboarding-completion, okr:ONB-1 map it to ONB-1,",
    ]


# --------------------------------------------------------------------------- cycle_in_parents


def test_cycle_in_parents_is_reported_once_at_the_cut() -> None:
    items = [
        work_item("C-3", parent="C-1", labels=["okr:ONB-1"]),
        work_item("C-1", parent="C-2"),
        work_item("C-2", parent="C-3"),
        work_item("D-1", parent="C-2"),  # hangs off the cycle, is not part of it
    ]
    assert problems(*items) == [
        (
            "jira:C-1",
            "cycle_in_parents",
            "parent links form a cycle jira:C-1 → jira:C-2 → jira:C-3 → jira:C-1; "
            "jira:C-1 counts as top-level",
        )
    ]


def test_an_item_that_is_its_own_parent() -> None:
    assert problems(work_item("web#1", parent="web#1", source="github")) == [
        (
            "github:web#1",
            "cycle_in_parents",
            "github:web#1 is its own parent; it counts as top-level",
        )
    ]


def test_parent_cycles_lists_each_cycle_from_its_smallest_member() -> None:
    a, b, c, d, e = (ItemRef("jira", key) for key in "ABCDE")
    parents = {a: b, b: a, c: c, d: e, e: None}
    assert parent_cycles(parents) == ((a, b), (c,))
    assert break_parent_cycles(parents) == {a: None, b: a, c: None, d: e, e: None}


# --------------------------------------------------------------------------- in the report


def test_report_problems_are_sorted_and_independent_of_input_order() -> None:
    items = [
        work_item("X-2", parent="X-1"),
        work_item("X-1", parent="X-2"),
        work_item("E-1", labels=["okr:ONB-1"]),
        work_item("S-1", parent="E-1", labels=["okr:ONB-2", "okr:ONB-22"]),
        work_item("acme/web#3", labels=["okr:onb2"], source="github"),
    ]
    expected = compute_report(Q4, OBJECTIVES, items, [], Rules(), NOW).problems
    assert [(str(p.item), p.kind) for p in expected] == [
        ("github:acme/web#3", "unknown_kr"),
        ("jira:S-1", "kr_label_on_child_only"),
        ("jira:S-1", "unknown_kr"),
        ("jira:X-1", "cycle_in_parents"),
    ]
    assert expected[0].detail.endswith("did you mean ONB-2?")
    for seed in range(5):
        shuffled = list(items)
        random.Random(seed).shuffle(shuffled)
        assert compute_report(Q4, OBJECTIVES, shuffled, [], Rules(), NOW).problems == expected


def test_report_lists_unmapped_refs_sorted() -> None:
    items = [
        work_item("B-2", labels=["bug"]),
        work_item("9", source="asana"),
        work_item("A-1", labels=["okr:ONB-1"]),
        work_item("A-2", parent="A-1"),  # inherits: mapped
        work_item("Z-1", bucket=Bucket.EXCLUDED),  # counts nowhere, not unmapped
    ]
    report = compute_report(Q4, OBJECTIVES, items, [], Rules(), NOW)
    assert [str(ref) for ref in report.unmapped] == ["asana:9", "jira:B-2"]
    assert report.unmapped_count == 2


# --------------------------------------------------------------------------- counts and summary


def test_problem_counts_cover_every_kind() -> None:
    found = [
        Problem(ItemRef("jira", "A"), "unknown_kr", "x"),
        Problem(ItemRef("jira", "B"), "unknown_kr", "y"),
        Problem(ItemRef("jira", "C"), "cycle_in_parents", "z"),
    ]
    assert problem_counts(found) == {
        "unknown_kr": 2,
        "kr_label_on_child_only": 0,
        "cycle_in_parents": 1,
    }
    assert problem_counts([]) == dict.fromkeys(
        ["unknown_kr", "kr_label_on_child_only", "cycle_in_parents"], 0
    )
    assert problems_summary(found) == (
        "mapping problems: 3 (unknown_kr 2, cycle_in_parents 1); "
        "see `okrsync status --format json` (problems)"
    )
    assert problems_summary([]) == "mapping problems: none"
