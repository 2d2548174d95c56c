"""Requests, throughput and memory of full and incremental Jira syncs of 1,000 issues.

Runs the real pipeline and the real `jira` library against the sandbox, Cloud and
Server modes, and prints what each cycle cost next to the least it could cost.

    python bench/jira_sync.py [--issues 1000] [--epics 100] [--mapped-every 5]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from okrsync.config import Config, default_model
from okrsync.logs import configure_logging
from okrsync.service import run_cycle, source_factory
from okrsync.store import Store
from okrsync_sandbox import JiraSandbox

EMAIL, TOKEN = "bench@acme.example", "bench-token"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def seed(jira: JiraSandbox, issues: int, epics: int, mapped_every: int) -> tuple[list[str], int]:
    """`epics` epics, every `mapped_every`-th labelled for a KR, stories spread under them."""
    last_week = datetime.now(UTC) - timedelta(days=7)
    epic_keys = []
    for number in range(epics):
        labels = [f"okr:KR-{number % 3 + 1}"] if number % mapped_every == 0 else []
        epic_keys.append(
            jira.add_issue(
                project="ONB",
                summary=f"Epic {number}",
                issuetype="Epic",
                status="In Progress",
                labels=labels,
                updated=last_week,
            )
        )
    stories = []
    for number in range(issues - epics):
        status = ("To Do", "In Progress", "Done")[number % 3]
        stories.append(
            jira.add_issue(
                project="ONB",
                summary=f"Story {number}",
                issuetype="Story",
                status=status,
                parent=epic_keys[number % epics],
                story_points=float(number % 5 + 1),
                updated=last_week,
            )
        )
    targets = sum(1 for number in range(epics) if number % mapped_every == 0)
    return stories, targets


def config(jira: JiraSandbox, store_url: str) -> Config:
    auth = (
        {"email_env": "BENCH_EMAIL", "token_env": "BENCH_TOKEN"}
        if jira.mode == "cloud"
        else {"token_env": "BENCH_TOKEN"}
    )
    return default_model().model_validate(
        {
            "version": 1,
            "cycle": {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"},
            "store": {"url": store_url},
            "sources": {"jira": {"url": jira.url, "auth": auth, "jql": "project = ONB"}},
            "objectives": [
                {
                    "id": "O",
                    "title": "Objective",
                    "key_results": [
                        {"id": f"KR-{n}", "title": f"KR {n}", "baseline": 0, "target": 100}
                        for n in (1, 2, 3)
                    ],
                }
            ],
        }
    )


def describe(jira: JiraSandbox) -> str:
    kinds = Counter(f"{r.method} {_kind(r.path)}" for r in jira.requests)
    return ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))


def _kind(path: str) -> str:
    for name in ("search/jql", "search", "serverInfo", "field"):
        if path.endswith(name):
            return name
    return "comment" if "/comment" in path else path


def bench(mode: str, issues: int, epics: int, mapped_every: int, changed: int) -> None:
    os.environ.update({"BENCH_EMAIL": EMAIL, "BENCH_TOKEN": TOKEN})
    with (
        tempfile.TemporaryDirectory() as scratch,
        JiraSandbox(mode=mode, email=EMAIL, token=TOKEN) as jira,
    ):
        stories, targets = seed(jira, issues, epics, mapped_every)
        settings = config(jira, f"sqlite:///{Path(scratch) / 'bench.db'}")
        store = Store(settings.store.url)
        pages = math.ceil(issues / 100)
        print(
            f"\n== Jira {mode}: {issues} issues ({epics} epics, {targets} mapped top-level targets)"
        )

        def cycle(title: str, minimum: str) -> None:
            jira.reset_log()
            tracemalloc.start()
            started = time.perf_counter()
            result = run_cycle(settings, store, source_factory(settings), now=NOW)
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            outcome = result.sources[0]
            assert outcome.ok, outcome.error
            print(f"{title}: {len(jira.requests)} requests ({describe(jira)}); minimum {minimum}")
            rate = outcome.pulled / seconds
            print(
                f"   pulled {outcome.pulled} issues in {seconds:.2f} s = {rate:,.0f} issues/s "
                "(whole cycle, under tracemalloc, sandbox in-process); "
                f"peak traced memory {peak / 2**20:.1f} MiB; comments created {outcome.created}, "
                f"edited {outcome.edited}, unchanged {outcome.skipped}"
            )

        cycle(
            "full sync        ",
            f"{2 + pages} reads (serverInfo, field, {pages} pages of 100) "
            f"+ {targets} comment POSTs",
        )
        cycle("incremental, idle", "3 reads (serverInfo, field, 1 page), 0 writes")
        for key in stories[:changed]:
            jira.set_status(key, "Done")
        cycle(
            f"incremental, {changed} stories done",
            "3 reads + one PUT per target whose comment text changed "
            "(targets share 3 KRs, so a KR's move touches every comment showing it)",
        )
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--issues", type=int, default=1000)
    parser.add_argument("--epics", type=int, default=100)
    parser.add_argument("--mapped-every", type=int, default=5)
    parser.add_argument("--changed", type=int, default=10)
    args = parser.parse_args()
    configure_logging("warning")
    for mode in ("cloud", "server"):
        bench(mode, args.issues, args.epics, args.mapped_every, args.changed)


if __name__ == "__main__":
    main()
