"""The managed Jira comment: wiki markup (REST v2, Server/Data Center) and ADF (v3, Cloud)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from okrsync.domain import Cycle, Health, KRStatus, Target, WorkItem
from okrsync.render._comment import COLUMNS, FOOTER_NOTE, HEADING, comment_content
from okrsync.render.adf import (
    KR_DESCRIPTION_INTRO,
    KR_DESCRIPTION_NONE,
    render_adf_comment,
    render_adf_kr_description,
    safe_url,
    work_by_source,
)

# Between the wiki markup and the ADF document in the planned body. Text in the wiki
# part cannot make this line: `-` at a word's edge is escaped there. The connector
# (okrsync/sources/jira.py) splits on the same text.
ADF_SEPARATOR = "\n\n-- ADF (Jira Cloud, REST v3) --\n"

_HEALTH_ICONS = {
    Health.ON_TRACK: "(/)",
    Health.AT_RISK: "(!)",
    Health.OFF_TRACK: "(x)",
    Health.NO_DATA: "(?)",
}
# Characters that start wiki markup wherever they stand: table cells (|), images (!),
# links and mentions ([~user]), macros ({code}), sub/superscript (~ ^) and the escape
# itself. Jira prints the backslash before any other character, so nothing else is
# escaped unless its position makes it markup.
_WIKI_ALWAYS = frozenset("\\|![]{}~^")
# Emphasis and effects (*bold* _em_ -del- +ins+ ??cite??) open only at a word's edge:
# between two letters or digits (CS-2, ONB_1, x*y) they are plain text.
_WIKI_AT_EDGE = frozenset("*_-+?")


def _inside_word_or_alone(before: str, after: str) -> bool:
    """Whether an emphasis character can neither open nor close an effect: between two
    letters or digits, or alone between spaces. The edge of the text ("") counts as
    anything, since what stands there is not known here."""
    return (before.isalnum() and after.isalnum()) or (before == " " and after == " ")


# Block markup that is only letters and a dot: "h1. " makes a heading, "bq. " a quote.
_WIKI_BLOCK_START = re.compile(r"^(h[1-6]|bq)\.", re.IGNORECASE)


# Every character `escape_wiki` may escape, wherever it stands: the others are kept as
# they are, so only these are looked at (a comment's text is mostly plain).
_WIKI_CANDIDATES = re.compile("[" + re.escape("".join(sorted(_WIKI_ALWAYS | _WIKI_AT_EDGE))) + "#]")


def escape_wiki(text: str) -> str:
    """Text as literal characters, on one line: a backslash only before a character that
    would start markup where it stands, so `CS-2`, `ONB_1` and `21.44 min` read (and are
    found by search) as written, while no mention, macro, link or effect can start."""
    chars = " ".join(text.split())
    return _WIKI_BLOCK_START.sub(r"\1\\.", _WIKI_CANDIDATES.sub(_escape_wiki_at, chars))


def _escape_wiki_at(match: re.Match[str]) -> str:
    """One candidate character of `escape_wiki`'s text, escaped where it stands."""
    chars, index, char = match.string, match.start(), match.group()
    before = chars[index - 1] if index else ""
    after = chars[index + 1] if index + 1 < len(chars) else ""
    starts_markup = (
        char in _WIKI_ALWAYS
        or (char == "#" and index == 0)
        or (char in _WIKI_AT_EDGE and not _inside_word_or_alone(before, after))
    )
    return "\\" + char if starts_markup else char


def render_jira_comment(
    target: Target, statuses: list[KRStatus], cycle: Cycle, comment_format: str = "auto"
) -> str:
    """The body planned for a Jira target: the wiki markup and, unless `writeback.jira.format`
    is `wiki`, the ADF document after `ADF_SEPARATOR` (one line of JSON). The connector
    sends one of them: ADF through REST v3 on Jira Cloud, wiki markup through v2 on
    Server/Data Center. The content hash covers what the format setting asks for, so
    switching between `wiki` and `auto`/`adf` rewrites each comment once."""
    wiki = render_jira_wiki(target, statuses, cycle)
    if comment_format == "wiki":
        return wiki
    document = render_adf_comment(target, statuses, cycle)
    return (
        wiki
        + ADF_SEPARATOR
        + json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    )


def render_jira_wiki(target: Target, statuses: list[KRStatus], cycle: Cycle) -> str:
    """The comment in wiki markup alone (REST v2)."""
    content = comment_content(target, statuses, cycle)
    lines = [f"h3. {HEADING}", "||" + "||".join(COLUMNS) + "||"]
    for line in content.lines:
        cells = [
            f"*{escape_wiki(line.kr_id)}* {escape_wiki(line.title)}",
            escape_wiki(line.outcome),
            escape_wiki(line.delivery),
            escape_wiki(line.expected),
            f"{_HEALTH_ICONS[line.health]} {line.health_word}",
            escape_wiki(line.forecast),
        ]
        lines.append("|" + "|".join(cells) + "|")
    lines += ["", escape_wiki(content.summary), escape_wiki(content.explanation)]
    lines += [f"(!) {escape_wiki(warning)}" for warning in content.warnings]
    lines += ["----", f"_{escape_wiki(content.cycle)} {FOOTER_NOTE}_"]
    return "\n".join(lines)


# How a KR issue's description names each source's work.
SOURCE_NAMES = {"jira": "Jira", "github": "GitHub", "asana": "Asana"}


def render_kr_issue_description(
    kr_id: str, items: Sequence[WorkItem], comment_format: str = "auto"
) -> str:
    """The description planned for a KR's own issue (`writeback.jira.kr_issues`): the work
    linked to the KR per source, like a comment body: the wiki markup and, unless the
    format is `wiki`, the ADF document after `ADF_SEPARATOR` (the connector sends ADF
    through v3 on Cloud, wiki markup through v2 otherwise)."""
    wiki = render_kr_issue_wiki(kr_id, items)
    if comment_format == "wiki":
        return wiki
    document = render_adf_kr_description(kr_id, items, SOURCE_NAMES)
    return (
        wiki
        + ADF_SEPARATOR
        + json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    )


def render_kr_issue_wiki(kr_id: str, items: Sequence[WorkItem]) -> str:
    """The KR issue's description in wiki markup: titles escaped (inert), each key a link
    to its item when the URL is safe to put in `[key|url]`."""
    lines = [escape_wiki(KR_DESCRIPTION_INTRO.format(kr_id=kr_id))]
    groups = work_by_source(items, SOURCE_NAMES)
    if not groups:
        lines.append(escape_wiki(KR_DESCRIPTION_NONE))
    for name, found in groups:
        lines.append(f"h4. {escape_wiki(name)}")
        for item in found:
            key = escape_wiki(item.key) or "?"
            url = safe_url(item.url)
            shown = f"[{key}|{url}]" if url is not None else key
            title = escape_wiki(item.title)
            lines.append(f"* {shown} {title}" if title else f"* {shown}")
    return "\n".join(lines)
