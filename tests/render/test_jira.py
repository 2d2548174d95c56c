"""The managed Jira comment: wiki markup with every piece of untrusted text escaped.

What every renderer shares (readable ids and numbers, escaping, determinism) is in
test_comments.py."""

from __future__ import annotations

import re
from dataclasses import replace

from factories import Q4
from hypothesis import given, settings
from hypothesis import strategies as st

from okrsync.domain import Health, ItemCounts, KRStatus, Report, Target
from okrsync.render import escape_wiki, render_jira_comment

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


# Jira shows the backslash before any other character, so only these are escaped.
_SPECIAL = set("\\*_?-+^~|![]{}#")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab h1.\\*_?-+^~|![]{}#@()`:;<>= \n\t")))
def test_every_special_character_comes_out_escaped(text: str) -> None:
    escaped = escape_wiki(text)
    assert "\n" not in escaped and "\t" not in escaped
    # Read left to right: a backslash always escapes the next character, and every
    # markup character is escaped, so none of them can open markup.
    index = 0
    literal = []
    while index < len(escaped):
        char = escaped[index]
        if char == "\\":
            literal.append(escaped[index + 1])
            index += 2
            continue
        assert char not in _SPECIAL, (text, escaped, index)
        literal.append(char)
        index += 1
    assert "".join(literal) == " ".join(text.split())
    assert not re.match(r"(?i)(h[1-6]|bq)\.", escaped)


# --------------------------------------------------------------------------- the comment

HEADER = [
    "h3. OKR status",
    "||Key result||Outcome||Delivery||Expected by now||Health||Forecast at cycle end||",
]
ONB_1_ROW = (
    r"|*ONB\-1* Increase onboarding completion rate from 68% to 85%"
    r"|35% (now 74%; 68% to 85%)|80%|55%|(!) At risk|80.27%|"
)
ONB_2_ROW = (
    r"|*ONB\-2* Cut time to first value from 14 to 5 days"
    r"|56% (now 9 days; 14 days to 5 days)|0%|55%|(/) On track|4.85 days|"
)
FOOTER = [
    "----",
    r"_Cycle 2026\-Q4, 2026\-10\-01 to 2026\-12\-31. "
    "Kept up to date by okrsync; edits to this comment are overwritten._",
]


def target(report: Report, key: str) -> Target:
    [found] = [t for t in report.targets if t.item.key == key]
    return found


def comment_for(report: Report, key: str) -> str:
    chosen = target(report, key)
    return render_jira_comment(chosen, [report.kr_status(k) for k in chosen.kr_ids], report.cycle)


def test_the_comment_on_an_epic_that_ships_without_impact() -> None:
    # ONB-10's own leaves: ONB-11 and ONB-12 done, ONB-13 in progress, ONB-14 to do.
    # ONB-1: delivery 0.8 − outcome 6/17 = 0.447, shown as 45 points.
    assert comment_for(report(), "ONB-10").split("\n") == [
        *HEADER,
        ONB_1_ROW,
        "",
        r"This issue: 2 of 4 work items done, 1 in progress, 1 to do.",
        r"(!) ONB\-1: shipping without impact, delivery is 45 points ahead of the metric.",
        *FOOTER,
    ]


def test_no_shipping_line_when_the_kr_is_not_flagged() -> None:
    comment = comment_for(report(), "web#7")
    assert comment.split("\n") == [
        *HEADER,
        ONB_2_ROW,
        "",
        r"This issue: 0 of 1 work items done, 1 in progress, 0 to do.",
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
    lines = render_jira_comment(target(computed, "ONB-20"), statuses, computed.cycle).split("\n")
    assert lines[2:5] == [
        ONB_1_ROW,
        ONB_2_ROW,
        r"|*SEC\-1* KR SEC\-1|– (now –; 20% to 60%)|–|55%|(?) No data|–|",
    ]
    assert lines[6] == r"This issue: 1 of 1 work items done, 0 in progress, 0 to do."
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
        comment = render_jira_comment(
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
    lines = render_jira_comment(Target(ITEMS[0], ("ONB-1",), ItemCounts()), [status], Q4).split(
        "\n"
    )
    assert lines[2] == (
        r"|*ONB\-1* h1\. Pwned \[\~accountid:557058:f00\] \{code\}x\{code\} "
        r"\|\|fake\|\|header\|\|"
        r"|– (now 74 \!x.png\!; 68 \!x.png\! to 85 \!x.png\!)|–|50%|(?) No data|–|"
    )
    assert len(lines) == 7  # the title's newline did not add a line
