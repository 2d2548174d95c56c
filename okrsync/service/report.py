"""The data behind the HTML report, read from the store as of `now`; nothing is written.

`okrsync report --html` and the daemon's `GET /report` both come here: the report is
`current_report` (the same numbers as `status --now`), and around it the samples of the
cycle, the KR snapshots (the burn-up), the work items, each KR's mapped ones sorted
by (source, key), and the allocation of the weight in flight over the same mapping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from okrsync.config import Config
from okrsync.domain import (
    Allocation,
    ItemRef,
    KRIndex,
    KRSnapshot,
    MetricSample,
    Report,
    WorkItem,
    allocation,
    cycle_bounds,
    ref_sort_key,
)
from okrsync.render.html import KRHistory, render_report_html
from okrsync.service.pipeline import report_as_of
from okrsync.store import Store

_Row = TypeVar("_Row", MetricSample, KRSnapshot)


@dataclass(frozen=True, slots=True)
class ReportPage:
    """Everything the page shows, as plain data."""

    report: Report
    history: dict[str, KRHistory] = field(default_factory=dict)
    items: dict[ItemRef, WorkItem] = field(default_factory=dict)
    # Where the weight in flight goes (okrsync/domain/allocation.py); None: not computed.
    allocation: Allocation | None = None


def gather_report(config: Config, store: Store, now: datetime) -> ReportPage:
    """The report as of `now` and the history behind it, as the store knew it then."""
    # The items, their mapping, the samples and the snapshots are those the report was
    # computed from: read and mapped once.
    stored = report_as_of(config, store, now)
    report, items, mapped = stored.report, stored.items, stored.mapped
    objectives = config.domain_objectives()
    index = KRIndex.from_objectives(objectives)

    items_of: dict[str, list[WorkItem]] = {}
    for entry in mapped.items.values():
        for kr_id in entry.kr_ids:
            items_of.setdefault(kr_id, []).append(entry.item)
    samples_of = _by_kr(stored.samples, index)
    snapshots_of = _by_kr(stored.snapshots, index)

    history = {
        kr.id: KRHistory(
            samples=tuple(samples_of.get(kr.id, ())),
            snapshots=burnup_points(report, kr.id, snapshots_of.get(kr.id, ())),
            items=tuple(sorted(items_of.get(kr.id, ()), key=lambda item: ref_sort_key(item.ref))),
        )
        for objective in objectives
        for kr in objective.key_results
    }
    return ReportPage(
        report,
        history,
        {item.ref: item for item in items},
        allocation(mapped, objectives, config.rules()),
    )


def burnup_points(
    report: Report, kr_id: str, snapshots: Sequence[KRSnapshot]
) -> tuple[KRSnapshot, ...]:
    """The KR's snapshots (ordered by `at`) as the burn-up draws them, read as a step
    function: at any instant the KR's done and total weight are those of its latest
    snapshot at or before it (the store keeps a snapshot only when the KR changed).

    So the chart starts at the cycle start with the snapshot in force then, shows each
    change as a step (the previous values until just before it), skips snapshots that
    changed neither weight, and holds the last values until just before `as_of` (where
    the renderer puts the report's own). A thinned history and an unthinned one of the
    same cycles give the same points."""
    start = cycle_bounds(report.cycle)[0]
    points: list[KRSnapshot] = []
    held: KRSnapshot | None = None  # the snapshot in force
    for snapshot in snapshots:
        if snapshot.at > report.as_of:
            break
        if held is not None and _weights(snapshot) == _weights(held):
            continue
        if snapshot.at <= start:
            held = snapshot
            continue
        if held is not None:
            if not points:
                points.append(replace(held, at=start))
            points.append(replace(held, at=snapshot.at - _JUST_BEFORE))
        points.append(snapshot)
        held = snapshot
    if held is not None:
        if not points:
            points.append(replace(held, at=start))
        status = report.kr_status(kr_id)
        now = (status.weight.done, status.weight.total)
        if held.at < report.as_of and now != _weights(held):
            points.append(replace(held, at=report.as_of - _JUST_BEFORE))
    return tuple(point for point in points if point.at <= report.as_of)


_JUST_BEFORE = timedelta(microseconds=1)


def _weights(snapshot: KRSnapshot) -> tuple[float, float]:
    return (snapshot.done_weight, snapshot.total_weight)


def _by_kr(rows: Iterable[_Row], index: KRIndex) -> dict[str, list[_Row]]:
    """Rows under canonical KR ids (matched case-insensitively); unknown KRs dropped."""
    grouped: dict[str, list[_Row]] = {}
    for row in rows:
        kr_id = index.canonical_id(row.kr_id)
        if kr_id is not None:
            grouped.setdefault(kr_id, []).append(row)
    return grouped


def report_html(config: Config, store: Store, now: datetime) -> str:
    """The self-contained HTML page of the report as of `now`."""
    page = gather_report(config, store, now)
    return render_report_html(page.report, page.history, page.items, allocation=page.allocation)
