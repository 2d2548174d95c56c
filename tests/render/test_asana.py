"""The managed Asana comment: valid rich text (XML), only Asana's tags, all text escaped.

What every renderer shares (readable ids and numbers, escaping, determinism) is in
test_comments.py."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest
from factories import Q4
from hypothesis import given, settings
from hypothesis import strategies as st

from okrsync.domain import Health, ItemCounts, KRStatus, Report, Target
from okrsync.render import render_asana_comment
from okrsync.render.asana import escape_html

from .scenario import ITEMS, ONB_1, report

# What Asana accepts in a comment's html_text; only <a> may carry attributes.
ALLOWED_TAGS = {"body", "strong", "em", "ul", "li", "a", "hr"}


def target(computed: Report, key: str) -> Target:
    [found] = [t for t in computed.targets if t.item.key == key]
    return found


def comment_for(computed: Report, key: str) -> str:
    chosen = target(computed, key)
    return render_asana_comment(
        chosen, [computed.kr_status(k) for k in chosen.kr_ids], computed.cycle
    )


def parsed(comment: str) -> ET.Element:
    root = ET.fromstring(comment)  # raises on anything that is not well-formed XML
    assert root.tag == "body"
    return root


def text_of(comment: str) -> str:
    return "".join(parsed(comment).itertext())


def assert_only_asana_markup(comment: str) -> None:
    root = parsed(comment)
    for element in root.iter():
        assert element.tag in ALLOWED_TAGS, element.tag
        assert element.attrib == {}, element.tag
    # No link at all: nothing the text says becomes one (the connector adds its marker).
    assert root.findall(".//a") == []


def hostile_status(title: str, unit: str = "%") -> KRStatus:
    return KRStatus(
        kr=replace(ONB_1, id="ONB-1", title=title, unit=unit),
        current=74,
        outcome_progress=None,
        delivery_progress=None,
        expected_progress=0.5,
        health=Health.NO_DATA,
        forecast=None,
        flags=(),
        items=ItemCounts(),
    )


# --------------------------------------------------------------------------- the comment


def test_the_comment_on_a_task_that_ships_without_impact() -> None:
    # ONB-10's own leaves: 2 done, 1 in progress, 1 to do; ONB-1 is 45 points ahead.
    assert comment_for(report(), "ONB-10").split("\n") == [
        "<body><strong>OKR status</strong>",
        "<ul><li><strong>ONB-1</strong> Increase onboarding completion rate from 68% to 85%"
        " — Outcome: 35% (now 74%; 68% to 85%); Delivery: 80%; Expected by now: 55%;"
        " Health: 🟡 <strong>At risk</strong>; Forecast at cycle end: 80.27% (short of 85%)"
        "</li></ul>",
        "This task's own part: 2 of 4 work items done, 1 in progress, 1 to do.",
        "Outcome and delivery are each key result's, across every system it is tracked in; "
        "expected by now is the share of the target the metric should have reached, given the "
        "time elapsed in the cycle.",
        "⚠️ <em>ONB-1: shipping without impact, delivery is 45 percentage points ahead of the "
        "outcome.</em>",
        "<hr/>",
        "<em>Cycle 2026-Q4, 2026-10-01 to 2026-12-31. Kept up to date by "
        "okrsync; edits to this comment are overwritten.</em></body>",
    ]


def test_the_comment_is_well_formed_with_only_asana_tags() -> None:
    for key in ("ONB-10", "ONB-20", "web#7"):
        assert_only_asana_markup(comment_for(report(), key))


def test_one_list_item_per_kr_of_the_target() -> None:
    computed = report()
    statuses = [computed.kr_status(k) for k in ("ONB-1", "ONB-2", "SEC-1")]
    comment = render_asana_comment(target(computed, "ONB-20"), statuses, computed.cycle)
    items = parsed(comment).findall("./ul/li")
    assert ["".join(item.itertext()).split(" — ")[0] for item in items] == [
        "ONB-1 Increase onboarding completion rate from 68% to 85%",
        "ONB-2 Cut time to first value from 14 to 5 days",
        "SEC-1 KR SEC-1",
    ]
    assert "".join(items[2].itertext()).endswith(
        "Outcome: – (now –; 20% to 60%); Delivery: –; Expected by now: 55%;"
        " Health: ⚪ No data; Forecast at cycle end: –"
    )
    assert comment.count("shipping without impact") == 1


def test_every_health_word_and_icon() -> None:
    status = report().kr_status("ONB-1")
    expected = {
        Health.ON_TRACK: "🟢 <strong>On track</strong>",
        Health.AT_RISK: "🟡 <strong>At risk</strong>",
        Health.OFF_TRACK: "🔴 <strong>Off track</strong>",
        Health.NO_DATA: "⚪ <strong>No data</strong>",
    }
    for health, shown in expected.items():
        comment = render_asana_comment(
            Target(ITEMS[0], ("ONB-1",), ItemCounts()), [replace(status, health=health)], Q4
        )
        assert f"Health: {shown};" in comment


def test_a_target_without_krs_has_no_empty_list() -> None:
    comment = render_asana_comment(Target(ITEMS[0], (), ItemCounts()), [], Q4)
    assert "<ul>" not in comment
    assert_only_asana_markup(comment)


# --------------------------------------------------------------------------- escaping


def test_script_tags_ampersands_and_quotes_are_text() -> None:
    title = """<script>alert("x")</script> R&D's <a href='http://evil.example'>click</a>"""
    comment = render_asana_comment(
        Target(ITEMS[0], ("ONB-1",), ItemCounts()), [hostile_status(title, unit="&amp;")], Q4
    )
    assert_only_asana_markup(comment)
    # Only `&` and `<` start markup in XML text: quotes and `>` stay as typed.
    assert """&lt;script>alert("x")&lt;/script> R&amp;D's""" in comment
    assert "&lt;a href='http://evil.example'>click&lt;/a>" in comment
    # A pre-escaped entity is escaped again: it reads as typed, never as a character.
    assert "74 &amp;amp;" in comment
    assert title in text_of(comment)


def test_mentions_stay_plain_text() -> None:
    title = '@alice and <a data-asana-gid="1234"/> ping @everyone'
    comment = render_asana_comment(
        Target(ITEMS[0], ("ONB-1",), ItemCounts()), [hostile_status(title)], Q4
    )
    assert_only_asana_markup(comment)
    assert "data-asana-gid" not in "".join(
        str(element.attrib) for element in parsed(comment).iter()
    )
    assert '@alice and <a data-asana-gid="1234"/> ping @everyone' in text_of(comment)


@pytest.mark.parametrize("text", ["CS-2", "ONB_1", "A.B-3", "x*y", "21.44 min", 'it\'s "ok" > 2'])
def test_ids_numbers_and_quotes_stay_as_written(text: str) -> None:
    assert escape_html(text) == text


def test_a_cdata_end_is_escaped() -> None:
    assert escape_html("a]]>b") == "a]]&gt;b"


def test_escape_html_drops_characters_xml_forbids() -> None:
    assert escape_html("a\x00b\x07c\x1bd\ufffe") == "abcd"
    assert escape_html("  padded\u2028text  ") == "padded text"


def is_xml_char(char: str) -> bool:
    """The XML 1.0 `Char` production."""
    return (
        char in "\t\n\r"
        or "\x20" <= char <= "\ud7ff"
        or "\ue000" <= char <= "\ufffd"
        or char >= "\U00010000"
    )


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_title_gives_valid_rich_text_that_reads_back_as_typed(title: str) -> None:
    comment = render_asana_comment(
        Target(ITEMS[0], ("ONB-1",), ItemCounts()), [hostile_status(title)], Q4
    )
    assert_only_asana_markup(comment)
    [item] = parsed(comment).findall("./ul/li")
    # Reading the XML undoes the escaping: the text is exactly the title, cleaned.
    cleaned = ET.fromstring(f"<x>{escape_html(title)}</x>").text or ""
    assert cleaned == "".join(c for c in " ".join(title.split()) if is_xml_char(c))
    assert "".join(item.itertext()).startswith(f"ONB-1 {cleaned} — Outcome: ")
