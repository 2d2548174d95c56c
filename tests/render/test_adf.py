"""The managed Jira comment as an ADF document (Jira Cloud, REST v3).

What every renderer shares (readable ids and numbers, inert text, determinism) is in
test_comments.py, which runs it against ADF too."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from factories import Q4

from okrsync.domain import Health, ItemCounts, KRStatus, Report, Target
from okrsync.render import render_adf_comment
from okrsync.render._numbers import HEALTH_WORDS
from okrsync.render.adf import adf_text
from okrsync_sandbox.jira import adf_problems

from .scenario import ITEMS, ONB_1, report


def target(computed: Report, key: str) -> Target:
    [found] = [t for t in computed.targets if t.item.key == key]
    return found


def document_for(computed: Report, key: str) -> dict[str, Any]:
    chosen = target(computed, key)
    statuses = [computed.kr_status(k) for k in chosen.kr_ids]
    return render_adf_comment(chosen, statuses, computed.cycle)


def nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for child in node.get("content") or ():
            yield from nodes(child)


def status_with(**kr: Any) -> KRStatus:
    return KRStatus(
        kr=replace(ONB_1, **kr),
        current=74,
        outcome_progress=0.35,
        delivery_progress=0.8,
        expected_progress=0.55,
        health=Health.AT_RISK,
        forecast=80.27,
        flags=(),
        items=ItemCounts(),
    )


def test_every_comment_is_a_valid_adf_document() -> None:
    computed = report()
    for key in ("ONB-10", "ONB-20", "web#7"):
        document = document_for(computed, key)
        assert document["version"] == 1 and document["type"] == "doc"
        assert adf_problems(document) == []


def test_a_heading_a_table_with_one_row_per_kr_the_words_and_the_footer() -> None:
    computed = report()
    chosen = target(computed, "ONB-20")
    statuses = [computed.kr_status(k) for k in ("ONB-1", "ONB-2", "SEC-1")]
    document = render_adf_comment(chosen, statuses, computed.cycle)
    kinds = [block["type"] for block in document["content"]]
    assert kinds[:2] == ["heading", "table"] and kinds[-2:] == ["rule", "paragraph"]
    header, *rows = document["content"][1]["content"]
    assert [cell["type"] for cell in header["content"]] == ["tableHeader"] * 6
    assert [adf_text({"content": [row]}).split(" | ")[0] for row in rows] == [
        "ONB-1 Increase onboarding completion rate from 68% to 85%",
        "ONB-2 Cut time to first value from 14 to 5 days",
        "SEC-1 KR SEC-1",
    ]
    text = adf_text(document)
    assert "This issue's own part: 1 of 1 work items done" in text
    assert "expected by now is the share of the target the metric should have reached" in text
    assert "⚠️ ONB-1: shipping without impact, delivery is 45 percentage points ahead" in text
    assert text.endswith("Kept up to date by okrsync; edits to this comment are overwritten.")


@pytest.mark.parametrize(
    ("health", "colour"),
    [
        (Health.ON_TRACK, "green"),
        (Health.AT_RISK, "yellow"),
        (Health.OFF_TRACK, "red"),
        (Health.NO_DATA, "neutral"),
    ],
)
def test_health_is_a_status_lozenge_of_its_colour(health: Health, colour: str) -> None:
    status = replace(status_with(), health=health)
    document = render_adf_comment(Target(ITEMS[0], ("ONB-1",), ItemCounts()), [status], Q4)
    [lozenge] = [n for n in nodes(document) if n["type"] == "status"]
    assert lozenge["attrs"] == {"text": HEALTH_WORDS[health], "color": colour}


HOSTILE_TITLES = [
    "*bold* _it_ -del-",
    "[link|http://x] [click](http://evil.example)",
    "{code}rm -rf{code}",
    "<script>alert(1)</script>",
    "](javascript:alert(1))",
    "@mention [~accountid:557058:f00]",
    "#1 ||cell|| |x|",
    "first\nh1. second\r\nthird",
]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_hostile_text_is_a_plain_text_node(title: str) -> None:
    status = status_with(title=title)
    document = render_adf_comment(Target(ITEMS[0], ("ONB-1",), ItemCounts()), [status], Q4)
    assert adf_problems(document) == []
    texts = [n["text"] for n in nodes(document) if n["type"] == "text"]
    assert f" {' '.join(title.split())}" in texts  # raw, on one line, no escape
    # No node a text could make: no mention, link, card, emoji; the only mark is the
    # renderer's own `strong` on the KR id.
    kinds = {n["type"] for n in nodes(document)}
    assert kinds <= {
        "doc",
        "heading",
        "paragraph",
        "text",
        "table",
        "tableRow",
        "tableHeader",
        "tableCell",
        "status",
        "rule",
    }
    marked = [n for n in nodes(document) if n.get("marks")]
    assert [(n["text"], n["marks"]) for n in marked] == [("ONB-1", [{"type": "strong"}])]


@pytest.mark.parametrize("kr_id", ["CS-2", "ONB_1", "A.B-3", "x*y"])
def test_kr_ids_and_numbers_are_text_as_written(kr_id: str) -> None:
    status = status_with(id=kr_id, unit="min", baseline=30, target=20.5)
    status = replace(status, current=21.44, forecast=21.44)
    document = render_adf_comment(Target(ITEMS[0], ("ONB-1",), ItemCounts()), [status], Q4)
    texts = [n["text"] for n in nodes(document) if n["type"] == "text"]
    assert kr_id in texts
    assert any("now 21.44 min; 30 min to 20.5 min" in text for text in texts)
    assert "21.44 min (short of 20.5 min)" in texts


def test_a_target_without_krs_has_no_table_and_is_still_valid() -> None:
    document = render_adf_comment(Target(ITEMS[0], (), ItemCounts()), [], Q4)
    assert "table" not in {n["type"] for n in nodes(document)}
    assert adf_problems(document) == []
