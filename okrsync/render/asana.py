"""The managed Asana comment, in Asana's rich text (`html_text`), text escaped where needed.

Asana takes a small XML subset wrapped in `<body>`: it rejects invalid XML and unknown
tags with a 400, has no tables in comments, and strips HTML comments. So each KR is one
list item. (The connector adds the link by which it finds the comment again.)
"""

from __future__ import annotations

import re

from okrsync.domain import Cycle, Health, KRStatus, Target
from okrsync.render._comment import COLUMNS, FOOTER_NOTE, HEADING, KRLine, comment_content

_HEALTH_ICONS = {
    Health.ON_TRACK: "🟢",
    Health.AT_RISK: "🟡",
    Health.OFF_TRACK: "🔴",
    Health.NO_DATA: "⚪",
}
# Characters XML 1.0 forbids outright: Asana would reject the whole comment for one of them.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape_html(text: str) -> str:
    """Text as literal characters on one line: no tags, entities, links or line breaks.

    Only `&` and `<` start markup in XML text (and `>` ends a CDATA section after `]]`),
    so only they are escaped: ids, quotes and numbers stay as written. Asana makes a
    mention only from an `<a data-asana-gid>` tag, so once `<` is escaped an "@name"
    stays plain text.
    """
    single_line = _XML_FORBIDDEN.sub("", " ".join(text.split()))
    escaped = single_line.replace("&", "&amp;").replace("<", "&lt;")
    return escaped.replace("]]>", "]]&gt;")


def render_asana_comment(target: Target, statuses: list[KRStatus], cycle: Cycle) -> str:
    """The whole `<body>`; deterministic for the same numbers (the content hash relies on it)."""
    content = comment_content(target, statuses, cycle, item="task")
    blocks = [f"<strong>{escape_html(HEADING)}</strong>"]
    if content.lines:  # an empty <ul> is not worth a 400 from Asana's validator
        blocks.append("<ul>" + "".join(_kr_item(line) for line in content.lines) + "</ul>")
    blocks.append(escape_html(content.summary))
    blocks.append(escape_html(content.explanation))
    blocks += [f"⚠️ <em>{escape_html(warning)}</em>" for warning in content.warnings]
    blocks += ["<hr/>", _footer(content.cycle)]
    # Asana shows newlines between blocks as line breaks; none go inside a list, where
    # they would be stray text between items.
    return "<body>" + "\n".join(blocks) + "</body>"


def _kr_item(line: KRLine) -> str:
    """One KR as one list item: Asana comments have no tables, so each cell is labelled."""
    health = f"{_HEALTH_ICONS[line.health]} <strong>{escape_html(line.health_word)}</strong>"
    values = (
        escape_html(line.outcome),
        escape_html(line.delivery),
        escape_html(line.expected),
        health,
        escape_html(line.forecast),
    )
    cells = "; ".join(
        f"{escape_html(column)}: {value}" for column, value in zip(COLUMNS[1:], values, strict=True)
    )
    heading = f"<strong>{escape_html(line.kr_id)}</strong> {escape_html(line.title)}"
    return f"<li>{heading} — {cells}</li>"


def _footer(cycle_text: str) -> str:
    return f"<em>{escape_html(cycle_text)} {escape_html(FOOTER_NOTE)}</em>"
