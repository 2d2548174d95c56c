"""The data behind the HTML report, read from the store as of `now`; nothing is written.

`okrsync report --html` and the daemon's `GET /report` both come here: the report is
`current_report` (the same numbers as `status --now`), and around it the samples of the
cycle, the KR snapshots (the burn-up) and the work items, each KR's mapped ones sorted
by (source, key).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from okrsync.config import Config
from okrsync.domain import (
    ItemRef,
    KRIndex,
    KRSnapshot,
    MetricSample,
    Report,
    WorkItem,
    map_items,
    ref_sort_key,
)
from okrsync.render.html import KRHistory, render_report_html
from okrsync.service.pipeline import current_report, finite_samples
from okrsync.store import Store

_Row = TypeVar("_Row", MetricSample, KRSnapshot)


@dataclass(frozen=True, slots=True)
class ReportPage:
    """Everything the page shows, as plain data."""

    report: Report
    history: dict[str, KRHistory] = field(default_factory=dict)
    items: dict[ItemRef, WorkItem] = field(default_factory=dict)


def gather_report(config: Config, store: Store, now: datetime) -> ReportPage:
    """The report as of `now` and the history behind it, as the store knew it then."""
    report = current_report(config, store, now)
    objectives = config.domain_objectives()
    index = KRIndex.from_objectives(objectives)
    items = store.items(as_of=now)
    mapped = map_items(items, index, config.rules())

    items_of: dict[str, list[WorkItem]] = {}
    for entry in mapped.items.values():
        for kr_id in entry.kr_ids:
            items_of.setdefault(kr_id, []).append(entry.item)
    samples_of = _by_kr(finite_samples(store.samples(as_of=now)), index)
    snapshots_of = _by_kr(store.kr_snapshots(until=now), index)

    history = {
        kr.id: KRHistory(
            samples=tuple(samples_of.get(kr.id, ())),
            snapshots=tuple(snapshots_of.get(kr.id, ())),
            items=tuple(sorted(items_of.get(kr.id, ()), key=lambda item: ref_sort_key(item.ref))),
        )
        for objective in objectives
        for kr in objective.key_results
    }
    return ReportPage(report, history, {item.ref: item for item in items})


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
    return render_report_html(page.report, page.history, page.items)
