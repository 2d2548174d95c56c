"""A scope at the cycle start kept from one report and given to the next (`start_weights`)
gives the same report as the items it came from; its key (`scope_fingerprint`) moves with
everything that maps and weighs items, and with nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from typing import Literal

import pytest
from factories import Q4, key_result, objective, utc, work_item
from hypothesis import given, settings
from hypothesis import strategies as st

from okrsync.domain import (
    Bucket,
    Rules,
    WorkItem,
    compute_report,
    scope_fingerprint,
    start_weights_of,
)

NOW = utc(2026, 11, 20, 14, 24)
OBJECTIVES = [
    objective("O", key_result("A-1", labels=["alpha"]), key_result("B-1")),
    objective("P", key_result("C-1")),
]
LABELS = [(), ("okr:A-1",), ("okr:B-1",), ("alpha",), ("okr:A-1", "okr:C-1"), ("okr:C-9",)]
BUCKETS = [Bucket.TODO, Bucket.IN_PROGRESS, Bucket.DONE, Bucket.EXCLUDED]

trees = st.lists(
    st.tuples(
        st.integers(0, 20),  # the parent's number (itself or a missing one: no parent)
        st.sampled_from(LABELS),
        st.sampled_from(BUCKETS),
        st.one_of(st.none(), st.floats(0, 13, allow_nan=False)),
    ),
    max_size=20,
)


def items_of(shape: list[tuple[int, tuple[str, ...], Bucket, float | None]]) -> list[WorkItem]:
    return [
        work_item(f"K-{n}", labels=labels, parent=f"K-{parent}", bucket=bucket, points=points)
        for n, (parent, labels, bucket, points) in enumerate(shape)
    ]


@settings(max_examples=150, deadline=None)
@given(trees, trees, st.sampled_from(["points", "count"]))
def test_kept_start_weights_give_the_report_the_start_items_give(
    now_shape: list[tuple[int, tuple[str, ...], Bucket, float | None]],
    start_shape: list[tuple[int, tuple[str, ...], Bucket, float | None]],
    weight: Literal["points", "count"],
) -> None:
    rules = replace(Rules(), weight=weight)
    items, start = items_of(now_shape), items_of(start_shape)
    first = compute_report(Q4, OBJECTIVES, items, [], rules, NOW, start_items=start)
    kept = start_weights_of(first)
    assert kept is not None and set(kept) == {"A-1", "B-1", "C-1"}

    again = compute_report(Q4, OBJECTIVES, items, [], rules, NOW, start_weights=kept)

    assert again == first


def test_a_kr_left_out_of_the_kept_weights_had_none() -> None:
    items = [work_item("K-1", labels=["okr:A-1"], points=3)]
    report = compute_report(Q4, OBJECTIVES, items, [], Rules(), NOW, start_weights={"A-1": 2.0})
    scopes = {kr.kr.id: kr.scope for o in report.objectives for kr in o.key_results}
    assert scopes["A-1"] is not None and scopes["A-1"].start_weight == 2.0
    assert scopes["A-1"].growth == pytest.approx(0.5)
    assert scopes["B-1"] is not None and scopes["B-1"].start_weight == 0.0


def test_no_start_keeps_nothing_and_both_starts_are_refused() -> None:
    items = [work_item("K-1", labels=["okr:A-1"], points=3)]
    assert start_weights_of(compute_report(Q4, OBJECTIVES, items, [], Rules(), NOW)) is None
    with pytest.raises(ValueError, match="not both"):
        compute_report(Q4, OBJECTIVES, items, [], Rules(), NOW, start_items=items, start_weights={})


def test_the_fingerprint_moves_with_what_maps_and_weighs_items() -> None:
    base = scope_fingerprint(OBJECTIVES, Rules())
    moved = [
        scope_fingerprint([objective("O", key_result("A-1", labels=["beta"]))], Rules()),
        scope_fingerprint(OBJECTIVES[:1], Rules()),
        scope_fingerprint([*OBJECTIVES, objective("Q", key_result("D-1"))], Rules()),
        scope_fingerprint(OBJECTIVES, replace(Rules(), label_pattern=r"^kr:(?P<kr>.+)$")),
        scope_fingerprint(OBJECTIVES, replace(Rules(), inherit_from_parent=False)),
        scope_fingerprint(OBJECTIVES, replace(Rules(), weight="count")),
        scope_fingerprint(OBJECTIVES, replace(Rules(), default_points=2.0)),
        scope_fingerprint(
            OBJECTIVES, replace(Rules(), status_buckets={"won't do": Bucket.EXCLUDED})
        ),
        scope_fingerprint(OBJECTIVES, replace(Rules(), label_buckets={"done": Bucket.DONE})),
    ]
    assert len({base, *moved}) == len(moved) + 1

    same = [
        scope_fingerprint(OBJECTIVES, replace(Rules(), on_track=0.8, at_risk=0.5)),
        scope_fingerprint(OBJECTIVES, replace(Rules(), credit={Bucket.DONE: 1.0})),
        scope_fingerprint(
            [objective("O", key_result("A-1", labels=["alpha"], target=99.0), key_result("B-1")),
             OBJECTIVES[1]],
            Rules(),
        ),
    ]  # fmt: skip
    assert set(same) == {base}


def test_the_fingerprint_is_the_same_in_every_process() -> None:
    """Kept by one process (a sync), read by another (`status`): string hashing is salted
    per process, so nothing in it may depend on a set's order."""
    program = (
        "from datetime import timedelta\n"
        "from okrsync.domain import Bucket, KeyResult, Objective, Rules, scope_fingerprint\n"
        "krs = (KeyResult(id='A-1', title='a', baseline=0, target=1, labels=('x', 'y', 'z')),)\n"
        "rules = Rules(status_buckets={s: Bucket.DONE for s in 'abcdefgh'},\n"
        "              label_buckets={s: Bucket.EXCLUDED for s in 'ijklmnop'})\n"
        "print(scope_fingerprint([Objective(id='O', title='o', key_results=krs)], rules))\n"
    )
    printed = {
        subprocess.run(
            [sys.executable, "-c", program],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(printed) == 1 and len(printed.pop().strip()) == 64
