"""The managed Jira comment, in wiki markup (REST v2), with every piece of text escaped."""

from __future__ import annotations

import re

from okrsync.domain import SHIPPING_WITHOUT_IMPACT, Cycle, Health, KRStatus, Target
from okrsync.render._numbers import HEALTH_WORDS, metric, percent

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
    lines = [
        "h3. OKR status",
        "||Key result||Outcome||Delivery||Expected by now||Health||Forecast at cycle end||",
    ]
    for status in statuses:
        kr = status.kr
        lines.append(
            "|"
            + "|".join(
                [
                    f"*{escape_wiki(kr.id)}* {escape_wiki(kr.title)}",
                    escape_wiki(
                        f"{percent(status.outcome_progress)} "
                        f"(now {metric(status.current, kr.unit)}; "
                        f"{metric(kr.baseline, kr.unit)} to {metric(kr.target, kr.unit)})"
                    ),
                    escape_wiki(percent(status.delivery_progress)),
                    escape_wiki(percent(status.expected_progress)),
                    f"{_HEALTH_ICONS[status.health]} {HEALTH_WORDS[status.health]}",
                    escape_wiki(metric(status.forecast, kr.unit)),
                ]
            )
            + "|"
        )
    counts = target.leaves
    lines.append("")
    lines.append(
        escape_wiki(
            f"This issue: {counts.done} of {counts.total} work items done, "
            f"{counts.in_progress} in progress, {counts.todo} to do."
        )
    )
    for status in statuses:
        if SHIPPING_WITHOUT_IMPACT in status.flags:
            gap = (status.delivery_progress or 0.0) - max(
                0.0, min(1.0, status.outcome_progress or 0.0)
            )
            lines.append(
                "(!) "
                + escape_wiki(
                    f"{status.kr.id}: shipping without impact, delivery is {gap * 100:.0f} "
                    "points ahead of the metric."
                )
            )
    lines.append("----")
    lines.append(
        "_"
        + escape_wiki(f"Cycle {cycle.name}, {cycle.start} to {cycle.end}.")
        + " Kept up to date by okrsync; edits to this comment are overwritten._"
    )
    return "\n".join(lines)
