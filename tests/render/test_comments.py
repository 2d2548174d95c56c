"""What the managed-comment renderers share, run against each of them, and the GitHub
comment's own rules (Jira's and Asana's are in test_jira.py and test_asana.py; ADF's in
test_adf.py).

Every renderer gets the same target, statuses and cycle and must: show each KR's id and
title and the numbers readably, as written wherever no markup could start there (a search
for `CS-2` finds the comment); turn any text (KR ids, titles, units, the cycle name) into
characters that open no markup of its target, yet read back as typed; and give the same
text for the same input.
"""

from __future__ import annotations

import html
import json
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from factories import Q4
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

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
from okrsync.render import render_asana_comment, render_github_comment, render_jira_wiki
from okrsync.render.adf import adf_text, render_adf_comment
from okrsync.sources.github import MARKER

from .scenario import ITEMS, NOW, ONB, ONB_1, ONB_2, SAMPLES, SEC, report

Render = Callable[[Target, list[KRStatus], Cycle], str]


def _read_backslashes(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


def _bare(piece: str) -> list[tuple[int, str]]:
    """(index, character) of every character no backslash escapes, read left to right."""
    found, index = [], 0
    while index < len(piece):
        if piece[index] == "\\":
            assert index + 1 < len(piece), f"a trailing backslash in {piece!r}"
            index += 2
            continue
        found.append((index, piece[index]))
        index += 1
    return found


# Jira wiki markup. Anywhere: table cells, images, links and mentions ([~user]), macros,
# sub/superscript. At a word's edge only: emphasis and effects (*bold* -del- ??cite??).
_JIRA_ALWAYS = "\\|![]{}~^"
_JIRA_AT_EDGE = "*_-+?"


def _jira_inert(piece: str) -> None:
    """No character starts wiki markup: those that do anywhere are escaped; an emphasis
    character is bare only inside a word (CS-2, x*y) or alone between spaces."""
    for index, char in _bare(piece):
        assert char not in _JIRA_ALWAYS, (piece, index)
        if char in _JIRA_AT_EDGE:
            before = piece[index - 1] if index else ""
            after = piece[index + 1] if index + 1 < len(piece) else ""
            inside = before.isalnum() and after.isalnum()
            assert inside or (before == " " and after == " "), (piece, index)
    # `#` and `h1.` make markup only at the start of a line, where no text of the
    # comment stands (test_jira.py checks escape_wiki there).


# GitHub Markdown as GitHub reads it: CommonMark with tables and strikethrough.
_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _markdown_inline(source: str) -> list[Any]:
    """The inline tokens of `source` parsed as one paragraph (it must stay one)."""
    tokens = _MARKDOWN.parse(source)
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"], (
        source,
        [t.type for t in tokens],
    )
    return list(tokens[1].children or [])


def _github_inert(piece: str) -> None:
    """Parsed at the start of a line and in the middle of one, the text is plain text
    alone: no emphasis, link, image, code, HTML or block; and none of GitHub's own
    references (@user, #12) that a CommonMark parser does not know."""
    for source in (piece, f"x {piece} x"):
        if not source.strip():
            continue
        kinds = {token.type for token in _markdown_inline(source)}
        assert kinds <= {"text"}, (source, kinds)
    assert re.search("@(?!\u2060)", piece) is None, piece
    assert all(char != "#" for _, char in _bare(piece)), piece


def _github_read(text: str) -> str:
    """Text as GitHub shows it: escapes read by a CommonMark parser, and the word joiner
    the renderer puts after `@` (a backslash does not stop a mention there) left out."""
    if not text.strip():
        return text
    shown = "".join(token.content for token in _markdown_inline(f"x {text} x"))
    return shown[2:-2].replace("@\u2060", "@")


def _github_text(comment: str) -> str:
    return _read_backslashes(comment.replace("@\u2060", "@"))


_ASANA_ENTITY = re.compile(r"&(?:amp|lt|gt);")
_ASANA_TAGS = {"body", "strong", "em", "ul", "li", "a", "hr"}


def _asana_inert(piece: str) -> None:
    assert "<" not in piece, piece
    assert "&" not in _ASANA_ENTITY.sub("", piece), piece


def _asana_text(comment: str) -> str:
    root = ET.fromstring(comment)  # raises on anything that is not well-formed XML
    assert {element.tag for element in root.iter()} <= _ASANA_TAGS
    return "".join(root.itertext())


def _adf_json(target: Target, statuses: list[KRStatus], cycle: Cycle) -> str:
    return json.dumps(render_adf_comment(target, statuses, cycle), ensure_ascii=False)


def _adf_text(comment: str) -> str:
    return adf_text(json.loads(comment))


def _adf_read(piece: str) -> str:
    read = json.loads(f'"{piece}"')
    assert isinstance(read, str)
    return read


def _adf_inert(piece: str) -> None:
    # A text node holds its text as typed; the piece must only stay inside its string.
    _adf_read(piece)


@dataclass(frozen=True)
class Markup:
    name: str
    render: Render
    text_of: Callable[[str], str]  # the whole comment as a reader sees it
    read: Callable[[str], str]  # one escaped piece of text, read back
    assert_inert: Callable[[str], None]  # one escaped piece opens no markup

    def __str__(self) -> str:
        return self.name


JIRA = Markup("jira", render_jira_wiki, _read_backslashes, _read_backslashes, _jira_inert)
ADF = Markup("adf", _adf_json, _adf_text, _adf_read, _adf_inert)
GITHUB = Markup("github", render_github_comment, _github_text, _github_read, _github_inert)
ASANA = Markup("asana", render_asana_comment, _asana_text, html.unescape, _asana_inert)
MARKUPS = [pytest.param(markup, id=markup.name) for markup in (JIRA, ADF, GITHUB, ASANA)]


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
        "80.27% (short of 85%)",
        "own part: 2 of 4 work items done, 1 in progress, 1 to do.",
        "Outcome and delivery are each key result's, across every system it is tracked in",
        "expected by now is the share of the target the metric should have reached, given "
        "the time elapsed in the cycle.",
        "ONB-1: shipping without impact, delivery is 45 percentage points ahead of the outcome.",
        "Cycle 2026-Q4, 2026-10-01 to 2026-12-31.",
    ):
        assert shown in epic
    issue = markup.text_of(comment_for(markup, report(), "web#7"))
    for shown in (
        "56% (now 9 days; 14 days to 5 days)",
        "0%",
        "On track",
        "4.85 days (reaches 5 days)",
    ):
        assert shown in issue
    assert "shipping without impact" not in issue


@pytest.mark.parametrize("markup", MARKUPS)
def test_a_kr_without_data_shows_dashes(markup: Markup) -> None:
    computed = report()
    sec = computed.kr_status("SEC-1")
    text = markup.text_of(markup.render(target(computed, "ONB-20"), [sec], computed.cycle))
    assert "– (now –; 20% to 60%)" in text
    assert "No data" in text


IDS = ("CS-2", "ONB_1", "A.B-3", "x*y")


def _ids_comment(markup: Markup) -> str:
    statuses = [
        replace(_status(kr_id=kr_id, unit="min"), current=21.44, forecast=21.44) for kr_id in IDS
    ]
    return markup.render(Target(ITEMS[0], IDS, ItemCounts()), statuses, Q4)


@pytest.mark.parametrize("markup", MARKUPS)
def test_ids_and_numbers_are_in_the_raw_text_as_written(markup: Markup) -> None:
    # Verbatim wherever no markup could start there: a search of the raw comment finds
    # them. Only Markdown needs `x*y` escaped (`*` opens emphasis even inside a word).
    raw = _ids_comment(markup)
    verbatim = [i for i in IDS if not (markup is GITHUB and i == "x*y")]
    for shown in (*verbatim, "21.44 min", "80%", "2026-10-01"):
        assert shown in raw, (markup.name, shown)
    for kr_id in IDS:
        assert kr_id in markup.text_of(raw)


def test_github_ids_read_literally_when_parsed() -> None:
    raw = _ids_comment(GITHUB)
    assert r"x\*y" in raw
    tokens = _MARKDOWN.parse(raw)
    cells = [t for t in tokens if t.type == "inline"]
    texts = ["".join(c.content for c in t.children or [] if c.type == "text") for t in cells]
    for kr_id in IDS:
        # The id is the bold text of its row's first cell, read as written.
        assert any(text.startswith(kr_id) for text in texts), kr_id
    assert not any(c.type == "em_open" for t in cells for c in t.children or [])


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
    "references": "#1 see #12, org/repo#3 ](javascript:alert(1)) ||cell",
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
    if markup is ADF and not title.split():
        return  # ADF has no empty text node: an empty title is no node at all
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
# Ids, numbers and dates as written: nothing in them could start Markdown where they stand.
GITHUB_ONB_1_ROW = (
    "| **ONB-1** Increase onboarding completion rate from 68% to 85% "
    "| 35% (now 74%; 68% to 85%) | 80% | 55% | 🟡 At risk | 80.27% (short of 85%) |"
)
GITHUB_EXPLANATION = (
    "Outcome and delivery are each key result's, across every system it is tracked in; "
    "expected by now is the share of the target the metric should have reached, given the "
    "time elapsed in the cycle."
)
GITHUB_FOOTER = [
    "",
    "---",
    "<sub>Cycle 2026-Q4, 2026-10-01 to 2026-12-31. "
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
        "This issue's own part: 2 of 4 work items done, 1 in progress, 1 to do.",
        "",
        GITHUB_EXPLANATION,
        "> ⚠️ ONB-1: shipping without impact, delivery is 45 percentage points ahead of the "
        "outcome.",
        *GITHUB_FOOTER,
    ]


def test_github_one_row_per_kr_of_the_target() -> None:
    computed = report()
    statuses = [computed.kr_status(k) for k in ("ONB-1", "ONB-2", "SEC-1")]
    lines = render_github_comment(target(computed, "ONB-20"), statuses, computed.cycle)
    assert lines.split("\n")[4:7] == [
        GITHUB_ONB_1_ROW,
        "| **ONB-2** Cut time to first value from 14 to 5 days "
        "| 56% (now 9 days; 14 days to 5 days) | 0% | 55% | 🟢 On track "
        "| 4.85 days (reaches 5 days) |",
        "| **SEC-1** KR SEC-1 | – (now –; 20% to 60%) | – | 55% | ⚪ No data | – |",
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
    for opener in ("[", "](", "![", "`", "<!--", "<script", "<a ", "<img"):
        assert opener not in bare.replace("<sub>", "").replace("</sub>", "")
    # The only entity is the renderer's own `&lt;`: none the text spelt (&#64; is an @).
    assert set(re.findall(r"&#?\w+;", bare)) == {"&lt;"}
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
