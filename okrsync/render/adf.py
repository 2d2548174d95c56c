"""The managed Jira comment as an Atlassian Document Format document (Jira Cloud, REST v3).

ADF needs no escaping: every piece of text is a `text` node, which Jira shows as typed
(no mention, link or macro can come out of it), and no mark or link is ever made from
text. Text is still put on one line, as in every other markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from okrsync.domain import Cycle, Health, KRStatus, Target, WorkItem
from okrsync.render._comment import (
    COLUMNS,
    FOOTER_NOTE,
    HEADING,
    CommentContent,
    KRLine,
    comment_content,
)

Node = dict[str, Any]

# The colours of a `status` lozenge, by health (Jira's own palette).
HEALTH_COLOURS = {
    Health.ON_TRACK: "green",
    Health.AT_RISK: "yellow",
    Health.OFF_TRACK: "red",
    Health.NO_DATA: "neutral",
}


def render_adf_comment(target: Target, statuses: list[KRStatus], cycle: Cycle) -> Node:
    """The whole document (`{"version": 1, "type": "doc", ...}`); deterministic for the
    same numbers, like every comment renderer."""
    return adf_document(comment_content(target, statuses, cycle))


def adf_document(content: CommentContent) -> Node:
    blocks: list[Node] = [{"type": "heading", "attrs": {"level": 3}, "content": _text(HEADING)}]
    if content.lines:  # no table of a header alone
        header = {"type": "tableRow", "content": [_cell("tableHeader", c) for c in COLUMNS]}
        rows = [_row(line) for line in content.lines]
        blocks.append({"type": "table", "content": [header, *rows]})
    blocks.append(_paragraph(content.summary))
    blocks.append(_paragraph(content.explanation))
    blocks += [_paragraph(f"⚠️ {warning}") for warning in content.warnings]
    blocks.append({"type": "rule"})
    blocks.append(_paragraph(f"{content.cycle} {FOOTER_NOTE}"))
    return {"version": 1, "type": "doc", "content": blocks}


def _row(line: KRLine) -> Node:
    key_result = {
        "type": "paragraph",
        "content": [
            *_text(_one_line(line.kr_id), strong=True),
            *_text(f" {title}" if (title := _one_line(line.title)) else ""),
        ],
    }
    health = {
        "type": "paragraph",
        "content": [
            {
                "type": "status",
                "attrs": {
                    "text": line.health_word,
                    "color": HEALTH_COLOURS[line.health],
                },
            }
        ],
    }
    cells = [
        {"type": "tableCell", "content": [key_result]},
        _cell("tableCell", line.outcome),
        _cell("tableCell", line.delivery),
        _cell("tableCell", line.expected),
        {"type": "tableCell", "content": [health]},
        _cell("tableCell", line.forecast),
    ]
    return {"type": "tableRow", "content": cells}


def _cell(kind: str, text: str) -> Node:
    return {"type": kind, "content": [_paragraph(text)]}


def _paragraph(text: str) -> Node:
    return {"type": "paragraph", "content": _text(_one_line(text))}


def _text(text: str, *, strong: bool = False) -> list[Node]:
    """One text node, or none for empty text (ADF refuses an empty `text`). The only
    mark is the renderer's own `strong` on a KR id; text never makes one."""
    if not text:
        return []
    node: Node = {"type": "text", "text": text}
    if strong:
        node["marks"] = [{"type": "strong"}]
    return [node]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def adf_text(document: Any) -> str:
    """The text a reader sees in a document, blocks on their own lines: what tests and
    the sandbox's v2 reads look for (KR ids, numbers)."""
    lines: list[str] = []
    for block in _content(document):
        lines.append(_inline_text(block))
    return "\n".join(lines)


def _inline_text(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "status":
        return str((node.get("attrs") or {}).get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind == "tableRow":
        return " | ".join(_inline_text(cell) for cell in _content(node))
    if kind == "table":
        return "\n".join(_inline_text(row) for row in _content(node))
    return "".join(_inline_text(child) for child in _content(node))


def _content(node: Any) -> list[Any]:
    content = node.get("content") if isinstance(node, dict) else None
    return list(content) if isinstance(content, list) else []


# ------------------------------------------------------------------ KR issue descriptions
#
# The description of a KR's own Jira issue (`writeback.jira.kr_issues`): the work linked
# to the KR, per source, each item's key linked to its URL and its title as plain text.

KR_DESCRIPTION_INTRO = "Work linked to {kr_id}, kept by okrsync: edits here are replaced."
KR_DESCRIPTION_NONE = "No work is linked to this key result yet."
# A URL okrsync links to: http(s), nothing that could end the link in any markup.
_SAFE_URL = re.compile(r"https?://[^\s|\[\]{}<>\"'\\^`]+")


def safe_url(url: str) -> str | None:
    """`url` when it can be a link target as it is, else None (the key stays plain text)."""
    return url if _SAFE_URL.fullmatch(url) else None


def work_by_source(
    items: Iterable[WorkItem], names: Mapping[str, str] | None = None
) -> list[tuple[str, list[WorkItem]]]:
    """(source display name, its items by key) per source, sources in name order;
    `names` maps a source's name to how it is shown (else its name)."""
    groups: dict[str, list[WorkItem]] = {}
    for item in sorted(items, key=lambda i: (i.source, i.key)):
        groups.setdefault(item.source, []).append(item)
    return [((names or {}).get(name, name), found) for name, found in groups.items()]


def render_adf_kr_description(
    kr_id: str, items: Sequence[WorkItem], names: Mapping[str, str] | None = None
) -> Node:
    """The KR issue's description as an ADF document: an intro paragraph, then per source
    (`names`: how each is shown) a level-4 heading and a bullet list (key linked to the
    item, title as text)."""
    blocks: list[Node] = [_paragraph(KR_DESCRIPTION_INTRO.format(kr_id=kr_id))]
    groups = work_by_source(items, names)
    if not groups:
        blocks.append(_paragraph(KR_DESCRIPTION_NONE))
    for name, found in groups:
        blocks.append({"type": "heading", "attrs": {"level": 4}, "content": _text(name)})
        entries = [{"type": "listItem", "content": [_work_line(item)]} for item in found]
        blocks.append({"type": "bulletList", "content": entries})
    return {"version": 1, "type": "doc", "content": blocks}


def _work_line(item: WorkItem) -> Node:
    key: Node = {"type": "text", "text": _one_line(item.key) or "?"}
    url = safe_url(item.url)
    if url is not None:
        key["marks"] = [{"type": "link", "attrs": {"href": url}}]
    title = _one_line(item.title)
    return {"type": "paragraph", "content": [key, *_text(f" {title}" if title else "")]}
