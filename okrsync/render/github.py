"""The managed GitHub comment, in GitHub-flavoured Markdown, text escaped only where needed."""

from __future__ import annotations

import re

from okrsync.domain import Cycle, Health, KRStatus, Target
from okrsync.render._comment import COLUMNS, FOOTER_NOTE, HEADING, comment_content

_HEALTH_ICONS = {
    Health.ON_TRACK: "🟢",
    Health.AT_RISK: "🟡",
    Health.OFF_TRACK: "🔴",
    Health.NO_DATA: "⚪",
}


# Characters that start GitHub Markdown wherever they stand: escapes, code, emphasis
# (`*` even inside a word), links and images, HTML, table cells, strikethrough, and `#`
# (GitHub links `#12` to an issue and notes the reference there).
_MD_ALWAYS = frozenset("\\`*[]|~#")
# What starts a block only at the start of a line (headings, lists, quotes, rules).
_MD_LINE_START = frozenset("+-=>")
_ORDERED_LIST_START = re.compile(r"^(\d{1,9})([.)])(?= |$)")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


# Every character `escape_github` may change, wherever it stands: the others are kept as
# they are, so only these are looked at (a comment's text is mostly plain).
_MD_CANDIDATES = re.compile("[" + re.escape("".join(sorted(_MD_ALWAYS | _MD_LINE_START))) + "@<_&]")


def escape_github(text: str) -> str:
    """Text as literal characters on one line of GitHub-flavoured Markdown: a backslash
    only before a character that would start markup where it stands, so `CS-2`, `ONB_1`
    and `21.44 min` read (and are found by search) as written. No mention, link, HTML,
    emphasis or table break can start; the text may stand at the start of a line."""
    chars = " ".join(text.split())
    # "1. " or "1) " at the start of a line begins an ordered list.
    return _ORDERED_LIST_START.sub(r"\1\\\2", _MD_CANDIDATES.sub(_escape_github_at, chars))


def _escape_github_at(match: re.Match[str]) -> str:
    """One candidate character of `escape_github`'s text, escaped where it stands."""
    chars, index, char = match.string, match.start(), match.group()
    if char == "@":
        # A backslash does not stop GitHub linking @user; a word joiner after @ does.
        return "@\u2060"
    if char == "<":
        # HTML and autolinks; as an entity, so that no `<!-- okrsync:managed -->` (the
        # connector's marker) can be spelt by text, escaped or not.
        return "&lt;"
    before = chars[index - 1] if index else ""
    after = chars[index + 1] if index + 1 < len(chars) else ""
    starts_markup = (
        char in _MD_ALWAYS
        or (char in _MD_LINE_START and index == 0)
        # `_` inside a word (ONB_1) is never emphasis in CommonMark.
        or (char == "_" and not (before.isalnum() and after.isalnum()))
        # An entity (&#64; &lt;) would turn into the character it names.
        or (char == "&" and _ENTITY.match(chars, index) is not None)
    )
    return "\\" + char if starts_markup else char


def render_github_comment(target: Target, statuses: list[KRStatus], cycle: Cycle) -> str:
    content = comment_content(target, statuses, cycle)
    lines = [
        f"### {HEADING}",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for line in content.lines:
        cells = [
            f"**{escape_github(line.kr_id)}** {escape_github(line.title)}",
            escape_github(line.outcome),
            escape_github(line.delivery),
            escape_github(line.expected),
            f"{_HEALTH_ICONS[line.health]} {line.health_word}",
            escape_github(line.forecast),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", escape_github(content.summary), "", escape_github(content.explanation)]
    lines += [f"> ⚠️ {escape_github(warning)}" for warning in content.warnings]
    lines += ["", "---", f"<sub>{escape_github(content.cycle)} {FOOTER_NOTE}</sub>"]
    return "\n".join(lines)
