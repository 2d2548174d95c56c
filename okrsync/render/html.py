"""`okrsync report --html`: the report as one self-contained HTML page.

Pure: the Report and the history behind it (samples, KR snapshots, work items) in, one
string out. Inline CSS (light and dark, printable) and charts as inline SVG drawn here,
so the page needs no script and no network. Every piece of untrusted text (titles,
labels, keys, URLs) goes through `html.escape`; only http(s) URLs become links, and
they are the only `href` on the page besides in-page anchors.

Every number shown carries `data-kr`/`data-objective`, `data-field` (its path in
`status --format json`) and `data-value` (the JSON value, rounded the same way), so a
test or a script can check the page against the JSON contract.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from urllib.parse import urlsplit

from okrsync.domain import (
    Allocation,
    ItemRef,
    KeyResult,
    KRSnapshot,
    KRStatus,
    MetricSample,
    ObjectiveStatus,
    Report,
    WorkItem,
)
from okrsync.domain.progress import cycle_bounds
from okrsync.render._numbers import (
    FINAL_WORDS,
    HEALTH_WORDS,
    metric,
    optional_number,
    percent,
    plain_number,
    rounded,
)
from okrsync.render.status import kr_health_word

# Chart geometry, in SVG user units (the SVG scales to its box).
CHART_WIDTH = 360
CHART_HEIGHT = 150
_LEFT, _RIGHT, _TOP, _BOTTOM = 46, 8, 10, 22


@dataclass(frozen=True, slots=True)
class KRHistory:
    """What the page shows of one KR besides its status: its samples over the cycle (up
    to the report's `as_of`), its KR snapshots (done and total weight per cycle run) and
    the work items mapped to it, each sorted as it should be listed."""

    samples: Sequence[MetricSample] = ()
    snapshots: Sequence[KRSnapshot] = ()
    items: Sequence[WorkItem] = ()


def render_report_html(
    report: Report,
    history: Mapping[str, KRHistory],
    items: Mapping[ItemRef, WorkItem],
    *,
    generated_at: datetime | None = None,
    allocation: Allocation | None = None,
) -> str:
    """The whole page. `history` is keyed by KR id (as in the config); `items` holds at
    least the unmapped items, for their titles and links; `allocation`, when given, adds
    the Allocation section (where the weight in flight goes)."""
    cycle = report.cycle
    as_of = report.as_of.astimezone(UTC)
    title = f"{cycle.name}: OKR report"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        # Defence in depth: even a bug in the escaping could not load or run anything.
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f"<title>{_text(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_text(title)}</h1>",
        f'<p class="meta">{cycle.start} to {cycle.end}, as of '
        f'<time datetime="{_instant(as_of)}">{as_of:%Y-%m-%d %H:%M} UTC</time>'
        + (
            ""
            if generated_at is None
            else f", generated {generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        )
        + ".</p>",
        _summary(report),
        "</header>",
        "<main>",
    ]
    for root in report.roots():
        parts.append(_objective(report, root, history, depth=0))
    if allocation is not None:
        parts.append(_allocation(report, allocation))
    parts.append(_unmapped(report, items))
    parts.append(_problems(report))
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


# ------------------------------------------------------------------------- helpers


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _data(owner: str, owner_id: str, field: str, value: object, shown: str) -> str:
    """A number as shown, with its JSON path and value for checking it."""
    return (
        f'<span class="num" data-{owner}="{_text(owner_id)}" data-field="{field}" '
        f'data-value="{_text(json.dumps(value))}">{_text(shown)}</span>'
    )


def _kr_num(kr_id: str, field: str, value: object, shown: str) -> str:
    return _data("kr", kr_id, field, value, shown)


def safe_url(url: str) -> str | None:
    """The URL if it is an absolute http(s) URL, else None (never a link)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def _link(url: str, text: str) -> str:
    safe = safe_url(url)
    if safe is None:
        return _text(text)
    return f'<a href="{_text(safe)}" rel="noopener noreferrer">{_text(text)}</a>'


def anchor(kr_id: str) -> str:
    """The page anchor of a KR: readable, and safe in an attribute and a fragment."""
    slug = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in kr_id)
    return f"kr-{slug}"


def _health_class(value: str) -> str:
    return value.replace("_", "-")


# ------------------------------------------------------------------------- sections


def _summary(report: Report) -> str:
    rows = []
    for status in _all_krs(report):
        kr = status.kr
        rows.append(
            f'<tr><td><a href="#{anchor(kr.id)}"><code>{_text(kr.id)}</code></a></td>'
            f"<td>{_text(kr.title)}</td>"
            f'<td class="r">{percent(status.outcome_progress)}</td>'
            f'<td class="r">{percent(status.delivery_progress)}</td>'
            f'<td><span class="badge {_health_class(status.health.value)}">'
            f"{_text(kr_health_word(status))}</span></td></tr>"
        )
    if not rows:
        return '<p class="meta">No key results in the config.</p>'
    return (
        '<table class="summary"><thead><tr><th>Key result</th><th></th>'
        '<th class="r">Outcome</th><th class="r">Delivery</th><th>Health</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _all_krs(report: Report) -> list[KRStatus]:
    found: list[KRStatus] = []

    def visit(objective: ObjectiveStatus) -> None:
        found.extend(objective.key_results)
        for child in report.children_of(objective):
            visit(child)

    for root in report.roots():
        visit(root)
    return found


def _objective(
    report: Report, status: ObjectiveStatus, history: Mapping[str, KRHistory], depth: int
) -> str:
    objective = status.objective
    level = min(2 + depth, 6)
    owner = f" · owner {_text(objective.owner)}" if objective.owner else ""
    parts = [
        f'<section class="objective" data-objective-id="{_text(objective.id)}">',
        f"<h{level}><code>{_text(objective.id)}</code> {_text(objective.title)}</h{level}>",
        '<p class="meta">Score '
        + _data("objective", objective.id, "score", rounded(status.score), percent(status.score))
        + f' <span class="badge {_health_class(status.health.value)}">'
        f"{_text(HEALTH_WORDS[status.health])}</span>{owner}</p>",
    ]
    for kr_status in status.key_results:
        parts.append(_key_result(report, kr_status, history.get(kr_status.kr.id, KRHistory())))
    for child in report.children_of(status):
        parts.append(_objective(report, child, history, depth + 1))
    parts.append("</section>")
    return "\n".join(parts)


def _key_result(report: Report, status: KRStatus, history: KRHistory) -> str:
    kr = status.kr
    n = kr.id
    unit = kr.unit
    health = kr_health_word(status)
    grading = " · aspirational" if kr.grading == "aspirational" else ""
    rows: list[tuple[str, str]] = []
    if kr.range is not None:
        target_text = (
            _kr_num(
                n, "range.min", optional_number(kr.range.minimum), metric(kr.range.minimum, unit)
            )
            + " – "
            + _kr_num(
                n, "range.max", optional_number(kr.range.maximum), metric(kr.range.maximum, unit)
            )
        )
    else:
        target_text = _kr_num(n, "target", optional_number(kr.target), metric(kr.target, unit))
    rows.append(
        (
            "Baseline → current → target",
            _kr_num(n, "baseline", optional_number(kr.baseline), metric(kr.baseline, unit))
            + " → "
            + _kr_num(n, "current", optional_number(status.current), metric(status.current, unit))
            + " → "
            + target_text,
        )
    )
    rows.append(
        (
            "Outcome vs expected",
            _kr_num(
                n,
                "outcome_progress",
                rounded(status.outcome_progress),
                percent(status.outcome_progress),
            )
            + " vs "
            + _kr_num(
                n,
                "expected_progress",
                rounded(status.expected_progress),
                percent(status.expected_progress),
            )
            + " · score "
            + _kr_num(n, "score", rounded(status.score), percent(status.score)),
        )
    )
    weight_unit = "items" if status.weight.mode == "count" else "pts"
    rows.append(
        (
            "Delivery",
            _kr_num(
                n,
                "delivery_progress",
                rounded(status.delivery_progress),
                percent(status.delivery_progress),
            )
            + " · "
            + _kr_num(n, "weight.done", rounded(status.weight.done), _trim(status.weight.done))
            + "/"
            + _kr_num(n, "weight.total", rounded(status.weight.total), _trim(status.weight.total))
            + f" {weight_unit} · "
            + _kr_num(n, "items.done", status.items.done, str(status.items.done))
            + "/"
            + _kr_num(n, "items.total", status.items.total, str(status.items.total))
            + " items done",
        )
    )
    scope = status.scope
    if scope is not None:
        growth = (
            "–"
            if scope.growth is None
            else f"{'+' if scope.growth > 0 else ''}{percent(scope.growth)}"
        )
        start = "–" if scope.start_weight is None else _trim(scope.start_weight)
        rows.append(
            (
                "Scope growth",
                _kr_num(n, "scope.start_weight", rounded(scope.start_weight), start)
                + " → "
                + _kr_num(n, "scope.weight", rounded(scope.weight), _trim(scope.weight))
                + f" {weight_unit} ("
                + _kr_num(n, "scope.growth", rounded(scope.growth), growth)
                + ")",
            )
        )
    rows.append(
        (
            "Metric forecast at cycle end",
            _kr_num(n, "forecast", rounded(status.forecast, 2), metric(status.forecast, unit)),
        )
    )
    forecast = status.delivery_forecast
    if forecast is not None:
        p50 = None if forecast.p50 is None else forecast.p50.isoformat()
        p85 = None if forecast.p85 is None else forecast.p85.isoformat()
        rows.append(
            (
                "Delivery forecast",
                "p50 "
                + _kr_num(n, "delivery_forecast.p50", p50, p50 or "not within the horizon")
                + " · p85 "
                + _kr_num(n, "delivery_forecast.p85", p85, p85 or "not within the horizon")
                + " · remaining "
                + _kr_num(
                    n,
                    "delivery_forecast.remaining",
                    rounded(forecast.remaining),
                    _trim(forecast.remaining),
                )
                + f" {weight_unit}",
            )
        )
    if status.final is not None:
        rows.append(
            (
                "Final",
                f'<strong data-kr="{_text(n)}" data-field="final" '
                f'data-value="{_text(json.dumps(status.final))}">'
                f"{_text(FINAL_WORDS[status.final])}</strong>",
            )
        )
    last = (
        "–"
        if status.last_sample_at is None
        else f"{status.last_sample_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    )
    rows.append(
        (
            "Samples",
            _kr_num(n, "samples", status.samples, str(status.samples)) + f" · last {last}",
        )
    )
    flags = "".join(
        f'<li class="flag" data-flag="{_text(flag)}">⚑ {_text(flag)}</li>' for flag in status.flags
    )
    error = (
        ""
        if status.metric_error is None
        else f'<p class="error">Metric error: {_text(status.metric_error)}</p>'
    )
    details = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    return "\n".join(
        [
            f'<article class="kr {_health_class(status.health.value)}" id="{anchor(n)}" '
            f'data-kr-id="{_text(n)}">',
            f'<h3 class="kr-title"><code class="kr-id">{_text(n)}</code> {_text(kr.title)}</h3>',
            f'<p class="meta">{_text(kr.kind)}{grading} · '
            f'<span class="badge {_health_class(status.health.value)}" data-kr="{_text(n)}" '
            f'data-field="health" data-value="{_text(json.dumps(status.health.value))}">'
            f"{_text(health)}</span></p>",
            f'<ul class="flags">{flags}</ul>' if flags else "",
            error,
            f'<table class="facts">{details}</table>',
            '<div class="charts">',
            samples_chart(report, kr, status, history.samples),
            burnup_chart(report, status, history.snapshots),
            "</div>",
            _kr_items(history.items),
            "</article>",
        ]
    )


def _trim(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _item_line(item: WorkItem) -> str:
    return (
        f"<li>{_link(item.url, str(item.ref))} {_text(item.title)} "
        f'<span class="meta">({_text(item.status)}, {_text(item.bucket.value)})</span></li>'
    )


def _kr_items(items: Sequence[WorkItem]) -> str:
    if not items:
        return '<p class="meta">No work items mapped.</p>'
    lines = "".join(_item_line(item) for item in items)
    return (
        f"<details open><summary>{len(items)} mapped work item"
        f'{"" if len(items) == 1 else "s"}</summary><ul class="items">{lines}</ul></details>'
    )


def _unmapped(report: Report, items: Mapping[ItemRef, WorkItem]) -> str:
    lines = []
    for ref in report.unmapped:
        item = items.get(ref)
        if item is None:
            lines.append(f"<li>{_text(ref)}</li>")
        else:
            lines.append(_item_line(item))
    count = _data(
        "report", "report", "unmapped.count", report.unmapped_count, str(report.unmapped_count)
    )
    body = f'<ul class="items">{"".join(lines)}</ul>' if lines else ""
    return f'<section class="unmapped"><h2>Unmapped work items: {count}</h2>{body}</section>'


def _problems(report: Report) -> str:
    if not report.problems:
        return ""
    lines = "".join(
        f"<li><code>{_text(problem.item)}</code> {_text(problem.kind)}: "
        f"{_text(problem.detail)}</li>"
        for problem in report.problems
    )
    return (
        f'<section class="problems"><h2>Mapping problems: {len(report.problems)}</h2>'
        f"<ul>{lines}</ul></section>"
    )


# --------------------------------------------------------------------------- allocation

# The stacked bar, in SVG user units; it stretches to the page's width.
ALLOCATION_BAR_WIDTH = 1000
ALLOCATION_BAR_HEIGHT = 24
# Objectives take the colours in turn (--a0 ... --a7); their KRs differ in opacity.
_PALETTE_SIZE = 8
_KR_OPACITY = ("1", "0.7", "0.45")


def _alloc_num(owner: str, field: str, value: object, shown: str) -> str:
    """An allocation number as shown, with its value. Not a `status --format json` number
    (the JSON has no allocation), so it carries `data-allocation*`, never `data-field`."""
    return (
        f'<span class="num" data-allocation="{_text(owner)}" data-allocation-field="{field}" '
        f'data-allocation-value="{_text(json.dumps(value))}">{_text(shown)}</span>'
    )


def _points(difference: float | None) -> str:
    """A difference in percentage points: +5 pp, -10 pp, 0 pp."""
    if difference is None:
        return "–"
    text = f"{difference:+.0f}"
    return f"{'0' if text in ('+0', '-0') else text} pp"


def _objectives_in_page_order(report: Report) -> list[tuple[ObjectiveStatus, int]]:
    """Every objective with its depth, in the order the page shows them (the tree)."""
    found: list[tuple[ObjectiveStatus, int]] = []

    def visit(status: ObjectiveStatus, depth: int) -> None:
        found.append((status, depth))
        for child in report.children_of(status):
            visit(child, depth + 1)

    for root in report.roots():
        visit(root, 0)
    return found


def _allocation(report: Report, allocation: Allocation) -> str:
    """Where the weight in flight goes: a stacked bar (each KR, then the work on no KR)
    and a table of each objective's and KR's share, against the objective's target."""
    unit = "items" if allocation.mode == "count" else "pts"
    rows_of = {row.objective_id: row for row in allocation.objectives}
    segments: list[tuple[str, str, float, str]] = []  # (css class, opacity, share, label)
    rows: list[str] = []
    colour = 0
    for status, depth in _objectives_in_page_order(report):
        row = rows_of.get(status.objective.id)
        if row is None:
            continue
        swatch = f"a{colour % _PALETTE_SIZE}"
        colour += 1
        objective = status.objective
        owner = f"objective:{objective.id}"
        difference = rounded(row.difference, 1)
        rows.append(
            f'<tr class="alloc-objective" style="--depth:{depth}">'
            f'<th><span class="sw {swatch}"></span><code>{_text(objective.id)}</code> '
            f"{_text(objective.title)}</th>"
            f'<td class="r">{_alloc_num(owner, "weight", rounded(row.weight), _trim(row.weight))}'
            f"</td>"
            f'<td class="r">{_alloc_num(owner, "share", rounded(row.share), percent(row.share))}'
            f"</td>"
            f'<td class="r">{_alloc_target(owner, row.target)}</td>'
            f'<td class="r">{_alloc_num(owner, "difference", difference, _points(row.difference))}'
            f"</td></tr>"
        )
        titles = {kr_status.kr.id: kr_status.kr.title for kr_status in status.key_results}
        for n, kr in enumerate(row.key_results):
            opacity = _KR_OPACITY[n % len(_KR_OPACITY)]
            title = titles.get(kr.kr_id, "")
            if kr.share:
                segments.append((swatch, opacity, kr.share, f"{kr.kr_id} {title}"))
            kr_owner = f"kr:{kr.kr_id}"
            rows.append(
                f'<tr class="alloc-kr" style="--depth:{depth}">'
                f'<td><span class="sw {swatch}" style="opacity:{opacity}"></span>'
                f'<a href="#{anchor(kr.kr_id)}"><code>{_text(kr.kr_id)}</code></a> '
                f"{_text(title)}</td>"
                f'<td class="r">'
                f"{_alloc_num(kr_owner, 'weight', rounded(kr.weight), _trim(kr.weight))}</td>"
                f'<td class="r">'
                f"{_alloc_num(kr_owner, 'share', rounded(kr.share), percent(kr.share))}</td>"
                f"<td></td><td></td></tr>"
            )
    if allocation.no_kr_share:
        segments.append(("klo", "1", allocation.no_kr_share, "Keep the lights on (no KR)"))
    no_kr_weight, no_kr_share = allocation.no_kr_weight, allocation.no_kr_share
    rows.append(
        '<tr class="alloc-objective alloc-klo"><th><span class="sw klo"></span>'
        "Keep the lights on (no KR)</th>"
        f'<td class="r">{_alloc_num("no_kr", "weight", rounded(no_kr_weight), _trim(no_kr_weight))}'
        f'</td><td class="r">'
        f"{_alloc_num('no_kr', 'share', rounded(no_kr_share), percent(no_kr_share))}"
        "</td><td></td><td></td></tr>"
    )
    total = (
        _alloc_num("total", "weight", rounded(allocation.total), _trim(allocation.total))
        + f" {unit} in flight in "
        + _alloc_num("total", "items", allocation.items, str(allocation.items))
        + f" work item{'' if allocation.items == 1 else 's'} in progress"
    )
    if allocation.total > 0:
        summary = f'<p class="meta">{total}; each share is a part of that weight.</p>'
        chart = _allocation_bar(segments)
    else:
        summary = f'<p class="meta">Nothing in flight: {total}, so no shares.</p>'
        chart = ""
    return (
        '<section class="allocation" id="allocation"><h2>Allocation of the work in flight</h2>'
        f"{summary}{chart}"
        '<table class="alloc"><thead><tr><th>Objective / key result</th>'
        f'<th class="r">In flight ({unit})</th><th class="r">Share</th>'
        '<th class="r">Target</th><th class="r">Difference</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _alloc_target(owner: str, target: float | None) -> str:
    if target is None:
        return "–"
    return _alloc_num(owner, "target", plain_number(target), f"{_trim(target)}%")


def _allocation_bar(segments: Sequence[tuple[str, str, float, str]]) -> str:
    """One horizontal bar, one rectangle per share in the order given, each titled."""
    body: list[str] = []
    x = 0.0
    for css, opacity, share, label in segments:
        width = share * ALLOCATION_BAR_WIDTH
        body.append(
            f'<rect class="seg {css}" x="{round(x, 2)}" y="0" width="{round(width, 2)}" '
            f'height="{ALLOCATION_BAR_HEIGHT}" fill-opacity="{opacity}">'
            f"<title>{_text(label)}: {percent(share)}</title></rect>"
        )
        x += width
    label = "Allocation: share of the weight in flight per key result and on no KR"
    return (
        f'<svg class="alloc-bar" viewBox="0 0 {ALLOCATION_BAR_WIDTH} {ALLOCATION_BAR_HEIGHT}" '
        f'preserveAspectRatio="none" role="img" aria-label="{_text(label)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{_text(label)}</title>{"".join(body)}</svg>'
    )


# --------------------------------------------------------------------------- charts


class _Frame:
    """Maps (instant, value) onto the chart's plot area."""

    def __init__(self, start: datetime, end: datetime, low: float, high: float):
        if high <= low:
            low, high = low - 1.0, high + 1.0
        self.data_low, self.data_high = low, high
        margin = (high - low) * 0.06
        self.start, self.end = start, end
        self.low, self.high = low - margin, high + margin
        self.span = max((end - start).total_seconds(), 1.0)
        self.width = CHART_WIDTH - _LEFT - _RIGHT
        self.height = CHART_HEIGHT - _TOP - _BOTTOM

    def x(self, at: datetime) -> float:
        fraction = (at - self.start).total_seconds() / self.span
        return round(_LEFT + min(max(fraction, 0.0), 1.0) * self.width, 1)

    def y(self, value: float) -> float:
        fraction = (value - self.low) / (self.high - self.low)
        return round(_TOP + (1.0 - fraction) * self.height, 1)

    def points(self, pairs: Iterable[tuple[datetime, float]]) -> str:
        return " ".join(f"{self.x(at)},{self.y(value)}" for at, value in pairs)


def _svg(label: str, body: Sequence[str], caption: str) -> str:
    return (
        f'<figure><svg class="chart" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" '
        f'role="img" aria-label="{_text(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_text(label)}</title>{''.join(body)}</svg>"
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _axes(frame: _Frame) -> list[str]:
    """The plot's box, its lowest and highest value on the left, the cycle's dates below."""
    right = _LEFT + frame.width
    return [
        f'<rect class="plot" x="{_LEFT}" y="{_TOP}" width="{frame.width}" '
        f'height="{frame.height}"/>',
        f'<text class="tick" x="{_LEFT - 4}" y="{frame.y(frame.data_high) + 3}" '
        f'text-anchor="end">{_text(_tick(frame.data_high))}</text>',
        f'<text class="tick" x="{_LEFT - 4}" y="{frame.y(frame.data_low) + 3}" '
        f'text-anchor="end">{_text(_tick(frame.data_low))}</text>',
        f'<text class="tick" x="{_LEFT}" y="{CHART_HEIGHT - 6}">{frame.start:%b %d}</text>',
        f'<text class="tick" x="{right}" y="{CHART_HEIGHT - 6}" text-anchor="end">'
        f"{frame.end:%b %d}</text>",
    ]


def _tick(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value:.3g}"
    return metric(value)


def _now_line(frame: _Frame, now: datetime) -> str:
    x = frame.x(now)
    return f'<line class="now" x1="{x}" y1="{_TOP}" x2="{x}" y2="{_TOP + frame.height}"/>'


def _hline(frame: _Frame, value: float, css: str) -> str:
    y = frame.y(value)
    return f'<line class="{css}" x1="{_LEFT}" y1="{y}" x2="{_LEFT + frame.width}" y2="{y}"/>'


def samples_chart(
    report: Report, kr: KeyResult, status: KRStatus, samples: Sequence[MetricSample]
) -> str:
    """The KR's samples over the cycle, with its baseline, target (or range), the expected
    line from baseline to target and the forecast at the cycle end."""
    start, end = cycle_bounds(report.cycle)
    shown = sorted(
        (sample for sample in samples if start <= sample.at <= report.as_of),
        key=lambda sample: sample.at,
    )
    values = [sample.value for sample in shown]
    values += [v for v in (kr.baseline, kr.target, status.forecast) if v is not None]
    if kr.range is not None:
        values += [kr.range.minimum, kr.range.maximum]
    frame = _Frame(start, end, min(values, default=0.0), max(values, default=1.0))
    body = _axes(frame)
    if kr.range is not None:
        top, bottom = frame.y(kr.range.maximum), frame.y(kr.range.minimum)
        body.append(
            f'<rect class="band" x="{_LEFT}" y="{top}" width="{frame.width}" '
            f'height="{round(bottom - top, 1)}"/>'
        )
    if kr.baseline is not None:
        body.append(_hline(frame, kr.baseline, "baseline"))
    if kr.target is not None:
        body.append(_hline(frame, kr.target, "target"))
    if kr.kind == "auto" and kr.baseline is not None and kr.target is not None:
        line = frame.points([(start, kr.baseline), (end, kr.target)])
        body.append(f'<polyline class="expected" points="{line}"/>')
    body.append(_now_line(frame, report.as_of))
    if shown:
        pairs = [(sample.at, sample.value) for sample in shown]
        body.append(f'<polyline class="series" points="{frame.points(pairs)}"/>')
        if len(shown) <= 40:
            body += [
                f'<circle class="dot" cx="{frame.x(at)}" cy="{frame.y(value)}" r="2.5"/>'
                for at, value in pairs
            ]
        if status.forecast is not None:
            last = shown[-1]
            body.append(
                f'<polyline class="forecast" '
                f'points="{frame.points([(last.at, last.value), (end, status.forecast)])}"/>'
            )
    else:
        body.append(
            f'<text class="empty" x="{_LEFT + frame.width / 2}" y="{_TOP + frame.height / 2}" '
            'text-anchor="middle">no samples this cycle</text>'
        )
    unit = f" ({_text(kr.unit)})" if kr.unit else ""
    caption = (
        '<span class="key series">samples</span> <span class="key target">target</span> '
        '<span class="key baseline">baseline</span> <span class="key expected">expected</span> '
        '<span class="key forecast">forecast</span>' + unit
    )
    return _svg(f"{kr.id}: metric over the cycle", body, caption)


def burnup_chart(report: Report, status: KRStatus, snapshots: Sequence[KRSnapshot]) -> str:
    """Done against total weight at every KR snapshot of the cycle, and now."""
    start, end = cycle_bounds(report.cycle)
    points = {
        snapshot.at: (snapshot.done_weight, snapshot.total_weight)
        for snapshot in snapshots
        if start <= snapshot.at <= report.as_of
    }
    points[report.as_of] = (status.weight.done, status.weight.total)
    ordered = sorted(points.items())
    high = max((max(pair) for _, pair in ordered), default=1.0) or 1.0
    frame = _Frame(start, end, 0.0, high)
    body = _axes(frame)
    body.append(_now_line(frame, report.as_of))
    total = [(at, pair[1]) for at, pair in ordered]
    done = [(at, pair[0]) for at, pair in ordered]
    body.append(f'<polyline class="total" points="{frame.points(total)}"/>')
    body.append(f'<polyline class="done" points="{frame.points(done)}"/>')
    unit = "items" if status.weight.mode == "count" else "pts"
    caption = (
        f'<span class="key done">done</span> <span class="key total">total scope</span> ({unit})'
    )
    return _svg(f"{status.kr.id}: delivery burn-up", body, caption)


_CSS = """
:root{--bg:#fff;--fg:#1c1e21;--muted:#5f6368;--line:#d0d4d9;--card:#f7f8fa;
--on:#1a7f37;--risk:#9a6700;--off:#cf222e;--none:#6e7781;--accent:#0969da;--band:#dafbe1;
--a0:#0969da;--a1:#1a7f37;--a2:#9a6700;--a3:#8250df;--a4:#bc4c00;--a5:#bf3989;--a6:#1b7c83;
--a7:#57606a;--klo:#afb8c1}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#8b949e;
--line:#30363d;--card:#161b22;--on:#3fb950;--risk:#d29922;--off:#f85149;--none:#8b949e;
--accent:#58a6ff;--band:#12261e;--a0:#58a6ff;--a1:#3fb950;--a2:#d29922;--a3:#a371f7;
--a4:#f0883e;--a5:#db61a2;--a6:#39c5cf;--a7:#8b949e;--klo:#484f58}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1200px;padding:1.5rem;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
a{color:var(--accent)}code{font:600 0.95em ui-monospace,SFMono-Regular,Menlo,monospace}
h1{margin:0 0 .25rem}.meta{color:var(--muted);margin:.25rem 0}
table{border-collapse:collapse}th,td{padding:.2rem .5rem;text-align:left;vertical-align:top}
.r{text-align:right}.summary{margin:1rem 0;width:100%}
.summary td,.summary th{border-bottom:1px solid var(--line)}
.objective{border-left:3px solid var(--line);padding-left:1rem;margin:1.5rem 0}
.kr{background:var(--card);border:1px solid var(--line);border-left:6px solid var(--none);
border-radius:6px;padding:.75rem 1rem;margin:1rem 0;break-inside:avoid}
.kr.on-track{border-left-color:var(--on)}.kr.at-risk{border-left-color:var(--risk)}
.kr.off-track{border-left-color:var(--off)}
.kr-title{margin:0}.kr-id{font-size:1.05em}
.facts th{color:var(--muted);font-weight:normal;white-space:nowrap}
.badge{display:inline-block;padding:0 .5rem;border-radius:1rem;border:1px solid currentColor;
font-size:.85em}
.badge.on-track{color:var(--on)}.badge.at-risk{color:var(--risk)}
.badge.off-track{color:var(--off)}.badge.no-data{color:var(--none)}
.flags{list-style:none;padding:0;margin:.25rem 0}.flag{color:var(--off);font-weight:600}
.error{color:var(--off)}
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:.5rem 0;flex:1 1 340px}
.chart{width:100%;height:auto;max-height:220px}
figcaption{font-size:.8em;color:var(--muted)}
.plot{fill:none;stroke:var(--line)}.tick{font-size:9px;fill:var(--muted)}
.empty{font-size:11px;fill:var(--muted)}
.band{fill:var(--band)}
.baseline{stroke:var(--muted);stroke-dasharray:2 3}.target{stroke:var(--on);stroke-dasharray:6 3}
.expected{fill:none;stroke:var(--muted);stroke-dasharray:4 4}
.series{fill:none;stroke:var(--accent);stroke-width:2}.dot{fill:var(--accent)}
.forecast{fill:none;stroke:var(--accent);stroke-dasharray:3 3}
.now{stroke:var(--risk);stroke-dasharray:1 2}
.done{fill:none;stroke:var(--on);stroke-width:2}
.total{fill:none;stroke:var(--fg);stroke-dasharray:5 3}
.key::before{content:"";display:inline-block;width:1.2em;height:0;margin-right:.25em;
vertical-align:middle;border-top:2px solid}
.key.series,.key.forecast{color:var(--accent)}.key.target,.key.done{color:var(--on)}
.key.baseline,.key.expected{color:var(--muted)}.key.total{color:var(--fg)}
.key.forecast::before,.key.expected::before,.key.baseline::before,.key.total::before{
border-top-style:dashed}
.items{margin:.25rem 0;padding-left:1.25rem}
.allocation{margin:1.5rem 0;break-inside:avoid}
.alloc-bar{display:block;width:100%;height:28px;margin:.5rem 0;border:1px solid var(--line)}
.seg{stroke:var(--bg);stroke-width:2;vector-effect:non-scaling-stroke}
.alloc td,.alloc th{border-bottom:1px solid var(--line)}
.alloc-objective th{font-weight:600;padding-left:calc(.5rem + var(--depth,0) * 1.25rem)}
.alloc-kr td:first-child{padding-left:calc(1.75rem + var(--depth,0) * 1.25rem)}
.sw{display:inline-block;width:.8em;height:.8em;margin-right:.4em;border-radius:2px;
vertical-align:baseline;background:var(--klo)}
.a0{fill:var(--a0);background:var(--a0)}.a1{fill:var(--a1);background:var(--a1)}
.a2{fill:var(--a2);background:var(--a2)}.a3{fill:var(--a3);background:var(--a3)}
.a4{fill:var(--a4);background:var(--a4)}.a5{fill:var(--a5);background:var(--a5)}
.a6{fill:var(--a6);background:var(--a6)}.a7{fill:var(--a7);background:var(--a7)}
.klo{fill:var(--klo);background:var(--klo)}
.alloc-bar,.sw{-webkit-print-color-adjust:exact;print-color-adjust:exact}
@media print{body{max-width:none;padding:0;font-size:11px}.kr{background:none}
a{color:inherit}details>summary{list-style:none}}
""".replace("\n", "")
