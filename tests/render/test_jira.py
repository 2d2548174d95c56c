"""The managed Jira comment: wiki markup escaped only where markup could start, and the
planned body that carries it with the ADF document.

What every renderer shares (readable ids and numbers, escaping, determinism) is in
test_comments.py."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from factories import Q4
from hypothesis import given, settings
from hypothesis import strategies as st

from okrsync.domain import Health, ItemCounts, KRStatus, Report, Target
from okrsync.render import escape_wiki, render_jira_comment, render_jira_wiki
from okrsync.render.adf import adf_text, render_adf_comment
from okrsync.render.jira import ADF_SEPARATOR
from okrsync.sources import jira as jira_source

from .scenario import ITEMS, ONB_1, report

# --------------------------------------------------------------------------- escape_wiki


def test_mentions_cannot_ping_anyone() -> None:
    assert escape_wiki("[~jsmith]") == r"\[\~jsmith\]"
    assert escape_wiki("[~accountid:5b10a2844c20165700ede21g]") == (
        r"\[\~accountid:5b10a2844c20165700ede21g\]"
    )


def test_macros_are_literal() -> None:
    assert escape_wiki("{noformat}x{noformat}") == r"\{noformat\}x\{noformat\}"
    assert escape_wiki("{code:java}rm -rf{code}") == r"\{code:java\}rm \-rf\{code\}"
    assert escape_wiki("{color:red}alarm{color}") == r"\{color:red\}alarm\{color\}"


def test_links_and_images_are_literal() -> None:
    assert escape_wiki("[click|http://evil.example]") == r"\[click\|http://evil.example\]"
    assert escape_wiki("[http://evil.example]") == r"\[http://evil.example\]"
    assert escape_wiki("!http://evil.example/x.png!") == r"\!http://evil.example/x.png\!"


def test_table_cells_cannot_be_broken() -> None:
    assert escape_wiki("a|b||c") == r"a\|b\|\|c"


def test_emphasis_and_effects_are_literal() -> None:
    assert escape_wiki("*bold* _it_ -del- +ins+ ^sup^ ~sub~ ??cite??") == (
        r"\*bold\* \_it\_ \-del\- \+ins\+ \^sup\^ \~sub\~ \?\?cite\?\?"
    )


@pytest.mark.parametrize(
    "text", ["CS-2", "ONB_1", "A.B-3", "x*y", "21.44 min", "2026-10-01", "R&D", "a - b", "x+y"]
)
def test_ids_and_numbers_stay_as_written_where_nothing_starts_markup(text: str) -> None:
    # Emphasis opens only at a word's edge: between letters or digits it is plain text, so
    # a search for the id finds the comment.
    assert escape_wiki(text) == text


def test_emphasis_characters_at_a_word_edge_are_escaped() -> None:
    assert escape_wiki("x* y") == r"x\* y"
    assert escape_wiki("-5") == r"\-5"
    assert escape_wiki("CS- 2") == r"CS\- 2"
    assert escape_wiki("a*") == r"a\*"  # what follows the text is not known here


def test_headings_lists_and_quotes_at_the_start_are_literal() -> None:
    assert escape_wiki("h1. Big") == r"h1\. Big"
    assert escape_wiki("H3. shouting") == r"H3\. shouting"
    assert escape_wiki("bq. quoted") == r"bq\. quoted"
    assert escape_wiki("# numbered") == r"\# numbered"
    assert escape_wiki("* bullet") == r"\* bullet"
    assert escape_wiki("---- rule") == r"\-\-\-\- rule"
    # Not at the start, "h1." is plain text and stays as it is.
    assert escape_wiki("see h1. here") == "see h1. here"


def test_newlines_cannot_start_new_markup() -> None:
    assert escape_wiki("first\nh1. second\r\n\tthird  fourth") == r"first h1. second third fourth"
    assert escape_wiki("a\u2028b") == "a b"
    assert escape_wiki("  padded  ") == "padded"


def test_backslashes_are_doubled() -> None:
    # A trailing backslash must not escape the character that follows the text.
    assert escape_wiki("C:\\temp\\") == r"C:\\temp\\"
    assert escape_wiki("\\[~bob]") == r"\\\[\~bob\]"
    assert escape_wiki("\\\\") == r"\\\\"


def test_plain_text_is_unchanged() -> None:
    assert escape_wiki("Increase completion rate 68% to 85%, 2026.") == (
        "Increase completion rate 68% to 85%, 2026."
    )


# Markup anywhere, and emphasis that opens or closes at a word's edge.
_ALWAYS = set("\\|![]{}~^")
_AT_EDGE = set("*_-+?")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab1 h1.\\*_?-+^~|![]{}#@()`:;<>= \n\t")))
def test_no_character_is_left_where_it_starts_markup(text: str) -> None:
    escaped = escape_wiki(text)
    assert "\n" not in escaped and "\t" not in escaped
    # Read left to right: a backslash always escapes the next character. A bare markup
    # character stands only where it cannot open anything: emphasis between two letters
    # or digits, or alone between spaces; `#` never first.
    index = 0
    literal = []
    while index < len(escaped):
        char = escaped[index]
        if char == "\\":
            literal.append(escaped[index + 1])
            index += 2
            continue
        assert char not in _ALWAYS, (text, escaped, index)
        if char in _AT_EDGE:
            before = escaped[index - 1] if index else ""
            after = escaped[index + 1] if index + 1 < len(escaped) else ""
            assert (before.isalnum() and after.isalnum()) or (before == after == " "), (
                text,
                escaped,
                index,
            )
        assert not (char == "#" and index == 0), (text, escaped)
        literal.append(char)
        index += 1
    assert "".join(literal) == " ".join(text.split())
    assert not re.match(r"(?i)(h[1-6]|bq)\.", escaped)


# --------------------------------------------------------------------------- the comment

HEADER = [
    "h3. OKR status",
    "||Key result||Outcome||Delivery||Expected by now||Health||Forecast at cycle end||",
]
# Ids, numbers and dates as written: nothing in them starts wiki markup where they stand.
ONB_1_ROW = (
    "|*ONB-1* Increase onboarding completion rate from 68% to 85%"
    "|35% (now 74%; 68% to 85%)|80%|55%|(!) At risk|80.27% (short of 85%)|"
)
ONB_2_ROW = (
    "|*ONB-2* Cut time to first value from 14 to 5 days"
    "|56% (now 9 days; 14 days to 5 days)|0%|55%|(/) On track|4.85 days (reaches 5 days)|"
)
EXPLANATION = (
    "Outcome and delivery are each key result's, across every system it is tracked in; "
    "expected by now is the share of the target the metric should have reached, given the "
    "time elapsed in the cycle."
)
FOOTER = [
    "----",
    "_Cycle 2026-Q4, 2026-10-01 to 2026-12-31. "
    "Kept up to date by okrsync; edits to this comment are overwritten._",
]


def target(report: Report, key: str) -> Target:
    [found] = [t for t in report.targets if t.item.key == key]
    return found


def comment_for(report: Report, key: str) -> str:
    chosen = target(report, key)
    return render_jira_wiki(chosen, [report.kr_status(k) for k in chosen.kr_ids], report.cycle)


def test_the_comment_on_an_epic_that_ships_without_impact() -> None:
    # ONB-10's own leaves: ONB-11 and ONB-12 done, ONB-13 in progress, ONB-14 to do.
    # ONB-1: delivery 0.8 − outcome 6/17 = 0.447, shown as 45 percentage points.
    assert comment_for(report(), "ONB-10").split("\n") == [
        *HEADER,
        ONB_1_ROW,
        "",
        "This issue's own part: 2 of 4 work items done, 1 in progress, 1 to do.",
        EXPLANATION,
        "(!) ONB-1: shipping without impact, delivery is 45 percentage points ahead of the "
        "outcome.",
        *FOOTER,
    ]


def test_no_shipping_line_when_the_kr_is_not_flagged() -> None:
    comment = comment_for(report(), "web#7")
    assert comment.split("\n") == [
        *HEADER,
        ONB_2_ROW,
        "",
        "This issue's own part: 0 of 1 work items done, 1 in progress, 0 to do.",
        EXPLANATION,
        *FOOTER,
    ]
    assert "shipping without impact" not in comment


def test_one_row_per_kr_of_the_target() -> None:
    computed = report()
    statuses = [
        computed.kr_status("ONB-1"),
        computed.kr_status("ONB-2"),
        computed.kr_status("SEC-1"),
    ]
    lines = render_jira_wiki(target(computed, "ONB-20"), statuses, computed.cycle).split("\n")
    assert lines[2:5] == [
        ONB_1_ROW,
        ONB_2_ROW,
        "|*SEC-1* KR SEC-1|– (now –; 20% to 60%)|–|55%|(?) No data|–|",
    ]
    assert lines[6] == "This issue's own part: 1 of 1 work items done, 0 in progress, 0 to do."
    assert sum(line.startswith("(!) ") for line in lines) == 1


def test_every_health_word_and_icon() -> None:
    status = report().kr_status("ONB-1")
    expected = {
        Health.ON_TRACK: "(/) On track",
        Health.AT_RISK: "(!) At risk",
        Health.OFF_TRACK: "(x) Off track",
        Health.NO_DATA: "(?) No data",
    }
    for health, cell in expected.items():
        comment = render_jira_wiki(
            Target(ITEMS[0], ("ONB-1",), ItemCounts()), [replace(status, health=health)], Q4
        )
        assert f"|{cell}|" in comment.split("\n")[2]


def test_untrusted_kr_text_cannot_inject_markup() -> None:
    hostile = replace(
        ONB_1,
        id="ONB-1",
        title="h1. Pwned [~accountid:557058:f00] {code}x{code}\n||fake||header||",
        unit="!x.png!",
    )
    status = KRStatus(
        kr=hostile,
        current=74,
        outcome_progress=None,
        delivery_progress=None,
        expected_progress=0.5,
        health=Health.NO_DATA,
        forecast=None,
        flags=(),
        items=ItemCounts(),
    )
    lines = render_jira_wiki(Target(ITEMS[0], ("ONB-1",), ItemCounts()), [status], Q4).split("\n")
    assert lines[2] == (
        r"|*ONB-1* h1\. Pwned \[\~accountid:557058:f00\] \{code\}x\{code\} "
        r"\|\|fake\|\|header\|\|"
        r"|– (now 74 \!x.png\!; 68 \!x.png\! to 85 \!x.png\!)|–|50%|(?) No data|–|"
    )
    assert len(lines) == 8  # the title's newline did not add a line


# --------------------------------------------------------------------------- the planned body


def _planned(comment_format: str = "auto") -> str:
    computed = report()
    chosen = target(computed, "ONB-10")
    statuses = [computed.kr_status(k) for k in chosen.kr_ids]
    return render_jira_comment(chosen, statuses, computed.cycle, comment_format)


def test_the_planned_body_is_the_wiki_markup_then_the_adf_document() -> None:
    computed = report()
    chosen = target(computed, "ONB-10")
    statuses = [computed.kr_status(k) for k in chosen.kr_ids]
    wiki, separator, document = _planned().rpartition(ADF_SEPARATOR)
    assert separator and "\n" not in document
    assert wiki == render_jira_wiki(chosen, statuses, computed.cycle)
    assert json.loads(document) == render_adf_comment(chosen, statuses, computed.cycle)
    # The connector splits on the very same line.
    assert jira_source.ADF_SEPARATOR == ADF_SEPARATOR


def test_format_wiki_plans_the_wiki_markup_alone_so_switching_rewrites_once() -> None:
    wiki = _planned("wiki")
    assert ADF_SEPARATOR not in wiki and wiki == _planned().rpartition(ADF_SEPARATOR)[0]
    # Another body, another content hash: switching format writes each comment once.
    assert _planned("wiki") != _planned("auto") == _planned("adf")


def test_no_kr_text_can_spell_the_separator() -> None:
    hostile = replace(ONB_1, title=ADF_SEPARATOR + '{"type": "doc"}', id="-- ADF --")
    status = replace(report().kr_status("ONB-1"), kr=hostile)
    body = render_jira_comment(Target(ITEMS[0], ("ONB-1",), ItemCounts()), [status], Q4)
    assert body.count(ADF_SEPARATOR) == 1
    wiki, _, document = body.rpartition(ADF_SEPARATOR)
    assert "-- ADF --" in adf_text(json.loads(document))  # verbatim in ADF, inert anyway
