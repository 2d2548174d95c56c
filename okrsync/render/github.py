"""The managed GitHub comment, in GitHub-flavoured Markdown, with every piece of text escaped."""

from __future__ import annotations

from okrsync.domain import Cycle, Health, KRStatus, Target
from okrsync.render._comment import COLUMNS, FOOTER_NOTE, HEADING, comment_content
from okrsync.render.status import escape_markdown

_HEALTH_ICONS = {
    Health.ON_TRACK: "🟢",
    Health.AT_RISK: "🟡",
    Health.OFF_TRACK: "🔴",
    Health.NO_DATA: "⚪",
}


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
            f"**{escape_markdown(line.kr_id)}** {escape_markdown(line.title)}",
            escape_markdown(line.outcome),
            escape_markdown(line.delivery),
            escape_markdown(line.expected),
            f"{_HEALTH_ICONS[line.health]} {line.health_word}",
            escape_markdown(line.forecast),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", escape_markdown(content.summary)]
    lines += [f"> ⚠️ {escape_markdown(warning)}" for warning in content.warnings]
    lines += ["", "---", f"<sub>{escape_markdown(content.cycle)} {FOOTER_NOTE}</sub>"]
    return "\n".join(lines)
