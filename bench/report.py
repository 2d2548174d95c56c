"""Size and render time of the HTML report: 10 objectives × 5 KRs, 90 days of history.

Fills a SQLite store with a sample and a KR snapshot a day per KR and 12 items per KR
(plus 40 unmapped), then times the page end to end (`report_html`: the store read,
`current_report` and the rendering) and the rendering alone (`render_report_html`), and
writes the figures to their section of bench/RESULTS.md.

    python bench/report.py [--objectives 10] [--krs 5] [--days 90] [--items 12]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from standard import Report, machine, write_results

from okrsync.config import Config, default_model
from okrsync.domain import Bucket, KRSnapshot, MetricSample, WorkItem
from okrsync.render.html import render_report_html
from okrsync.service import current_report
from okrsync.service.report import gather_report, report_html
from okrsync.store import Store

START = datetime(2026, 10, 1, tzinfo=UTC)
BEGIN, END = "<!-- bench/report.py: begin -->", "<!-- bench/report.py: end -->"


def kr_ids(objectives: int, krs: int) -> list[list[str]]:
    return [[f"O{o}-KR{k}" for k in range(krs)] for o in range(objectives)]


def config(url: str, ids: list[list[str]]) -> Config:
    return default_model().model_validate(
        {
            "version": 1,
            "cycle": {"name": "Q4", "start": "2026-10-01", "end": "2026-12-31"},
            "store": {"url": url},
            "sources": {"jira": {"url": "https://jira.example", "jql": "project = ONB"}},
            "objectives": [
                {
                    "id": f"O{o}",
                    "title": f"Objective number {o}",
                    "key_results": [
                        {
                            "id": kr,
                            "title": f"Raise metric {kr} from 10% to 90%, a fairly long title",
                            "baseline": 10,
                            "target": 90,
                            "unit": "%",
                        }
                        for kr in krs
                    ],
                }
                for o, krs in enumerate(ids)
            ],
        }
    )


def item(key: str, labels: list[str], done: bool) -> WorkItem:
    return WorkItem(
        source="jira",
        key=key,
        title=f"Story {key} of the work",
        type="Story",
        status="Done" if done else "To Do",
        bucket=Bucket.DONE if done else Bucket.TODO,
        points=3,
        labels=tuple(labels),
        parent=None,
        updated=START,
        url=f"https://jira.example/browse/{key}",
    )


def fill(store: Store, ids: list[list[str]], days: int, per_kr: int) -> None:
    items = [
        item(f"K-{kr}-{n}", [f"okr:{kr}"], done=n % 2 == 1)
        for krs in ids
        for kr in krs
        for n in range(per_kr)
    ]
    items += [item(f"LOOSE-{n}", ["bug"], done=False) for n in range(40)]
    store.upsert_items(items, seen_at=START)
    snapshots = []
    for krs in ids:
        for kr in krs:
            for day in range(days):
                at = START + timedelta(days=day, hours=9)
                store.add_sample(MetricSample(kr, 10 + day * 0.7 + (day % 7) * 0.3, at))
                snapshots.append(
                    KRSnapshot(
                        kr, at, None, None, None, day / 92, "on_track", day / 3, 30 + day / 9
                    )
                )
    store.save_kr_snapshots(snapshots)


def timed(run: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objectives", type=int, default=10)
    parser.add_argument("--krs", type=int, default=5)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--items", type=int, default=12, help="items per KR")
    args = parser.parse_args()
    ids = kr_ids(args.objectives, args.krs)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'okrsync.db'}"
        cfg = config(url, ids)
        now = START + timedelta(days=args.days, hours=12)
        with Store(url) as store:
            fill(store, ids, args.days, args.items)
            end_to_end, page = timed(lambda: report_html(cfg, store, now))
            status, _ = timed(lambda: current_report(cfg, store, now))
            gathered = gather_report(cfg, store, now)
            render_only, _ = timed(
                lambda: render_report_html(gathered.report, gathered.history, gathered.items)
            )
    size = len(page.encode())
    krs = args.objectives * args.krs
    report = Report()
    for line in [
        f"## HTML report: {args.objectives} objectives × {args.krs} KRs, {args.days} days of "
        f"samples and snapshots, {args.items} items per KR (SQLite; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"- page: {size / 1024:.0f} KiB ({size:,} bytes), {2 * krs} inline SVG charts",
        f"- machine: {machine()} (at the end); medians of 5",
        f"- command: `{' '.join(['python', 'bench/report.py', *sys.argv[1:]])}`",
        f"- `okrsync report --html` (store read, `current_report`, rendering): "
        f"{end_to_end * 1000:.0f} ms",
        f"- of which `current_report` (the same as `status --now`): {status * 1000:.0f} ms",
        f"- rendering alone (`render_report_html`): {render_only * 1000:.0f} ms",
    ]:
        report(line)
    write_results(report, markers=(BEGIN, END))


if __name__ == "__main__":
    main()
