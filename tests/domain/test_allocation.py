"""Allocation: the in-flight weight per KR, per objective and on no KR, as shares of the
whole in flight, against the objectives' `allocation` targets (docs/design.md, "The
report")."""

from __future__ import annotations

from dataclasses import replace

import pytest
from factories import key_result, mapped, objective, work_item

from okrsync.domain import Allocation, Bucket, Objective, Rules, WorkItem, allocation

IN = Bucket.IN_PROGRESS

ONB = replace(objective("ONB", key_result("ONB-1"), key_result("ONB-2")), allocation=60)
SEC = objective("SEC", key_result("SEC-1"))
TEAM = replace(objective("TEAM", key_result("T-1"), parent="ONB"), allocation=10)
OBJECTIVES = (ONB, SEC, TEAM)


def allocate(
    items: list[WorkItem],
    objectives: tuple[Objective, ...] = OBJECTIVES,
    rules: Rules | None = None,
) -> Allocation:
    rules = rules or Rules()
    return allocation(mapped(items, objectives, rules), objectives, rules)


def kr_weights(found: Allocation) -> dict[str, float]:
    return {kr.kr_id: kr.weight for row in found.objectives for kr in row.key_results}


def test_an_item_on_two_krs_gives_half_its_weight_to_each() -> None:
    found = allocate(
        [
            work_item("A", labels=["okr:ONB-1", "okr:SEC-1"], bucket=IN, points=4),
            work_item("B", labels=["okr:ONB-2"], bucket=IN, points=4),
            work_item("LOOSE", labels=["bug"], bucket=IN, points=2),
            work_item("DONE", labels=["okr:ONB-1"], bucket=Bucket.DONE, points=50),
            work_item("TODO", labels=["okr:SEC-1"], bucket=Bucket.TODO, points=50),
        ]
    )
    assert found.total == 10 and found.items == 3
    assert kr_weights(found) == {"ONB-1": 2, "ONB-2": 4, "SEC-1": 2, "T-1": 0}
    onb, sec, team = found.objectives
    assert (onb.objective_id, onb.weight) == ("ONB", 6)
    assert onb.share == pytest.approx(0.6)
    assert [kr.share for kr in onb.key_results] == [pytest.approx(0.2), pytest.approx(0.4)]
    assert [kr.items for kr in onb.key_results] == [1, 1]
    assert onb.target == 60
    assert onb.difference == pytest.approx(0.0)
    assert (sec.weight, sec.share, sec.target, sec.difference) == (2, 0.2, None, None)
    # A child objective has its own row, its parent's share holds only its own KRs.
    assert (team.weight, team.share, team.target, team.difference) == (0, 0.0, 10, -10.0)
    # "Keep the lights on": the in-flight work on no KR.
    assert (found.no_kr_weight, found.no_kr_items, found.no_kr_share) == (2, 1, 0.2)
    assert math_sum(found) == found.total


def math_sum(found: Allocation) -> float:
    return sum(row.weight for row in found.objectives) + found.no_kr_weight


def test_only_leaves_count_and_each_once() -> None:
    # The epic is rolled up from its children (they inherit ONB-1): it does not count
    # itself, as in delivery; its children in progress do, whatever their own labels.
    found = allocate(
        [
            work_item("EPIC", labels=["okr:ONB-1"], bucket=IN, points=100),
            work_item("S1", parent="EPIC", bucket=IN, points=3),
            work_item("S2", parent="EPIC", labels=["okr:ONB-2"], bucket=IN, points=2),
            work_item("S3", parent="EPIC", bucket=Bucket.TODO, points=8),
            # An unmapped epic with children is made of them, too.
            work_item("CHORES", labels=["chore"], bucket=IN, points=40),
            work_item("C1", parent="CHORES", bucket=IN, points=5),
        ]
    )
    assert kr_weights(found)["ONB-1"] == 4  # S1 3 + half of S2
    assert kr_weights(found)["ONB-2"] == 1  # the other half of S2
    assert (found.no_kr_weight, found.no_kr_items) == (5, 1)
    assert found.total == 10 and found.items == 3


def test_unmapped_work_in_flight_is_all_there_is() -> None:
    found = allocate([work_item("LOOSE", labels=["bug"], bucket=IN, points=3)])
    assert found.no_kr_share == 1.0
    assert [row.share for row in found.objectives] == [0.0, 0.0, 0.0]
    assert found.objectives[0].difference == -60.0


@pytest.mark.parametrize(
    "items",
    [
        pytest.param([], id="no-items"),
        pytest.param(
            [
                work_item("D", labels=["okr:ONB-1"], bucket=Bucket.DONE, points=5),
                work_item("T", labels=["bug"], bucket=Bucket.TODO, points=5),
                work_item("X", labels=["okr:ONB-1"], bucket=Bucket.EXCLUDED, points=5),
            ],
            id="nothing-in-progress",
        ),
        pytest.param([work_item("Z", labels=["okr:ONB-1"], bucket=IN, points=0)], id="zero"),
    ],
)
def test_nothing_in_flight_leaves_every_share_null(items: list[WorkItem]) -> None:
    found = allocate(items)
    assert found.total == 0
    assert found.no_kr_share is None
    for row in found.objectives:
        assert (row.share, row.difference) == (None, None)
        assert all(kr.share is None for kr in row.key_results)
    assert found.objectives[0].target == 60


def test_points_or_count_as_delivery_weighs() -> None:
    items = [
        work_item("BIG", labels=["okr:ONB-1"], bucket=IN, points=8),
        work_item("NONE", labels=["okr:SEC-1"], bucket=IN),  # no points: default_points
        work_item("LOOSE", labels=["bug"], bucket=IN, points=1),
    ]
    by_points = allocate(items, rules=Rules(default_points=3))
    assert (by_points.mode, by_points.total) == ("points", 12)
    assert kr_weights(by_points) == {"ONB-1": 8, "ONB-2": 0, "SEC-1": 3, "T-1": 0}
    by_count = allocate(items, rules=Rules(weight="count", default_points=3))
    assert (by_count.mode, by_count.total) == ("count", 3)
    assert kr_weights(by_count) == {"ONB-1": 1, "ONB-2": 0, "SEC-1": 1, "T-1": 0}
    assert by_count.no_kr_share == pytest.approx(1 / 3)


def test_bucket_overrides_decide_what_is_in_flight() -> None:
    items = [work_item("R", labels=["okr:ONB-1"], status="In Review", bucket=Bucket.TODO)]
    assert allocate(items).total == 0
    found = allocate(items, rules=Rules(status_buckets={"in review": IN}))
    assert kr_weights(found)["ONB-1"] == 1 and found.total == 1


def test_the_result_does_not_depend_on_the_order_of_items() -> None:
    items = [
        work_item(f"I{n}", labels=[f"okr:{kr}"], bucket=IN, points=0.1 * n)
        for n, kr in enumerate(["ONB-1", "ONB-2", "SEC-1", "T-1"] * 5)
    ]
    assert allocate(items) == allocate(list(reversed(items)))
