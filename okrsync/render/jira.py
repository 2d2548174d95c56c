"""The managed Jira comment, in wiki markup (REST v2), with every piece of text escaped."""

from __future__ import annotations

import re

from okrsync.domain import Cycle, Health, KRStatus, Target
from okrsync.render._comment import COLUMNS, FOOTER_NOTE, HEADING, comment_content

_HEALTH_ICONS = {
    Health.ON_TRACK: "(/)",
    Health.AT_RISK: "(!)",
    Health.OFF_TRACK: "(x)",
    Health.NO_DATA: "(?)",
}
# The characters that start wiki markup: emphasis (*_?-+^~), table cells (|), images (!),
# links and mentions ([~user]), macros ({code}), lists (#) and the escape itself. Only
# these: Jira prints the backslash before any other character.
_WIKI_SPECIAL = re.compile(r"([\\*_?\-+^~|!\[\]{}#])")
# Block markup that is only letters and a dot: "h1. " makes a heading, "bq. " a quote.
_WIKI_BLOCK_START = re.compile(r"^(h[1-6]|bq)\.", re.IGNORECASE)


def escape_wiki(text: str) -> str:
    """Untrusted text as literal characters: no mentions, macros, links or line breaks."""
    single_line = " ".join(text.split())
    escaped = _WIKI_SPECIAL.sub(r"\\\1", single_line)
    return _WIKI_BLOCK_START.sub(r"\1\\.", escaped)


def render_jira_comment(target: Target, statuses: list[KRStatus], cycle: Cycle) -> str:
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
    lines += ["", escape_wiki(content.summary)]
    lines += [f"(!) {escape_wiki(warning)}" for warning in content.warnings]
    lines += ["----", f"_{escape_wiki(content.cycle)} {FOOTER_NOTE}_"]
    return "\n".join(lines)
