"""What the three managed-comment renderers share, run against each of them, and the GitHub
comment's own rules (Jira's and Asana's are in test_jira.py and test_asana.py).

Every renderer gets the same target, statuses and cycle and must: show each KR's id and
title and the numbers readably; turn untrusted text (KR ids, titles, units, the cycle
name) into characters that open no markup of its target, yet read back as typed; and
give the same text for the same input.
"""

from __future__ import annotations

import html
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from factories import Q4
from hypothesis import given, settings
from hypothesis import strategies as st

from okrsync.domain import (
    Cycle,
    Health,
    ItemCounts,
    KRStatus,
    Report,
    Rules,
    Target,
    compute_report,
)
from okrsync.render import render_asana_comment, render_github_comment, render_jira_comment
from okrsync.sources.github import MARKER

from .scenario import ITEMS, NOW, ONB, ONB_1, ONB_2, SAMPLES, SEC, report

Render = Callable[[Target, list[KRStatus], Cycle], str]


def _read_backslashes(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def _assert_backslash_escaped(piece: str, special: str) -> None:
    """Read left to right: a backslash escapes the next character; no other special is bare."""
    index = 0
    while index < len(piece):
        if piece[index] == "\\":
            assert index + 1 < len(piece), f"a trailing backslash in {piece!r}"
            index += 2
            continue
        assert piece[index] not in special, (piece, index)
        index += 1


# Jira wiki markup: emphasis, table cells, images, links and mentions ([~user]), macros, lists.
_JIRA_SPECIAL = "\\*_?-+^~|![]{}#"
# GitHub Markdown: emphasis, code, links and images, HTML and entities, tables, headings, lists.
_GITHUB_SPECIAL = "\\`*_{}[]()<>#+-.!|~&"
_ASANA_ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#x27);")
_ASANA_TAGS = {"body", "strong", "em", "ul", "li", "a", "hr"}


def _jira_inert(piece: str) -> None:
    _assert_backslash_escaped(piece, _JIRA_SPECIAL)


def _github_inert(piece: str) -> None:
    _assert_backslash_escaped(piece.replace("@\u2060", ""), _GITHUB_SPECIAL + "@")


def _github_read(text: str) -> str:
    # A word joiner after `@` stands for the escape GitHub does not honour there.
    return _read_backslashes(text.replace("@\u2060", "\\@"))


def _asana_inert(piece: str) -> None:
    assert "<" not in piece and ">" not in piece, piece
    assert "&" not in _ASANA_ENTITY.sub("", piece), piece


def _asana_text(comment: str) -> str:
    root = ET.fromstring(comment)  # raises on anything that is not well-formed XML
    assert {element.tag for element in root.iter()} <= _ASANA_TAGS
    return "".join(root.itertext())


@dataclass(frozen=True)
class Markup:
    name: str
    render: Render
    text_of: Callable[[str], str]  # the whole comment as a reader sees it
    read: Callable[[str], str]  # one escaped piece of text, read back
    assert_inert: Callable[[str], None]  # one escaped piece opens no markup

    def __str__(self) -> str:
        return self.name


JIRA = Markup("jira", render_jira_comment, _read_backslashes, _read_backslashes, _jira_inert)
GITHUB = Markup("github", render_github_comment, _github_read, _github_read, _github_inert)
ASANA = Markup("asana", render_asana_comment, _asana_text, html.unescape, _asana_inert)
MARKUPS = [pytest.param(markup, id=markup.name) for markup in (JIRA, GITHUB, ASANA)]


def target(computed: Report, key: str) -> Target:
    [found] = [t for t in computed.targets if t.item.key == key]
    return found


def comment_for(markup: Markup, computed: Report, key: str) -> str:
    chosen = target(computed, key)
    return markup.render(chosen, [computed.kr_status(k) for k in chosen.kr_ids], computed.cycle)


# --------------------------------------------------------------------------- readable


@pytest.mark.parametrize("markup", MARKUPS)
def test_every_kr_id_and_title_reads_as_written(markup: Markup) -> None:
    computed = report()
    statuses = [computed.kr_status(k) for k in ("ONB-1", "ONB-2", "SEC-1")]
    text = markup.text_of(markup.render(target(computed, "ONB-20"), statuses, computed.cycle))
    for kr in (ONB_1, ONB_2, SEC.key_results[0]):
        assert kr.id in text
        assert kr.title in text
    assert text.index("ONB-1") < text.index("ONB-2") < text.index("SEC-1")


@pytest.mark.parametrize("markup", MARKUPS)
def test_the_numbers_read_as_computed(markup: Markup) -> None:
    # Hand-computed in scenario.py: ONB-1 outcome 6/17, delivery 0.8, expected 0.55.
    epic = markup.text_of(comment_for(markup, report(), "ONB-10"))
    for shown in (
        "35% (now 74%; 68% to 85%)",
        "80%",
        "55%",
        "At risk",
        "80.27%",
        "2 of 4 work items done, 1 in progress, 1 to do.",
        "ONB-1: shipping without impact, delivery is 45 points ahead of the metric.",
        "Cycle 2026-Q4, 2026-10-01 to 2026-12-31.",
    ):
        assert shown in epic
    issue = markup.text_of(comment_for(markup, report(), "web#7"))
    for shown in ("56% (now 9 days; 14 days to 5 days)", "0%", "On track", "4.85 days"):
        assert shown in issue
    assert "shipping without impact" not in issue


@pytest.mark.parametrize("markup", MARKUPS)
def test_a_kr_without_data_shows_dashes(markup: Markup) -> None:
    computed = report()
    sec = computed.kr_status("SEC-1")
    text = markup.text_of(markup.render(target(computed, "ONB-20"), [sec], computed.cycle))
    assert "– (now –; 20% to 60%)" in text
    assert "No data" in text


# --------------------------------------------------------------------------- escaping

PLACEHOLDER = "PLACEHOLDER"
HOSTILE = {
    "emphasis": "**bold** _it_ ~~gone~~ *strong* +ins+ ^sup^ ??cite??",
    "mentions": "@alice, @acme/security and [~accountid:557058:f00]",
    "links": "[click](http://evil.example) ![img](http://evil.example/x.png) [a|http://x]",
    "script": "<script>alert('x')</script> <img src=x onerror=alert(1)>",
    "macros": "{code}rm -rf{code} {noformat} {color:red}x{color}",
    "table": "a | b || c |",
    "html comment": "<!-- okrsync:managed --> hidden",
    "asana mention": '<a data-asana-gid="1234"/> R&D',
    "entities": "&#64;alice &lt;b&gt; &amp;",
    "code fence": "```\ncode\n```",
    "line breaks": "first\nh1. second\r\n\tthird\u2028fourth",
    "heading": "# h1. Big",
    "backslashes": "C:\\temp\\ \\[~bob]",
}


def _status(kr_id: str = "ONB-1", title: str = "Title", unit: str = "%") -> KRStatus:
    return KRStatus(
        kr=replace(ONB_1, id=kr_id, title=title, unit=unit),
        current=74,
        outcome_progress=0.35,
        delivery_progress=0.8,
        expected_progress=0.55,
        health=Health.AT_RISK,
        forecast=80.27,
        flags=(),
        items=ItemCounts(),
    )


def _render_with(markup: Markup, field: str, text: str) -> str:
    """The comment with `text` in one untrusted field and fixed values everywhere else."""
    chosen = Target(ITEMS[0], ("ONB-1",), ItemCounts())
    if field == "cycle name":
        return markup.render(chosen, [_status()], replace(Q4, name=text))
    keyword = {"kr id": "kr_id", "title": "title", "unit": "unit"}[field]
    return markup.render(chosen, [_status(**{keyword: text})], Q4)


def escaped_pieces(markup: Markup, field: str, text: str) -> list[str]:
    """What `text` became at each place the field shows: the comment with a placeholder
    there fixes everything around it, so the rest of the hostile comment is the pieces."""
    plain = _render_with(markup, field, PLACEHOLDER)
    around = plain.split(PLACEHOLDER)
    places = len(around) - 1
    assert places >= 1, f"{field} does not show in the {markup} comment"
    hostile = _render_with(markup, field, text)
    grown, remainder = divmod(len(hostile) - len(plain), places)
    assert remainder == 0, "the text is escaped differently at different places"
    size = len(PLACEHOLDER) + grown
    pieces, position = [], 0
    for before in around[:-1]:
        assert hostile.startswith(before, position), "the text changed the comment around it"
        position += len(before)
        pieces.append(hostile[position : position + size])
        position += size
    assert hostile[position:] == around[-1], "the text changed the comment around it"
    return pieces


@pytest.mark.parametrize("markup", MARKUPS)
@pytest.mark.parametrize("field", ["title", "kr id", "unit", "cycle name"])
@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_untrusted_text_opens_no_markup_and_reads_as_typed(
    markup: Markup, field: str, text: str
) -> None:
    for piece in escaped_pieces(markup, field, text):
        assert "\n" not in piece and "\r" not in piece
        markup.assert_inert(piece)
        assert markup.read(piece) == " ".join(text.split())
    comment = _render_with(markup, field, text)
    assert len(comment.split("\n")) == len(_render_with(markup, field, PLACEHOLDER).split("\n"))
    markup.text_of(comment)  # still well-formed where the markup has a grammar (Asana)


@settings(max_examples=200, deadline=None)
@given(
    title=st.lists(
        st.sampled_from(
            [*"ab @\\*_?-+^~|![]{}#()`<>&;:.=/\"'%\n\t"]
            + ["h1. ", "<!--", "-->", "&amp;", "&#64;", "[~", "```", "http://"]
        ),
        max_size=30,
    ).map("".join)
)
@pytest.mark.parametrize("markup", MARKUPS)
def test_any_title_opens_no_markup_and_reads_as_typed(markup: Markup, title: str) -> None:
    [piece] = escaped_pieces(markup, "title", title)
    markup.assert_inert(piece)
    assert markup.read(piece) == " ".join(title.split())


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("markup", MARKUPS)
def test_the_same_input_gives_the_same_text(markup: Markup) -> None:
    # The content hash that skips unchanged write-backs relies on this.
    first = comment_for(markup, report(), "ONB-10")
    items, samples = list(ITEMS), list(SAMPLES)
    random.Random(7).shuffle(items)
    random.Random(8).shuffle(samples)
    again = compute_report(Q4, [ONB, SEC], items, samples, Rules(), NOW)
    assert comment_for(markup, again, "ONB-10") == first
    assert comment_for(markup, report(), "ONB-10") == first


@pytest.mark.parametrize("markup", MARKUPS)
def test_the_comment_carries_no_clock(markup: Markup) -> None:
    # `now` shows only through expected progress, never as a date or time.
    comment = comment_for(markup, report(), "ONB-10")
    for text in (comment, markup.text_of(comment)):
        for stamp in ("2026-11-20", "14:24", "UTC"):
            assert stamp not in text


# --------------------------------------------------------------------------- GitHub

GITHUB_HEADER = [
    "### OKR status",
    "",
    "| Key result | Outcome | Delivery | Expected by now | Health | Forecast at cycle end |",
    "| --- | ---: | ---: | ---: | --- | ---: |",
]
GITHUB_ONB_1_ROW = (
    r"| **ONB\-1** Increase onboarding completion rate from 68% to 85% "
    r"| 35% \(now 74%; 68% to 85%\) | 80% | 55% | 🟡 At risk | 80\.27% |"
)
GITHUB_FOOTER = [
    "",
    "---",
    r"<sub>Cycle 2026\-Q4, 2026\-10\-01 to 2026\-12\-31\. "
    "Kept up to date by okrsync; edits to this comment are overwritten.</sub>",
]


def github_comment(title: str) -> str:
    return render_github_comment(
        Target(ITEMS[0], ("ONB-1",), ItemCounts()), [_status(title=title)], Q4
    )


def _unescaped(text: str) -> str:
    """The text with every backslash-escaped character (and the escape) taken out."""
    return re.sub(r"\\.", "", text, flags=re.DOTALL)


def test_github_comment_on_an_epic_that_ships_without_impact() -> None:
    assert comment_for(GITHUB, report(), "ONB-10").split("\n") == [
        *GITHUB_HEADER,
        GITHUB_ONB_1_ROW,
        "",
        r"This issue: 2 of 4 work items done, 1 in progress, 1 to do\.",
        r"> ⚠️ ONB\-1: shipping without impact, delivery is 45 points ahead of the metric\.",
        *GITHUB_FOOTER,
    ]


def test_github_one_row_per_kr_of_the_target() -> None:
    computed = report()
    statuses = [computed.kr_status(k) for k in ("ONB-1", "ONB-2", "SEC-1")]
    lines = render_github_comment(target(computed, "ONB-20"), statuses, computed.cycle)
    assert lines.split("\n")[4:7] == [
        GITHUB_ONB_1_ROW,
        r"| **ONB\-2** Cut time to first value from 14 to 5 days "
        r"| 56% \(now 9 days; 14 days to 5 days\) | 0% | 55% | 🟢 On track | 4\.85 days |",
        r"| **SEC\-1** KR SEC\-1 | – \(now –; 20% to 60%\) | – | 55% | ⚪ No data | – |",
    ]


def test_github_every_health_word_and_icon() -> None:
    expected = {
        Health.ON_TRACK: "🟢 On track",
        Health.AT_RISK: "🟡 At risk",
        Health.OFF_TRACK: "🔴 Off track",
        Health.NO_DATA: "⚪ No data",
    }
    for health, cell in expected.items():
        comment = render_github_comment(
            Target(ITEMS[0], ("ONB-1",), ItemCounts()), [replace(_status(), health=health)], Q4
        )
        assert f"| {cell} |" in comment.split("\n")[4]


@pytest.mark.parametrize(
    "title", ["@alice", "ping @acme/security", "@@double", "&#64;alice", "\\@bob", "a@b.example"]
)
def test_github_no_mention_survives(title: str) -> None:
    # A backslash does not stop GitHub linking @user; a word joiner (U+2060) after @ does.
    comment = github_comment(title)
    assert re.search("@(?!\u2060)", comment) is None
    assert "&#" not in _unescaped(comment)  # no entity that renders as an @


def test_github_no_links_code_html_or_table_breaks() -> None:
    title = " ".join(HOSTILE.values())
    comment = github_comment(title)
    bare = _unescaped(comment)
    # Links, images and autolinks need brackets or angle brackets; code needs backticks.
    for opener in ("[", "](", "![", "`", "<!--", "<script", "<a ", "<img", "&"):
        assert opener not in bare.replace("<sub>", "").replace("</sub>", "")
    # The only HTML is the renderer's own footer.
    assert re.findall(r"<[^>]*>", bare) == ["<sub>", "</sub>"]
    # Untrusted text starts no block: no fence, heading, quote or list of its own.
    lines = comment.split("\n")
    assert len(lines) == len(github_comment("plain").split("\n"))
    # Each table row still has exactly the six cells of the header.
    for line in lines[2:5]:
        assert _unescaped(line).count("|") == 7, line


def test_github_marker_is_left_to_the_connector() -> None:
    # The connector puts `<!-- okrsync:managed -->` before the body; a renderer that wrote
    # it too, or let a title write it, would make a second marked comment look managed.
    for key in ("ONB-10", "ONB-20", "web#7"):
        comment = comment_for(GITHUB, report(), key)
        assert MARKER not in comment
        assert "<!--" not in comment
    assert MARKER not in github_comment(f"{MARKER} sneaky")
