"""Size and as-of read time of the item history: 50,000 items, 90 days, 5% changing a day.

Fills a store the way the pipeline does (`upsert_items(..., seen_at=<cycle now>)`), then
times the as-of read (`Store.items(as_of=T)`, and two other query shapes for comparison)
and `status --now` (`current_report`: the first after the cycle start, and the later
ones), and writes the figures to their section of bench/RESULTS.md.

    python bench/history.py [--items 50000] [--days 90] [--change 0.05] [--url URL]
                            [--store PATH]

`--store PATH` keeps the SQLite store at PATH: filled when it does not exist yet, reused
as it is otherwise (a fill takes about a minute).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from standard import Report, machine, write_results

from okrsync.config import Config, default_model
from okrsync.domain import Bucket, WorkItem
from okrsync.service import current_report, run_cycle
from okrsync.sources import Source
from okrsync.store import Store

START = datetime(2026, 10, 1, tzinfo=UTC)
KRS = [f"ONB-{n}" for n in range(1, 11)]
BEGIN, END = "<!-- bench/history.py: begin -->", "<!-- bench/history.py: end -->"

# The other shapes of "each item's latest version at or before T", for comparison.
WINDOW = """
SELECT * FROM (SELECT v.*, row_number() OVER (PARTITION BY source, key
               ORDER BY learned_at DESC) AS n FROM item_versions v WHERE learned_at <= :t) l
WHERE n = 1 AND NOT deleted"""
CORRELATED = """
SELECT v.* FROM item_versions v WHERE NOT v.deleted AND v.learned_at = (
  SELECT max(w.learned_at) FROM item_versions w
  WHERE w.source = v.source AND w.key = v.key AND w.learned_at <= :t)"""


def config(url: str) -> Config:
    return default_model().model_validate(raw_config(url))


def raw_config(url: str) -> dict[str, object]:
    return {
        "version": 1,
        "cycle": {"name": "Q4", "start": "2026-10-01", "end": "2026-12-31"},
        "store": {"url": url},
        "sources": {"jira": {"url": "https://jira.example", "jql": "project = ONB"}},
        "objectives": [
            {
                "id": "ONB",
                "title": "Onboarding",
                "key_results": [
                    {"id": kr, "title": kr, "baseline": 0, "target": 100} for kr in KRS
                ],
            }
        ],
    }


def make_item(n: int) -> WorkItem:
    epic = n - n % 50
    return WorkItem(
        source="jira",
        key=f"ONB-{n}",
        title=f"Work item number {n} of the onboarding programme",
        type="Epic" if n == epic else "Story",
        status="To Do",
        bucket=Bucket.TODO,
        points=float(n % 8 + 1),
        labels=(f"okr:{KRS[n // 50 % len(KRS)]}", "team-growth") if n == epic else ("team-growth",),
        parent=None if n == epic else f"ONB-{epic}",
        updated=START,
        url=f"https://jira.example/browse/ONB-{n}",
        remote_id=str(100000 + n),
        child_count=49 if n == epic else None,
    )


def change(item: WorkItem, rng: random.Random, at: datetime) -> WorkItem:
    bucket = rng.choice([Bucket.TODO, Bucket.IN_PROGRESS, Bucket.DONE])
    return dataclasses.replace(
        item, bucket=bucket, status=bucket.value, points=float(rng.randint(1, 13)), updated=at
    )


def timed(run: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    wall, _, result = timed_cpu(run, repeat)
    return wall, result


def timed_cpu(run: Callable[[], object], repeat: int = 3) -> tuple[float, float, object]:
    """The median wall time and the median CPU time of this process (all its threads)."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        began, cpu = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def fill(store: Store, items: int, days: int, share: float) -> int:
    rng = random.Random(7)
    current = {n: make_item(n) for n in range(items)}
    store.upsert_items(current.values(), seen_at=START)
    for d in range(1, days + 1):
        at = START + timedelta(days=d, hours=9)
        changed = {}
        for n in rng.sample(range(items), int(items * share)):
            current[n] = changed[n] = change(current[n], rng, at)
        # A day's changes arrive over the day's cycles; one upsert of the day's changed
        # items stands for them (an unchanged item adds no version, so upserting every
        # item, as a full pull does, writes the same history, only 20 times slower).
        store.upsert_items(changed.values(), seen_at=at)
    return len(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--change", type=float, default=0.05)
    parser.add_argument("--url", help="a store URL (default: a new SQLite file)")
    parser.add_argument("--store", type=Path, help="a SQLite file to fill once and reuse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = args.store or Path(scratch) / "okrsync.db"
        url = args.url or f"sqlite:///{path}"
        reused = args.store is not None and path.exists()
        began = time.perf_counter()
        with Store(url) as store:
            if not reused:
                fill(store, args.items, args.days, args.change)
            filled = time.perf_counter() - began
            end = START + timedelta(days=args.days, hours=12)
            middle = START + timedelta(days=args.days // 2, hours=12)
            with store.engine.connect() as connection:
                versions = connection.execute(text("SELECT count(*) FROM item_versions")).scalar()
                if store.engine.dialect.name == "sqlite":
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    size = os.path.getsize(path)
                else:
                    size = connection.execute(
                        text("SELECT pg_database_size(current_database())")
                    ).scalar_one()
            rows = []
            for label, instant in (("middle", middle), ("end", end)):
                # First, with nothing else alive, as `okrsync status --now` runs: 50,000
                # items kept from a read before make it about 5% slower.
                first, first_cpu = first_report(store, url, instant)
                # The first sync cycle after the start keeps the scope at the start.
                run_cycle(config(url), store, connect_none, now=START + timedelta(days=1),
                          only=(), metrics=False)  # fmt: skip
                status, status_cpu, _ = timed_cpu(
                    lambda instant=instant: current_report(config(url), store, instant)
                )
                command = cli_status(url, instant, Path(scratch))
                as_of, got = timed(lambda instant=instant: store.items(as_of=instant))
                assert isinstance(got, list) and len(got) == args.items
                del got
                shapes = {}
                for name, sql in (("window", WINDOW), ("correlated", CORRELATED)):
                    with store.engine.connect() as connection:
                        shapes[name], _ = timed(
                            lambda sql=sql, c=connection, t=instant: c.execute(
                                text(sql),
                                {
                                    "t": t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                                    if store.engine.dialect.name == "sqlite"
                                    else t
                                },
                            ).all(),
                            repeat=1,
                        )
                rows.append(
                    (label, as_of, shapes["window"], shapes["correlated"], first, first_cpu,
                     status, status_cpu, command)
                )  # fmt: skip
        backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        report = Report()
        for line in [
            f"## History: {args.items:,} items × {args.days} days, "
            f"{args.change:.0%} changing a day ({backend}; "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"- item versions: {versions:,} ({args.items:,} first + changes); store "
            f"{size / 1e6:.1f} MB; "
            + ("a store filled before, reused" if reused else f"filled in {filled:.0f} s"),
            f"- machine: {machine()}; the figures are medians of 3 (a shared machine's "
            "load slows them all)",
            f"- command: `{' '.join(['python', 'bench/history.py', *sys.argv[1:]])}`",
            "",
            "| as of | `items(as_of)` | window query | correlated max | "
            "`status --now` without a kept start scope (CPU) | "
            "`status --now` (`current_report`) | its CPU time | "
            "`status --now` ÷ `items(as_of)` | `okrsync status --now`, the command |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *(
                f"| {label} | {a * 1000:.0f} ms | {w * 1000:.0f} ms | {c * 1000:.0f} ms | "
                f"{f * 1000:.0f} ms ({fc * 1000:.0f} ms) | "
                f"{s * 1000:.0f} ms | {cpu * 1000:.0f} ms | {s / a:.2f} | "
                f"{cmd * 1000:.0f} ms |"
                for label, a, w, c, f, fc, s, cpu, cmd in rows
            ),
            "",
            "`items(as_of)` and `status --now` include turning rows into WorkItems; the two "
            "other shapes only fetch the rows. A report after the cycle start needs each "
            "KR's scope at the start: without a kept one (no sync cycle since the start, or "
            "the mapping changed) it reads every item's version at the start and maps it; the "
            "first sync cycle after the start keeps the weights (`scope_starts`), and every "
            "later report, `status --now` included, reads them back. CPU time is this process's (what the machine's load changes least). "
            "The last column compares `status --now` with one as-of read on the same "
            "machine at the same time: a figure the machine's load changes less than either. "
            "The command is `okrsync status --now T --format json` in a fresh process "
            "(start-up, config and store opening included), median wall of 3.",
        ]:
            report(line)
        write_results(report, markers=(BEGIN, END))


def cli_status(url: str, instant: datetime, scratch: Path) -> float:
    """`okrsync status --now` at `instant` in a fresh process, as a person runs it: the
    median wall time of 3, after one run that compiles the bytecode."""
    path = scratch / "okrsync.json"  # JSON is YAML: the config as written
    path.write_text(json.dumps(raw_config(url)), encoding="utf-8")
    argv = [sys.executable, "-m", "okrsync.cli", "--config", str(path), "status",
            "--now", instant.isoformat(), "--format", "json"]  # fmt: skip
    walls = []
    for _ in range(4):
        began = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - began)
    return statistics.median(walls[1:])


def connect_none(name: str) -> Source:
    raise AssertionError(f"a cycle without sources connected {name}")


def first_report(store: Store, url: str, instant: datetime) -> tuple[float, float]:
    """`current_report` at `instant` with no scope at the cycle start kept (no sync cycle
    since the start, or the mapping changed): the median wall and CPU time of 3."""
    walls, cpus = [], []
    for _ in range(3):
        with store.engine.begin() as connection:
            connection.execute(text("DELETE FROM scope_starts"))
        began, cpu = time.perf_counter(), time.process_time()
        current_report(config(url), store, instant)
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


if __name__ == "__main__":
    main()
