"""`explain_item`: why an item maps where it does, retraced from the mapping rules."""

from __future__ import annotations

import pytest
from factories import key_result, objective, work_item

from okrsync.domain import (
    Bucket,
    BucketDecision,
    Explanation,
    ItemRef,
    KRReason,
    Rules,
    WorkItem,
    bucket_decision,
    explain_item,
    leaf_weights,
    resolve_item,
)

from .factories import mapped

OBJECTIVES = [
    objective(
        "ONB",
        key_result("ONB-1", labels=["onboarding-completion"]),
        key_result("ONB-2"),
    )
]


def tree(source: str) -> list[WorkItem]:
    """One tree per source: an epic on ONB-1, a child, a grandchild, loose items."""
    return [
        work_item("E", labels=["okr:ONB-1"], bucket=Bucket.IN_PROGRESS, source=source),
        work_item("S", parent="E", bucket=Bucket.DONE, points=3, source=source),
        work_item("T", parent="S", points=2, source=source),
        work_item(
            "TWO",
            labels=["onboarding-completion", "kr/onb-2"],
            status="In Review",
            source=source,
        ),
        work_item(
            "X",
            labels=["okr:ONB-1", "wontfix"],
            bucket=Bucket.DONE,
            points=8,
            source=source,
        ),
        work_item("U", labels=["bug"], source=source),
    ]


RULES = Rules(
    status_buckets={"In Review": Bucket.IN_PROGRESS},
    label_buckets={"WontFix": Bucket.EXCLUDED},
)
SOURCES = ["jira", "github", "asana"]


def explain(key: str, source: str, rules: Rules = RULES) -> Explanation:
    items = tree(source)
    [item] = [item for item in items if item.key == key]
    return explain_item(item, items, OBJECTIVES, rules)


@pytest.mark.parametrize("source", SOURCES)
def test_a_labelled_epic(source: str) -> None:
    explained = explain("E", source)
    assert explained.krs == (
        KRReason("ONB-1", "label", "okr:ONB-1", "label_pattern", None, (), leaf=False),
    )
    assert explained.bucket == BucketDecision(Bucket.IN_PROGRESS, "source", "in_progress")
    # Rolled up from its children: its own weight (default_points) counts nowhere.
    assert (explained.weight, explained.weight_from, explained.counts_toward) == (
        1.0,
        "default_points",
        (),
    )
    assert explained.target
    assert "no mapped parent" in explained.target_reason
    assert explained.parent is None


@pytest.mark.parametrize("source", SOURCES)
def test_an_inherited_child_and_grandchild(source: str) -> None:
    child = explain("S", source)
    epic = ItemRef(source, "E")
    assert child.krs == (
        KRReason("ONB-1", "inherited", "okr:ONB-1", "label_pattern", epic, (), leaf=False),
    )
    assert child.parent == epic
    assert not child.target
    assert child.target_reason == "it carries no KR label itself (top_level)"

    grandchild = explain("T", source)
    assert grandchild.krs == (
        KRReason(
            "ONB-1",
            "inherited",
            "okr:ONB-1",
            "label_pattern",
            epic,
            (ItemRef(source, "S"),),
            leaf=True,
        ),
    )
    assert (grandchild.weight, grandchild.weight_from) == (2.0, "points")
    assert grandchild.counts_toward == ("ONB-1",)


@pytest.mark.parametrize("source", SOURCES)
def test_an_item_with_two_krs_and_a_status_override(source: str) -> None:
    explained = explain("TWO", source)
    assert explained.krs == (
        KRReason("ONB-1", "label", "onboarding-completion", "labels", None, (), leaf=True),
        KRReason("ONB-2", "label", "kr/onb-2", "label_pattern", None, (), leaf=True),
    )
    assert explained.bucket == BucketDecision(Bucket.IN_PROGRESS, "status_buckets", "In Review")
    assert explained.counts_toward == ("ONB-1", "ONB-2")
    assert explained.target


@pytest.mark.parametrize("source", SOURCES)
def test_an_excluded_item(source: str) -> None:
    explained = explain("X", source)
    assert explained.excluded
    assert explained.krs == ()
    assert explained.excluded_krs == ("ONB-1",)
    assert explained.bucket == BucketDecision(Bucket.EXCLUDED, "label_buckets", "WontFix")
    assert (explained.weight, explained.weight_from, explained.target) == (None, None, False)


@pytest.mark.parametrize("source", SOURCES)
def test_an_unmapped_item(source: str) -> None:
    explained = explain("U", source)
    assert explained.krs == () and explained.excluded_krs == ()
    assert not explained.excluded
    assert (explained.weight, explained.weight_from) == (1.0, "default_points")
    assert (explained.target, explained.target_reason) == (False, "it maps to no KR")


def test_count_mode_and_target_modes() -> None:
    assert explain("T", "jira", Rules(weight="count")).weight_from == "count"
    child = explain("S", "jira", Rules(writeback_targets="all"))
    assert child.target
    assert not explain("E", "jira", Rules(writeback_targets="none")).target


def test_a_direct_label_wins_over_inheritance_and_problems_are_the_items() -> None:
    items = [
        work_item("E", labels=["okr:ONB-1"]),
        work_item("S", parent="E", labels=["okr:ONB-1", "okr:ONB-2", "okr:ONB-9"]),
    ]
    explained = explain_item(items[1], items, OBJECTIVES, Rules())
    assert [(r.kr_id, r.via) for r in explained.krs] == [("ONB-1", "label"), ("ONB-2", "label")]
    assert [p.kind for p in explained.problems] == ["kr_label_on_child_only", "unknown_kr"]
    assert "its parent jira:E is mapped" in explained.target_reason


def test_an_item_not_among_the_items_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        explain_item(work_item("NOPE"), tree("jira"), OBJECTIVES, RULES)


def test_explanation_agrees_with_the_mapping() -> None:
    for source in SOURCES:
        items = tree(source)
        entries = mapped(items, OBJECTIVES, RULES).items
        for item in items:
            explained = explain_item(item, items, OBJECTIVES, RULES)
            entry = entries.get(item.ref)
            krs = {reason.kr_id for reason in explained.krs}
            assert krs == (entry.kr_ids if entry else frozenset())
            assert explained.bucket.bucket == (entry.bucket if entry else Bucket.EXCLUDED)


# --------------------------------------------------------------------------- resolve_item

ALL = [
    work_item("ONB-12"),
    work_item("acme/web#7", source="github"),
    work_item("1204000000000001", source="asana"),
    work_item("12", source="github"),
    work_item("12", source="asana"),
]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("jira:ONB-12", ["jira:ONB-12"]),
        ("ONB-12", ["jira:ONB-12"]),
        ("onb-12", ["jira:ONB-12"]),
        ("github:acme/web#7", ["github:acme/web#7"]),
        ("github:ACME/Web#7", ["github:acme/web#7"]),
        ("acme/web#7", ["github:acme/web#7"]),
        ("asana:1204000000000001", ["asana:1204000000000001"]),
        ("12", ["asana:12", "github:12"]),
        ("github:12", ["github:12"]),
        ("jira:12", []),
        ("ONB-99", []),
        ("gitlab:ONB-12", []),
    ],
)
def test_resolve_item(text: str, found: list[str]) -> None:
    assert [str(item.ref) for item in resolve_item(text, ALL)] == found


# --------------------------------------------------------------------------- buckets and weights


def test_bucket_decision_says_which_rule_applied() -> None:
    rules = Rules(status_buckets={"blocked": Bucket.TODO}, label_buckets={"Shipped": Bucket.DONE})
    item = work_item("A", status="Blocked", bucket=Bucket.IN_PROGRESS, labels=["shipped"])
    assert bucket_decision(item, rules) == BucketDecision(Bucket.DONE, "label_buckets", "Shipped")
    item = work_item("A", status="Blocked", bucket=Bucket.IN_PROGRESS)
    assert bucket_decision(item, rules) == BucketDecision(Bucket.TODO, "status_buckets", "blocked")
    item = work_item("A", status="Doing", bucket=Bucket.IN_PROGRESS)
    assert bucket_decision(item, rules) == BucketDecision(Bucket.IN_PROGRESS, "source", "Doing")


def test_leaf_weights_add_points_done_and_in_total() -> None:
    leaves = mapped(
        [
            work_item("A", labels=["okr:ONB-1"], bucket=Bucket.DONE, points=5),
            work_item("B", labels=["okr:ONB-1"], bucket=Bucket.IN_PROGRESS, points=3),
            work_item("C", labels=["okr:ONB-1"], bucket=Bucket.DONE),
        ],
        OBJECTIVES,
    ).items.values()
    weights = leaf_weights(leaves, Rules(default_points=2))
    assert (weights.done, weights.total, weights.mode) == (7, 10, "points")
    weights = leaf_weights(leaves, Rules(weight="count"))
    assert (weights.done, weights.total, weights.mode) == (2, 3, "count")
