"""`okrsync status`: the report as the JSON contract, a terminal table, or Markdown."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from okrsync.domain import (
    DeliveryForecast,
    Health,
    KRStatus,
    ObjectiveStatus,
    Problem,
    Report,
    Scope,
    Weights,
)
from okrsync.render._numbers import (
    FINAL_WORDS,
    HEALTH_WORDS,
    metric,
    optional_number,
    percent,
    rounded,
)

# rich (~25 ms to import) is loaded by the table and the console only: `--format json`,
# `--format markdown` and `explain` (which reads `weight_text`) never load it.
if TYPE_CHECKING:
    from rich.console import Console, Group
    from rich.text import Text

# Under the table and in Markdown: enough to act on, not a wall of text.
UNMAPPED_SHOWN = 20
PROBLEMS_SHOWN = 10
# One column per number from this width up (a 64-character key result fits at 160);
# below it the secondary numbers stack under the primary ones.
WIDE_TABLE = 130
# Output to a pipe or a file without $COLUMNS; and the narrowest $COLUMNS taken at its word.
PIPED_WIDTH = 80
MIN_WIDTH = 40

_HEALTH_STYLES = {
    Health.ON_TRACK: "green",
    Health.AT_RISK: "yellow",
    Health.OFF_TRACK: "red",
    Health.NO_DATA: "dim",
}


def report_to_json(report: Report) -> dict[str, Any]:
    """The `status --format json` shape of docs/design.md; fractions, not percentages."""
    cycle = report.cycle
    return {
        "cycle": {
            "name": cycle.name,
            "start": cycle.start.isoformat(),
            "end": cycle.end.isoformat(),
            "as_of": _instant(report.as_of),
        },
        # Roots only: an objective with a parent sits in its parent's `children`.
        "objectives": [_objective_json(report, objective) for objective in report.roots()],
        "unmapped": {
            "count": report.unmapped_count,
            "items": [str(ref) for ref in report.unmapped],
        },
        "problems": [problem_json(problem) for problem in report.problems],
    }


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _objective_json(report: Report, objective: ObjectiveStatus) -> dict[str, Any]:
    return {
        "id": objective.objective.id,
        "title": objective.objective.title,
        "score": rounded(objective.score),
        "health": objective.health.value,
        "key_results": [_kr_json(status) for status in objective.key_results],
        "children": [_objective_json(report, child) for child in report.children_of(objective)],
    }


def _scope_json(scope: Scope | None) -> dict[str, Any] | None:
    if scope is None:
        return None
    return {
        "start_weight": rounded(scope.start_weight),
        "weight": rounded(scope.weight),
        "growth": rounded(scope.growth),
    }


def _delivery_forecast_json(forecast: DeliveryForecast | None) -> dict[str, Any] | None:
    if forecast is None:
        return None
    return {
        "p50": None if forecast.p50 is None else forecast.p50.isoformat(),
        "p85": None if forecast.p85 is None else forecast.p85.isoformat(),
        "remaining": rounded(forecast.remaining),
    }


def problem_json(problem: Problem) -> dict[str, str]:
    return {"item": str(problem.item), "problem": problem.kind, "detail": problem.detail}


def _kr_json(status: KRStatus) -> dict[str, Any]:
    kr = status.kr
    return {
        "id": kr.id,
        "title": kr.title,
        "unit": kr.unit,
        "baseline": optional_number(kr.baseline),
        "target": optional_number(kr.target),
        "current": optional_number(status.current),
        "outcome_progress": rounded(status.outcome_progress),
        "delivery_progress": rounded(status.delivery_progress),
        "expected_progress": rounded(status.expected_progress),
        "health": status.health.value,
        "forecast": rounded(status.forecast, 2),
        "flags": list(status.flags),
        "items": {
            "total": status.items.total,
            "done": status.items.done,
            "in_progress": status.items.in_progress,
            "todo": status.items.todo,
        },
        "weight": {
            # Rounded like the fractions: points such as 0.1 + 0.2 read as 0.3.
            "done": rounded(status.weight.done),
            "total": rounded(status.weight.total),
        },
        "kind": kr.kind,
        "grading": kr.grading,
        "range": None
        if kr.range is None
        else {
            "min": optional_number(kr.range.minimum),
            "max": optional_number(kr.range.maximum),
        },
        "score": rounded(status.score),
        "final": status.final,
        "samples": status.samples,
        "last_sample_at": _instant(status.last_sample_at) if status.last_sample_at else None,
        "metric_error": status.metric_error,
        "scope": _scope_json(status.scope),
        "delivery_forecast": _delivery_forecast_json(status.delivery_forecast),
    }


def weight_text(weights: Weights) -> str:
    """`31/47 pts` or `12/16 items`: the weight behind delivery progress, checkable by hand."""
    unit = "items" if weights.mode == "count" else "pts"
    return f"{_trimmed(weights.done)}/{_trimmed(weights.total)} {unit}"


def _trimmed(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _more(shown: int, total: int) -> list[str]:
    return [f"… and {total - shown} more"] if total > shown else []


def problem_lines(report: Report, limit: int = PROBLEMS_SHOWN) -> list[str]:
    """The first `limit` problems as `ref  kind  detail`, then "… and N more"."""
    shown = report.problems[:limit]
    lines = [f"{problem.item}  {problem.kind}  {problem.detail}" for problem in shown]
    return lines + _more(len(shown), len(report.problems))


def unmapped_lines(report: Report, limit: int = UNMAPPED_SHOWN) -> list[str]:
    """The first `limit` unmapped refs, then "… and N more" (counted from `unmapped_count`)."""
    shown = report.unmapped[:limit]
    return [str(ref) for ref in shown] + _more(len(shown), report.unmapped_count)


def report_table(report: Report, width: int | None = None) -> Group:
    """The table for a screen `width` columns wide (None: wide).

    From `WIDE_TABLE` columns up, one column per number; below, the secondary numbers
    stack under the primary ones (Current over Forecast; Outcome, Delivery, Expected;
    Done over Weight) and titles wrap, so nothing is lost at 80 columns.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    cycle = report.cycle
    table = Table(
        title=f"{cycle.name} ({cycle.start} to {cycle.end}) as of "
        f"{report.as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        title_justify="left",
    )
    # Titles wrap (a long word folds); they never push a number out of the table.
    table.add_column("Key result", overflow="fold", max_width=64, ratio=1)
    wide = width is None or width >= WIDE_TABLE
    groups = _WIDE_COLUMNS if wide else _STACKED_COLUMNS
    for group in groups:
        header = "\n".join(group)
        # Numbers keep their width; only the titles give way on a narrow screen.
        table.add_column(
            header,
            justify="right",
            no_wrap=True,
            min_width=max(len(name) for name in group),
        )
    for objective, depth in objectives_in_tree_order(report):
        indent = "  " * depth
        values: dict[str, str | Text] = {
            "Outcome": percent(objective.score),
            "Health": _health_text(objective.health),
        }
        table.add_row(
            Text(f"{indent}{objective.objective.id}  {objective.objective.title}", style="bold"),
            *_cells(groups, values),
        )
        for status in objective.key_results:
            flags = "".join(f"\n{indent}    ⚑ {flag}" for flag in status.flags)
            values = {
                "Current": metric(status.current, status.kr.unit),
                "Outcome": percent(status.outcome_progress),
                "Delivery": percent(status.delivery_progress),
                "Expected": percent(status.expected_progress),
                "Health": _kr_health_text(status),
                "Forecast": metric(status.forecast, status.kr.unit),
                "Done": f"{status.items.done}/{status.items.total}",
                "Weight": weight_text(status.weight),
            }
            table.add_row(
                Text(f"{indent}  {status.kr.id}  {status.kr.title}{flags}"),
                *_cells(groups, values),
            )
        table.add_section()
    footer = [Text(f"Unmapped work items: {report.unmapped_count}", style="dim")]
    footer += [Text(f"  {line}", style="dim") for line in unmapped_lines(report)]
    if report.problems:
        footer.append(Text(f"Mapping problems: {len(report.problems)}", style="yellow"))
        footer += [Text(f"  {line}") for line in problem_lines(report)]
    return Group(table, *footer)


_WIDE_COLUMNS: tuple[tuple[str, ...], ...] = (
    ("Current",),
    ("Outcome",),
    ("Delivery",),
    ("Expected",),
    ("Health",),
    ("Forecast",),
    ("Done",),
    ("Weight",),
)
_STACKED_COLUMNS: tuple[tuple[str, ...], ...] = (
    ("Current", "Forecast"),
    ("Outcome", "Delivery", "Expected"),
    ("Health",),
    ("Done", "Weight"),
)


def _cells(groups: tuple[tuple[str, ...], ...], values: dict[str, str | Text]) -> list[Text]:
    """One cell per column group: its values one under another, blank where there is none."""
    from rich.text import Text

    cells = []
    for group in groups:
        parts = [values.get(name, "") for name in group]
        while len(parts) > 1 and parts[-1] == "":  # an objective's row stays one line
            parts.pop()
        cells.append(Text("\n").join(Text(p) if isinstance(p, str) else p for p in parts))
    return cells


def report_console() -> Console:
    """The terminal's own width; piped or redirected, `$COLUMNS` if set, else 80.

    Text is shown as written: no console markup, no emoji codes. A cycle named
    `Q4 [/draft]` is its name, not a closing tag (rich refused it: the command failed), and
    rich's table of emoji codes (~2 ms to import) stays unloaded."""
    from rich.console import Console

    console = Console(markup=False, emoji=False)
    if console.is_terminal:
        return console
    return Console(width=piped_width(os.environ.get("COLUMNS")), markup=False, emoji=False)


def piped_width(columns: str | None) -> int:
    """`$COLUMNS` when it is a sensible width, else 80."""
    if columns is not None and columns.strip().isdigit() and int(columns) >= MIN_WIDTH:
        return int(columns)
    return PIPED_WIDTH


def _health_text(health: Health) -> Text:
    from rich.text import Text

    return Text(HEALTH_WORDS[health], style=_HEALTH_STYLES[health])


def _kr_health_text(status: KRStatus) -> Text:
    from rich.text import Text

    return Text(kr_health_word(status), style=_HEALTH_STYLES[status.health])


def kr_health_word(status: KRStatus) -> str:
    """`On track`, or once the cycle ended its final verdict: `Achieved (final)`."""
    if status.final is not None:
        return f"{FINAL_WORDS[status.final]} (final)"
    return HEALTH_WORDS[status.health]


def objectives_in_tree_order(report: Report) -> list[tuple[ObjectiveStatus, int]]:
    """Every objective with its depth: each root, then its children below it, depth first."""
    ordered: list[tuple[ObjectiveStatus, int]] = []

    def visit(objective: ObjectiveStatus, depth: int) -> None:
        ordered.append((objective, depth))
        for child in report.children_of(objective):
            visit(child, depth + 1)

    for root in report.roots():
        visit(root, 0)
    return ordered


def report_markdown(report: Report) -> str:
    cycle = report.cycle
    lines = [
        f"# {escape_markdown(cycle.name)}: OKR status",
        "",
        f"{cycle.start} to {cycle.end}, as of {report.as_of.astimezone(UTC):%Y-%m-%d %H:%M} UTC.",
    ]
    for objective, depth in objectives_in_tree_order(report):
        parent = objective.objective.parent
        part_of = f" Part of {escape_markdown(parent)}." if parent is not None else ""
        lines += [
            "",
            f"{'#' * min(2 + depth, 6)} {escape_markdown(objective.objective.id)}: "
            f"{escape_markdown(objective.objective.title)}",
            "",
            f"Score {percent(objective.score)}, {HEALTH_WORDS[objective.health].lower()}.{part_of}",
            "",
            "| Key result | Current | Outcome | Delivery | Expected | Health | Forecast "
            "| Items done | Weight done |",
            "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
        ]
        for status in objective.key_results:
            flags = "".join(f" ⚑ {flag}" for flag in status.flags)
            lines.append(
                f"| {escape_markdown(status.kr.id)} {escape_markdown(status.kr.title)}{flags} "
                f"| {escape_markdown(metric(status.current, status.kr.unit))} "
                f"| {percent(status.outcome_progress)} | {percent(status.delivery_progress)} "
                f"| {percent(status.expected_progress)} | {kr_health_word(status)} "
                f"| {escape_markdown(metric(status.forecast, status.kr.unit))} "
                f"| {status.items.done}/{status.items.total} | {weight_text(status.weight)} |"
            )
    lines += ["", f"Unmapped work items: {report.unmapped_count}.", ""]
    if report.problems:
        lines += [f"Mapping problems: {len(report.problems)}.", ""]
        shown = report.problems[:PROBLEMS_SHOWN]
        lines += [
            f"- {escape_markdown(str(problem.item))} {escape_markdown(problem.kind)}: "
            f"{escape_markdown(problem.detail)}"
            for problem in shown
        ]
        lines += [f"- {line}" for line in _more(len(shown), len(report.problems))]
        lines.append("")
    return "\n".join(lines)


def escape_markdown(text: str) -> str:
    """Literal text for GitHub-flavoured Markdown: no mentions, links, HTML or table breaks."""
    single_line = " ".join(text.split())
    # `&` too: an entity such as &#64; would otherwise render as a character (an @).
    escaped = "".join("\\" + ch if ch in "\\`*_{}[]()<>#+-.!|~@&" else ch for ch in single_line)
    # A backslash does not stop GitHub linking @user; a word joiner (U+2060) after @ does.
    return escaped.replace("\\@", "@\u2060")
