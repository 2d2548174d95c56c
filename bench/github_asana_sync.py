"""Requests, throughput and memory of full and incremental GitHub and Asana syncs.

Runs the real pipeline with PyGithub and requests against the sandboxes and prints what
each cycle cost next to the least it could cost.

    python bench/github_asana_sync.py [--items 1000] [--mapped 20] [--children 9]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from okrsync.config import Config, default_model
from okrsync.logs import configure_logging
from okrsync.service import run_cycle, source_factory
from okrsync.store import Store
from okrsync_sandbox import AsanaSandbox, GitHubSandbox

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
OBJECTIVES = [{"id": "O", "title": "Objective", "key_results": [
    {"id": f"KR-{n}", "title": f"KR {n}", "baseline": 0, "target": 100} for n in (1, 2, 3)]}]  # fmt: skip


def settings(store_url: str, sources: dict[str, Any]) -> Config:
    return default_model().model_validate({
        "version": 1,
        "cycle": {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"},
        "store": {"url": store_url},
        "sources": sources,
        "objectives": OBJECTIVES,
    })  # fmt: skip


def kinds(requests: list[Any]) -> str:
    def kind(path: str) -> str:
        for marker in ("sub_issues", "subtasks", "stories", "comments", "issues", "tasks"):
            if marker in path:
                return marker
        return path

    counted = Counter(f"{r.method} {kind(r.path)}" for r in requests)
    return ", ".join(f"{n} {name}" for name, n in sorted(counted.items()))


def measure(title: str, box: Any, config: Config, store: Store, minimum: str) -> None:
    box.reset_log()
    tracemalloc.start()
    started = time.perf_counter()
    result = run_cycle(config, store, source_factory(config), now=NOW)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    outcome = result.sources[0]
    assert outcome.ok, outcome.error
    print(f"{title}: {len(box.requests)} requests ({kinds(box.requests)}); minimum {minimum}")
    print(
        f"   {outcome.pulled} items in {seconds:.2f} s = {outcome.pulled / seconds:,.0f} items/s "
        f"(whole cycle, under tracemalloc, sandbox in-process); peak traced memory "
        f"{peak / 2**20:.1f} MiB; comments created {outcome.created}, edited {outcome.edited}, "
        f"unchanged {outcome.skipped}"
    )


def bench_github(items: int, mapped: int, children: int, changed: int) -> None:
    """`mapped` labelled parents with `children` sub-issues each; the rest plain issues."""
    os.environ["BENCH_GITHUB_TOKEN"] = "ghp_benchtoken"
    last_week = datetime.now(UTC) - timedelta(days=7)
    with tempfile.TemporaryDirectory() as scratch, GitHubSandbox(token="ghp_benchtoken") as gh:
        real_clock, gh.now = gh.now, lambda: last_week  # linking sub-issues bumps updated_at
        gh.add_repo("acme/web")
        kids: list[int] = []
        for n in range(mapped):
            parent = gh.add_issue(
                "acme/web", f"Parent {n}", labels=[f"okr:KR-{n % 3 + 1}"], updated_at=last_week
            )
            for c in range(children):
                child = gh.add_issue(
                    "acme/web",
                    f"Child {n}.{c}",
                    labels=[f"points:{c % 5 + 1}"],
                    updated_at=last_week,
                )
                gh.add_sub_issue("acme/web", parent, "acme/web", child)
                kids.append(child)
        for n in range(items - mapped * (children + 1)):
            gh.add_issue("acme/web", f"Other {n}", updated_at=last_week)
        gh.now = real_clock
        config = settings(f"sqlite:///{Path(scratch) / 'b.db'}", {"github": {
            "url": gh.url, "token_env": "BENCH_GITHUB_TOKEN", "repos": ["acme/web"],
            "seconds_between_requests": 0, "seconds_between_writes": 0}})  # fmt: skip
        store = Store(config.store.url)
        pages = math.ceil(items / 100)
        print(
            f"\n== GitHub: {items} issues in 1 repository ({mapped} mapped parents × {children} sub-issues)"
        )
        measure(
            "full sync        ",
            gh,
            config,
            store,
            f"{pages} list pages + {mapped} comment POSTs (sub-issues in the same repository: 0 look-ups)",
        )
        measure("incremental, idle", gh, config, store, "1 list page (since), 0 writes")
        for number in kids[:changed]:
            gh.close_issue("acme/web", number)
        measure(
            f"incremental, {changed} sub-issues closed",
            gh,
            config,
            store,
            "1 list page + one PATCH per target whose comment text changed",
        )
        store.close()


def bench_asana(items: int, mapped: int, children: int, changed: int) -> None:
    """`mapped` tagged tasks with `children` subtasks each, the rest plain tasks."""
    os.environ["BENCH_ASANA_TOKEN"] = "asana-bench-token"
    last_week = datetime.now(UTC) - timedelta(days=7)
    with tempfile.TemporaryDirectory() as scratch, AsanaSandbox(token="asana-bench-token") as asana:
        project = asana.add_project("Bench")
        asana.add_number_field("Story Points")
        subtasks: list[str] = []
        for n in range(mapped):
            parent = asana.add_task(
                project, f"Parent {n}", tags=[f"okr:KR-{n % 3 + 1}"], modified_at=last_week
            )
            for c in range(children):
                subtasks.append(
                    asana.add_task(
                        None,
                        f"Sub {n}.{c}",
                        parent=parent,
                        points=float(c % 5 + 1),
                        modified_at=last_week,
                    )
                )
        top_level = items - mapped * children
        for n in range(top_level - mapped):
            asana.add_task(project, f"Other {n}", modified_at=last_week)
        config = settings(f"sqlite:///{Path(scratch) / 'b.db'}", {"asana": {
            "url": asana.url, "token_env": "BENCH_ASANA_TOKEN", "projects": [project],
            "points_field": "Story Points"}})  # fmt: skip
        store = Store(config.store.url)
        pages = math.ceil(top_level / 100)
        print(
            f"\n== Asana: {items} tasks ({top_level} in the project, {mapped} mapped with "
            f"{children} subtasks each)"
        )
        measure(
            "full sync        ",
            asana,
            config,
            store,
            f"{pages} task pages + {mapped} subtask lists (subtasks are never in a project listing) "
            f"+ {mapped} comment POSTs",
        )
        measure(
            "incremental, idle",
            asana,
            config,
            store,
            f"1 task page (modified_since) + {mapped} subtask lists (modified_since does not see "
            "subtask changes), 0 writes",
        )
        for gid in subtasks[:changed]:
            asana.complete_task(gid)
        measure(
            f"incremental, {changed} subtasks completed",
            asana,
            config,
            store,
            f"1 + {mapped} reads + one PUT per target whose comment text changed",
        )
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--mapped", type=int, default=20)
    parser.add_argument("--children", type=int, default=9)
    parser.add_argument("--changed", type=int, default=10)
    args = parser.parse_args()
    configure_logging("warning")
    benches: list[Callable[[int, int, int, int], None]] = [bench_github, bench_asana]
    for bench in benches:
        bench(args.items, args.mapped, args.children, args.changed)


if __name__ == "__main__":
    main()
