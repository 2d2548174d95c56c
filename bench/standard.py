"""The standard benchmark: what `make bench` runs and writes to bench/RESULTS.md.

- Start-up: the median wall time of `okrsync --help`, `validate`, `status` (SQLite store)
  and `metric set`, each a fresh process (compiled bytecode cached, as after pip install).
- Syncs: for each source and size, `okrsync sync --once` as a subprocess against a
  sandbox served from this process with a fixed latency per request: a full sync, an
  incremental sync after 1% of the items changed, the settling cycles after it (until a
  cycle's reads are all answered 304, at most SETTLE_CYCLES), and an unchanged cycle in
  that steady state. For each, the requests (by kind, and how many were answered 304)
  next to the least the APIs allow, the GitHub quota spent (the sandbox's
  X-RateLimit-Remaining before and after), the wall time, the product's CPU time (user +
  system of the okrsync process, start-up included) and its peak RSS.
- The peer: MeltanoLabs' Singer `tap-github` (in its own virtualenv, bench/.venv-tap,
  created when missing) pulling the `issues` stream of the same repository from the same
  sandbox, next to okrsync's full pull of it into a fresh store without comment writes.
- A CPU profile (pyinstrument, when installed in this virtualenv) of a full sync and an
  unchanged cycle at 10,000 GitHub issues: the functions with the most own time.

    python bench/standard.py [--sizes 1000,10000,100000] [--sources github,jira,asana]
        [--latency-ms 20] [--runs 5] [--no-peer] [--no-profile] [--no-write]
        [--section NAME] [--baseline EARLIER-RUN.txt]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"
BEGIN, END = "<!-- bench/standard.py: begin -->", "<!-- bench/standard.py: end -->"
TAP_VENV = HERE / ".venv-tap"
TAP_PACKAGE = "meltanolabs-tap-github"
PYTHON = Path(sys.executable)
OKRSYNC = [str(PYTHON), "-m", "okrsync.cli"]
TOKEN = "ghp_benchtoken"
REPO = "acme/web"
# A full cycle of the largest size may take minutes: `make bench` should stay near 20.
SLOW_CYCLE_S = 300
# Cycles run after the 1% change before the unchanged one is measured (see bench_source).
SETTLE_CYCLES = 3

CYCLE = {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"}
OBJECTIVES = [
    {
        "id": "O",
        "title": "Objective",
        "key_results": [
            {"id": f"KR-{n}", "title": f"KR {n}", "baseline": 0, "target": 100} for n in (1, 2, 3)
        ],
    }
]


def environment() -> dict[str, str]:
    """The subprocesses' environment: bytecode cached as in a normal install."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(BENCH_GITHUB_TOKEN=TOKEN, BENCH_JIRA_EMAIL="bench@acme.example")
    env.update(BENCH_JIRA_TOKEN="bench-token", BENCH_ASANA_TOKEN="asana-bench-token")
    return env


# ------------------------------------------------------------------ measuring a process


@dataclass
class Run:
    wall: float
    cpu: float  # user + system seconds of the process itself
    rss_mib: float  # peak resident set size
    code: int
    out: str
    err: str
    sandbox_cpu: float = 0.0  # this process's CPU meanwhile: the sandbox answering


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# Starts the command from a small process of its own and reports its wall time and
# rusage. Not from the bench process itself: a forked child's peak RSS starts at its
# parent's, and this one holds the seeded sandboxes (hundreds of MiB at 100k items).
LAUNCHER = """\
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(sys.argv[1], "w") as report:
    report.write(f"{wall} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(argv: Sequence[str], env: dict[str, str], stdout_path: Path | None = None) -> Run:
    """Runs `argv`: its wall time, its own CPU time and peak RSS (os.wait4: that process
    only, measured by LAUNCHER), and this process's CPU meanwhile (the sandboxes)."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as usage,
    ):
        sink = stdout_path.open("wb") if stdout_path is not None else out
        launcher = [sys.executable, "-S", "-c", LAUNCHER, usage.name]
        try:
            sandbox = own_cpu()
            code = subprocess.run(
                [*launcher, *argv], stdout=sink, stderr=err, env=env, cwd=ROOT
            ).returncode
            sandbox = own_cpu() - sandbox
        finally:
            if sink is not out:
                sink.close()
        wall, cpu, rss_kib = (float(n) for n in usage.read().split())
        out.seek(0)
        err.seek(0)
        return Run(
            wall=wall,
            cpu=cpu,
            rss_mib=rss_kib / 1024,  # Linux: KiB
            code=code,
            out=out.read().decode(errors="replace"),
            err=err.read().decode(errors="replace"),
            sandbox_cpu=sandbox,
        )


# ------------------------------------------------------------------ sandboxes


def with_latency(box: Any, seconds: float) -> Any:
    """Every routed request waits `seconds` before it is answered, like a network hop;
    the exchange checks (openapi-core) are off: the bench measures okrsync, not them."""
    authenticate = box.authenticate

    def slow(request: Any) -> None:
        if seconds:
            time.sleep(seconds)
        authenticate(request)

    box.authenticate = slow
    box._validator = None  # noqa: SLF001 (bench only)
    return box


def kinds(requests: Sequence[Any]) -> str:
    def kind(path: str) -> str:
        markers = ("sub_issues", "subtasks", "stories", "comment", "search/jql", "search")
        for marker in (*markers, "issues", "tasks", "serverInfo", "field"):
            if marker in path:
                return marker
        return path

    counted = Counter(f"{r.method} {kind(r.path)}" + (f" {r.status}" if r.status != 200 else "")
                      for r in requests)  # fmt: skip
    return ", ".join(f"{n} {name}" for name, n in sorted(counted.items()))


@dataclass
class Scenario:
    """One source at one size: its sandbox seeded, its config, how 1% changes."""

    source: str
    items: int
    box: Any
    settings: dict[str, Any]
    change: Callable[[int], None]
    minimum: dict[str, str]
    changed: int = 0
    notes: list[str] = field(default_factory=list)


LAST_WEEK = datetime.now(UTC) - timedelta(days=7)
MAPPED, CHILDREN = 20, 9  # labelled parents, and sub-items under each


def github_scenario(items: int, latency: float) -> Scenario:
    from okrsync_sandbox import GitHubSandbox

    box = with_latency(GitHubSandbox(token=TOKEN), latency)
    box.start()
    real_clock, box.now = box.now, lambda: LAST_WEEK  # linking sub-issues bumps updated_at
    box.add_repo(REPO)
    order: list[int] = []  # what changes first: the sub-issues, then the others
    for n in range(MAPPED):
        parent = box.add_issue(REPO, f"Parent {n}", labels=[f"okr:KR-{n % 3 + 1}"],
                               updated_at=LAST_WEEK)  # fmt: skip
        for c in range(CHILDREN):
            child = box.add_issue(REPO, f"Child {n}.{c}", labels=[f"points:{c % 5 + 1}"],
                                  updated_at=LAST_WEEK)  # fmt: skip
            box.add_sub_issue(REPO, parent, REPO, child)
            order.append(child)
    for n in range(items - MAPPED * (CHILDREN + 1)):
        order.append(box.add_issue(REPO, f"Other {n}", updated_at=LAST_WEEK))
    box.now = real_clock

    def change(count: int) -> None:
        for number in order[:count]:
            box.close_issue(REPO, number)

    pages = math.ceil(items / 100)
    changed = max(1, items // 100)
    settings = {"github": {"url": box.url, "token_env": "BENCH_GITHUB_TOKEN", "repos": [REPO],
                           "seconds_between_requests": 0, "seconds_between_writes": 0}}  # fmt: skip
    return Scenario(
        "github",
        items,
        box,
        settings,
        change,
        {
            "full": f"{pages} list pages + {MAPPED} comment POSTs",
            "changed": f"{math.ceil(changed / 100)} list page(s) (since) + one PATCH per "
            "target whose comment changed",
            "unchanged": "1 list page, answered 304 (If-None-Match)",
        },
        changed,
    )


def jira_scenario(items: int, latency: float) -> Scenario:
    from okrsync_sandbox import JiraSandbox

    email, token = "bench@acme.example", "bench-token"
    box = with_latency(JiraSandbox(mode="cloud", email=email, token=token), latency)
    box.start()
    epics = MAPPED * 5
    epic_keys = []
    for number in range(epics):
        labels = [f"okr:KR-{number % 3 + 1}"] if number % 5 == 0 else []
        epic_keys.append(box.add_issue(project="ONB", summary=f"Epic {number}", issuetype="Epic",
                                       status="In Progress", labels=labels, updated=LAST_WEEK))  # fmt: skip
    stories = [
        box.add_issue(
            project="ONB",
            summary=f"Story {n}",
            issuetype="Story",
            status=("To Do", "In Progress", "Done")[n % 3],
            parent=epic_keys[n % epics],
            story_points=float(n % 5 + 1),
            updated=LAST_WEEK,
        )  # fmt: skip
        for n in range(items - epics)
    ]

    def change(count: int) -> None:
        for key in stories[:count]:
            box.set_status(key, "Done")

    pages = math.ceil(items / 100)
    changed = max(1, items // 100)
    auth = {"email_env": "BENCH_JIRA_EMAIL", "token_env": "BENCH_JIRA_TOKEN"}
    settings = {"jira": {"url": box.url, "auth": auth, "jql": "project = ONB"}}
    return Scenario(
        "jira",
        items,
        box,
        settings,
        change,
        {
            "full": f"2 + {pages} reads (serverInfo, field, pages of 100) + {MAPPED} comment POSTs",
            "changed": f"2 + {math.ceil(changed / 100)} reads + one PUT per target whose comment "
            "changed",
            "unchanged": "3 reads (serverInfo, field, 1 page), 0 writes",
        },
        changed,
    )


def asana_scenario(items: int, latency: float) -> Scenario:
    from okrsync_sandbox import AsanaSandbox

    box = with_latency(AsanaSandbox(token="asana-bench-token"), latency)
    box.start()
    project = box.add_project("Bench")
    box.add_number_field("Story Points")
    order: list[str] = []
    for n in range(MAPPED):
        parent = box.add_task(project, f"Parent {n}", tags=[f"okr:KR-{n % 3 + 1}"],
                              modified_at=LAST_WEEK)  # fmt: skip
        for c in range(CHILDREN):
            order.append(box.add_task(None, f"Sub {n}.{c}", parent=parent,
                                      points=float(c % 5 + 1), modified_at=LAST_WEEK))  # fmt: skip
    top_level = items - MAPPED * CHILDREN
    for n in range(top_level - MAPPED):
        order.append(box.add_task(project, f"Other {n}", modified_at=LAST_WEEK))

    def change(count: int) -> None:
        for gid in order[:count]:
            box.complete_task(gid)

    pages = math.ceil(top_level / 100)
    changed = max(1, items // 100)
    settings = {"asana": {"url": box.url, "token_env": "BENCH_ASANA_TOKEN", "projects": [project],
                          "points_field": "Story Points"}}  # fmt: skip
    return Scenario(
        "asana",
        items,
        box,
        settings,
        change,
        {
            "full": f"{pages} task pages + {MAPPED} subtask lists + {MAPPED} comment POSTs",
            "changed": f"1 task page (modified_since) + {MAPPED} subtask lists + one PUT per "
            "target whose comment changed",
            "unchanged": f"1 task page + {MAPPED} subtask lists (modified_since does not see "
            "subtask changes), 0 writes",
        },
        changed,
    )


SCENARIOS: dict[str, Callable[[int, float], Scenario]] = {
    "github": github_scenario,
    "jira": jira_scenario,
    "asana": asana_scenario,
}


def write_config(folder: Path, sources: dict[str, Any], name: str = "okrsync") -> Path:
    """The config as JSON (YAML's subset): store in `folder`, the given sources."""
    config = {
        "version": 1,
        "cycle": CYCLE,
        "store": {"url": f"sqlite:///{folder / (name + '.db')}"},
        "sources": sources,
        "objectives": OBJECTIVES,
    }
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


# ------------------------------------------------------------------ the report


class Report:
    """Lines printed as they come, and kept for bench/RESULTS.md."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self("| " + " | ".join(header) + " |")
        self("| " + " | ".join("---" for _ in header) + " |")
        for row in rows:
            self("| " + " | ".join(row) + " |")
        self()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        ram = f", {memory:.1f} GiB RAM"
    except (ValueError, OSError):
        ram = ""
    load = ", load " + " ".join(f"{n:.2f}" for n in os.getloadavg())
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs{ram}{load}; "
        f"Python {platform.python_version()}"
    )


# ------------------------------------------------------------------ start-up


def bench_startup(report: Report, runs: int) -> None:
    env = environment()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        sources = {
            "jira": {"url": "https://jira.example", "jql": "project = ONB"},
            "github": {"url": "https://api.github.example", "repos": [REPO]},
            "asana": {"url": "https://app.asana.example/api/1.0", "projects": ["1200"]},
        }
        config = str(write_config(folder, sources))
        run([*OKRSYNC, "--config", config, "db", "upgrade"], env)  # the store at head
        commands = {
            "okrsync --help": ["--help"],
            "okrsync validate": ["--config", config, "validate"],
            "okrsync status": ["--config", config, "status"],
            "okrsync metric set": ["--config", config, "metric", "set", "KR-1", "42"],
        }
        rows = []
        for title, argv in commands.items():
            run([*OKRSYNC, *argv], env)  # once to compile and cache the bytecode
            measured = [run([*OKRSYNC, *argv], env) for _ in range(runs)]
            failed = [m for m in measured if m.code != 0]
            if failed:
                raise SystemExit(f"{title} failed: {failed[0].err}")
            walls = sorted(m.wall for m in measured)
            rows.append(
                [
                    f"`{title}`",
                    f"{statistics.median(walls) * 1000:.0f} ms",
                    f"{walls[0] * 1000:.0f}–{walls[-1] * 1000:.0f} ms",
                    f"{statistics.median(m.cpu for m in measured) * 1000:.0f} ms",
                    f"{statistics.median(m.rss_mib for m in measured):.0f} MiB",
                ]
            )
    report(f"### Start-up (median of {runs} runs, each a fresh process)")
    report()
    report.table(["command", "wall (median)", "range", "CPU (median)", "peak RSS"], rows)


# ------------------------------------------------------------------ syncs


def sync(config: Path, *extra: str) -> Run:
    return run([*OKRSYNC, "--config", str(config), "--log-level", "warning", "sync", "--once",
                *extra], environment())  # fmt: skip


def settled(scenario: Scenario) -> bool:
    """Whether the last cycle's list reads were all answered 304 (or it read none)."""
    return all(r.status == 304 for r in scenario.box.requests if r.method == "GET")


def remaining(scenario: Scenario) -> int | None:
    """The sandbox's `X-RateLimit-Remaining` ("core") now: None for a source without one."""
    left = getattr(scenario.box, "rate_limit_remaining", None)
    return left if isinstance(left, int) else None


def measured_sync(scenario: Scenario, config: Path) -> tuple[Run, str]:
    """One `sync --once` from a fresh request log: its run, and the quota it spent as the
    sandbox's X-RateLimit-Remaining before → after says."""
    scenario.box.reset_log()
    before = remaining(scenario)
    result = sync(config)
    after = remaining(scenario)
    if before is None or after is None:
        return result, "–"
    return result, f"{before - after} ({before:,} → {after:,})"


def cycle_row(
    scenario: Scenario, title: str, minimum: str, result: Run, quota: str = "–"
) -> list[str]:
    requests = scenario.box.requests
    if result.code != 0:  # a figure of a failed cycle would mislead: say why instead
        lines = [line for line in result.err.splitlines() if line.strip()]
        why = (lines[-1] if lines else "no output")[:300].replace("|", "/")
        return [f"{scenario.items:,}", title, f"FAILED (exit {result.code}): {why}",
                minimum, "", "", "", "", ""]  # fmt: skip
    not_modified = sum(1 for r in requests if r.status == 304)
    return [
        f"{scenario.items:,}",
        title,
        f"{len(requests)} ({kinds(requests)}); {not_modified} answered 304",
        minimum,
        quota,
        f"{result.wall:.2f} s",
        f"{result.cpu:.2f} s",
        f"{result.rss_mib:.0f} MiB",
        f"{result.sandbox_cpu:.2f} s",
    ]


def bench_source(report: Report, source: str, sizes: Sequence[int], latency: float,
                 profile_at: int | None) -> dict[int, Run]:  # fmt: skip
    rows: list[list[str]] = []
    fulls: dict[int, Run] = {}
    notes: list[str] = []
    for items in sizes:
        print(f"... {source}: seeding {items:,} items", flush=True)
        scenario = SCENARIOS[source](items, latency)
        try:
            with tempfile.TemporaryDirectory() as scratch:
                config = write_config(Path(scratch), scenario.settings)
                full, quota = measured_sync(scenario, config)
                fulls[items] = full
                rows.append(cycle_row(scenario, "full sync", scenario.minimum["full"], full,
                                      quota))  # fmt: skip
                if full.wall > SLOW_CYCLE_S:
                    notes.append(f"{items:,} items: the full sync took {full.wall:.0f} s")
                scenario.change(scenario.changed)
                changed, quota = measured_sync(scenario, config)
                title = f"{scenario.changed:,} changed (1%)"
                rows.append(cycle_row(scenario, title, scenario.minimum["changed"], changed,
                                      quota))  # fmt: skip
                # Settling: the cycle after a change reads what okrsync's own writes
                # touched (a comment bumps an issue's updated_at) and moves the bookmark;
                # the first cycle on the new bookmark reads its listing (a new URL) and
                # keeps its ETag. Settled once a cycle's listing reads are all 304s.
                for settling in range(1, SETTLE_CYCLES + 1):
                    settle, quota = measured_sync(scenario, config)
                    rows.append(cycle_row(scenario, f"settle {settling}", "–", settle,
                                          quota))  # fmt: skip
                    if settle.code != 0 or settled(scenario):
                        break
                idle, quota = measured_sync(scenario, config)
                title = "unchanged (steady state)"
                rows.append(cycle_row(scenario, title, scenario.minimum["unchanged"], idle,
                                      quota))  # fmt: skip
                if profile_at == items:
                    profiles[source] = profile_cycles(scenario, Path(scratch))
        finally:
            scenario.box.stop()
    report(f"### {source}: `okrsync sync --once`, {latency * 1000:.0f} ms a request")
    report()
    report.table(
        ["items", "cycle", "requests (by kind)", "minimum", "quota used (remaining before → "
         "after)", "wall", "CPU", "peak RSS", "sandbox CPU"],
        rows,
    )  # fmt: skip
    report(
        "Wall is the okrsync process's, waiting included: the latency, and the sandbox "
        "answering (its CPU in the last column, on the same cores). CPU and peak RSS are "
        "the okrsync process's own, start-up included."
    )
    report()
    for note in notes:
        report(f"- {note}")
    return fulls


# ------------------------------------------------------------------ processing rate


def bench_processing(report: Report, items: int) -> None:
    """Map, roll up and store `items` in this process, start-up excluded: the store's
    upsert into a fresh SQLite file (items and first versions), the latest-state read a
    cycle does, and the pure computation (mapping, roll-up, targets) over them. CPU time
    of this process; each figure as items per CPU-second."""
    from okrsync._collector import collector_paused
    from okrsync.config import default_model
    from okrsync.domain import Bucket, WorkItem, compute_report
    from okrsync.store import Store

    now = datetime(2026, 11, 15, tzinfo=UTC)
    buckets = (Bucket.TODO, Bucket.IN_PROGRESS, Bucket.DONE)
    work = [
        WorkItem(
            source="github", key=f"acme/web#{n}", title=f"Issue {n}", type="Issue",
            status=buckets[n % 3].value, bucket=buckets[n % 3], points=float(n % 5 + 1),
            labels=(f"okr:KR-{n // 50 % 3 + 1}",) if n % 50 == 0 else ("bug",),
            parent=None if n % 50 == 0 else f"acme/web#{n - n % 50}", updated=LAST_WEEK,
            url=f"https://github.example/acme/web/issues/{n}", remote_id=str(n),
            child_count=49 if n % 50 == 0 else None,
        )  # fmt: skip
        for n in range(items)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        raw = json.loads(write_config(Path(scratch), {}).read_text(encoding="utf-8"))
        raw["sources"] = {"github": {"token_env": "BENCH_GITHUB_TOKEN", "repos": [REPO]}}
        config = default_model().model_validate(raw)
        store = Store(f"sqlite:///{Path(scratch) / 'rate.db'}")
        try:
            began = time.process_time()
            store.upsert_items(work, seen_at=now)
            stored = time.process_time() - began
            began = time.process_time()
            read = store.items()
            reading = time.process_time() - began
        finally:
            store.close()
        began = time.process_time()
        with collector_paused():  # as a sync cycle computes its report
            compute_report(config.domain_cycle(), config.domain_objectives(), read, [],
                           config.rules(), now, start_items=read)  # fmt: skip
        computing = time.process_time() - began
    total = stored + reading + computing
    report(f"### Processing rate: {items:,} items in one process (start-up excluded)")
    report()
    report.table(
        ["step", "CPU", "items per CPU-second"],
        [
            [name, f"{seconds:.2f} s", f"{items / seconds:,.0f}"]
            for name, seconds in (
                ("store: upsert into a fresh SQLite store (items + first versions)", stored),
                ("store: read the latest state back", reading),
                ("map, roll up, targets (`compute_report`, the collector paused as in a cycle)", computing),
                ("all three", total),
            )
        ],
    )


# ------------------------------------------------------------------ profile

profiles: dict[str, list[str]] = {}


def profile_cycles(scenario: Scenario, scratch: Path) -> list[str]:
    """pyinstrument on a full sync into a fresh store and on the unchanged cycle after it."""
    lines: list[str] = []
    config = write_config(scratch, scenario.settings, name="profiled")
    for title in ("full sync", "unchanged cycle"):
        output = scratch / "profile.json"
        argv = [str(PYTHON), "-m", "pyinstrument", "--renderer", "json", "-o", str(output),
                "-m", "okrsync.cli", "--config", str(config), "--log-level", "warning",
                "sync", "--once"]  # fmt: skip
        result = run(argv, environment())
        if result.code != 0:
            lines.append(f"- {title}: the profile failed: {result.err.strip()[-300:]}")
            continue
        lines += top_frames(title, json.loads(output.read_text()))
    return lines


# Where own time goes, by the file (or built-in) a sampled frame was in.
AREAS = (
    ("waiting for the server (socket)", ("socket.", "select.", "ssl.")),
    ("store: SQLAlchemy, sqlite3", ("okrsync/store", "sqlalchemy/",
                                              "Cursor.", "Connection.", "sqlite3")),
    ("HTTP and JSON: requests, urllib3, PyGithub, jira, json", ("requests/", "urllib3/", "github/",
                                                               "jira/", "json/", "http/")),
    ("connectors (okrsync/sources)", ("okrsync/sources",)),
    ("mapping and report (okrsync/domain)", ("okrsync/domain",)),
    ("config and models (pydantic)", ("pydantic", "okrsync/config")),
)  # fmt: skip


def area(frame: dict[str, Any]) -> str:
    where = f"{frame.get('file_path_short') or ''} {frame['function']}"
    for name, markers in AREAS:
        if any(marker in where for marker in markers):
            return name
    return "other"


def top_frames(title: str, profile: dict[str, Any], count: int = 10) -> list[str]:
    """The functions with the most own time, and own time by area (module bodies run
    while importing counted as start-up, whatever they are)."""
    own: Counter[str] = Counter()
    areas: Counter[str] = Counter()

    def walk(frame: dict[str, Any], importing: bool) -> None:
        children = frame.get("children") or []
        seconds = frame["time"] - sum(child["time"] for child in children)
        where = frame.get("file_path_short") or frame.get("file_path") or "?"
        own[f"`{frame['function']}` ({where}:{frame.get('line_no', '?')})"] += seconds
        areas["start-up: imports (module bodies)" if importing else area(frame)] += seconds
        for child in children:
            module_body = child["function"] == "<module>" and "okrsync/cli" not in where
            walk(child, importing or module_body)

    root = profile["root_frame"]
    total = root["time"]
    walk(root, False)
    lines = [f"**{title}** ({total:.2f} s sampled, wall)", ""]
    lines += ["| area | own time | share |", "| --- | --- | --- |"]
    for name, seconds in areas.most_common():
        lines.append(f"| {name} | {seconds:.2f} s | {seconds / total:.0%} |")
    lines += ["", "| function (top own time) | own time | share |", "| --- | --- | --- |"]
    for where, seconds in own.most_common(count):
        lines.append(f"| {where} | {seconds:.2f} s | {seconds / total:.0%} |")
    lines.append("")
    return lines


# ------------------------------------------------------------------ the peer: tap-github


def tap_python() -> Path | None:
    python = TAP_VENV / "bin" / "python"
    if not (TAP_VENV / "bin" / "tap-github").exists():
        print(f"... creating {TAP_VENV} with {TAP_PACKAGE}", flush=True)
        made = subprocess.run([sys.executable, "-m", "venv", str(TAP_VENV)])
        installed = (
            made.returncode == 0
            and subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", TAP_PACKAGE]
            ).returncode
            == 0
        )
        if not installed:
            return None
    return python


# Three changes to the tap, all made here, none to what it pulls or how: (1) it pages
# `issues` by the `after` cursor of GitHub's Link header, while the sandbox (as GitHub's
# OpenAPI description of this endpoint) pages by `page`, which the tap also reads with
# cursor paging off; (2) it checks its token at the hard-coded
# https://api.github.com/rate_limit whatever `api_url_base` says: sent to the sandbox's
# /rate_limit instead; (3) it looks the repository's id up with one GraphQL query, which
# the sandbox (REST only) does not serve: the id is given.
TAP_MAIN = """\
import os, requests
import tap_github.repository_streams as streams
streams.IssuesStream.use_cursor_pagination = False
_get = requests.get
def get(url, *args, **kwargs):
    return _get(url.replace("https://api.github.com", os.environ["BENCH_GITHUB_API"]), *args, **kwargs)
requests.get = get
def repo_ids(self, repos):
    return [{"org": org, "repo": repo, "repo_id": int(os.environ["BENCH_REPO_ID"])} for org, repo in repos]
streams.RepositoryStream.get_repo_ids = repo_ids
from tap_github.tap import TapGitHub
TapGitHub.cli()
"""


def bench_peer(report: Report, items: int, latency: float, runs: int) -> None:
    """tap-github and okrsync's full re-pull, `runs` times each, alternated (tap, okrsync,
    tap, ...) on one seeded sandbox: the machine's slow spells then fall on both sides,
    and the ratio is each pair's, reported as the median with its range."""
    python = tap_python()
    if python is None:
        report(f"### Peer: {TAP_PACKAGE} could not be installed into {TAP_VENV}: skipped")
        report()
        return
    version = subprocess.run([str(python), "-m", "pip", "show", TAP_PACKAGE],
                             capture_output=True, text=True).stdout  # fmt: skip
    version = next((line.split()[-1] for line in version.splitlines()
                    if line.startswith("Version:")), "?")  # fmt: skip
    print(f"... peer: seeding {items:,} issues", flush=True)
    scenario = github_scenario(items, latency)
    box = scenario.box
    taps: list[Run] = []
    ours: list[Run] = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            tap_config = folder / "tap.json"
            tap_config.write_text(json.dumps({
                "auth_token": TOKEN, "repositories": [REPO], "api_url_base": box.url,
                "start_date": "2000-01-01T00:00:00Z"}))  # fmt: skip
            catalog = folder / "catalog.json"
            env = dict(environment(), BENCH_GITHUB_API=box.url,
                       BENCH_REPO_ID=str(box.repository_id(REPO)))  # fmt: skip
            discovered = run([str(python), "-c", TAP_MAIN, "--config", str(tap_config),
                              "--discover"], env, stdout_path=catalog)  # fmt: skip
            if discovered.code != 0:
                raise SystemExit(f"tap-github --discover failed:\n{discovered.err[-2000:]}")
            catalog.write_text(json.dumps(select_issues(json.loads(catalog.read_text()))))
            singer = folder / "singer.jsonl"
            for attempt in range(runs):
                print(f"... peer: run {attempt + 1} of {runs}", flush=True)
                box.reset_log()
                tap = run([str(python), "-c", TAP_MAIN, "--config", str(tap_config), "--catalog",
                           str(catalog)], env, stdout_path=singer)  # fmt: skip
                if tap.code != 0:
                    raise SystemExit(f"tap-github failed:\n{tap.err[-2000:]}")
                tap_requests = box.requests
                records = sum(1 for line in singer.open()
                              if '"type":"RECORD"' in line.replace(" ", ""))  # fmt: skip
                taps.append(tap)
                box.reset_log()
                fresh = folder / f"okrsync-{attempt}"  # a fresh store each run: a full pull
                fresh.mkdir()
                mine = sync(write_config(fresh, scenario.settings), "--dry-run")
                if mine.code != 0:
                    raise SystemExit(f"okrsync failed:\n{mine.err}")
                ours.append(mine)
                our_requests = box.requests
                pulled = next((line for line in mine.out.splitlines()
                               if line.startswith("github:")), "")  # fmt: skip
    finally:
        box.stop()
    missing = sorted({r.path for r in tap_requests if r.status == 404})
    ratios = sorted(mine.wall / tap.wall for mine, tap in zip(ours, taps, strict=True))

    def median(values: Sequence[float]) -> str:
        ordered = sorted(values)
        return (f"{statistics.median(ordered):.2f} s ({ordered[0]:.2f}–{ordered[-1]:.2f})"
                if len(ordered) > 1 else f"{ordered[0]:.2f} s")  # fmt: skip

    def cpu(runs_: Sequence[Run]) -> str:
        return median([r.cpu for r in runs_])

    report(f"### Peer: {TAP_PACKAGE} {version} against okrsync, {items:,} GitHub issues, "
           f"{latency * 1000:.0f} ms a request ({runs} runs each, alternated; medians, "
           "ranges in brackets)")  # fmt: skip
    report()
    report.table(
        ["", "what", "requests", "wall", "CPU", "peak RSS", "sandbox CPU"],
        [
            ["tap-github", f"`issues` stream of {REPO} ({records:,} records to a file)",
             f"{len(tap_requests)} ({kinds(tap_requests)})", median([r.wall for r in taps]),
             cpu(taps), f"{max(r.rss_mib for r in taps):.0f} MiB",
             median([r.sandbox_cpu for r in taps])],
            ["okrsync", "`sync --once --dry-run`, fresh SQLite store (full pull, stored; no "
             f"comment writes): {pulled.split(';')[1].strip() if ';' in pulled else pulled}",
             f"{len(our_requests)} ({kinds(our_requests)})", median([r.wall for r in ours]),
             cpu(ours), f"{max(r.rss_mib for r in ours):.0f} MiB",
             median([r.sandbox_cpu for r in ours])],
        ],
    )  # fmt: skip
    report(
        f"okrsync's wall over tap-github's, run by run: median "
        f"**{statistics.median(ratios):.2f}×**, range {ratios[0]:.2f}–{ratios[-1]:.2f}× "
        f"(goal ≤ 0.7×)."
    )
    report()
    report(
        "The tap pages `issues` by `page`, checks its token at the sandbox's /rate_limit and "
        "is given the repository id it would ask GraphQL for (TAP_MAIN in bench/standard.py); "
        "its parent `repositories` stream reads the repository once."
        + (f" Paths the sandbox answered 404 to: {', '.join(missing)}." if missing else "")
    )
    report()


def select_issues(catalog: dict[str, Any]) -> dict[str, Any]:
    """Only the `issues` stream (and the repository it hangs from, not emitted) selected."""
    for stream in catalog["streams"]:
        chosen = stream["tap_stream_id"] == "issues"
        for entry in stream.get("metadata", []):
            if entry.get("breadcrumb") == []:
                entry["metadata"]["selected"] = chosen
    return catalog


# ------------------------------------------------------------------ main


def write_results(
    report: Report, name: str = "", markers: tuple[str, str] = (BEGIN, END)
) -> None:
    """The run into its generated section of bench/RESULTS.md, between `markers` (the
    standard section's unless another script passes its own; `--section NAME` makes a
    named one), replacing that section's previous run."""
    begin, end = markers if not name else (
        markers[0].replace(":", f" [{name}]:"), markers[1].replace(":", f" [{name}]:"))  # fmt: skip
    section = "\n".join([begin, *report.lines, end]) + "\n"
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + section + rest.split(end, 1)[1].lstrip("\n")
    else:
        text = section + ("\n" + text if text else "")
    RESULTS.write_text(text, encoding="utf-8")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


@contextmanager
def quiet_sandboxes() -> Iterator[None]:
    from okrsync.logs import configure_logging

    configure_logging("warning")
    yield


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000", help="GitHub issue counts")
    parser.add_argument("--sources", default="github,jira,asana")
    parser.add_argument("--other-sizes", default="1000,10000",
                        help="item counts for the sources other than GitHub")  # fmt: skip
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=7, help="start-up runs per command")
    parser.add_argument("--peer-size", type=int, default=10_000)
    parser.add_argument("--peer-runs", type=int, default=3,
                        help="alternated runs of the peer and of okrsync")  # fmt: skip
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--rate-items", type=int, default=100_000,
                        help="items for the in-process processing rate (0: skip)")  # fmt: skip
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--section", default="", help="write to a section of its own, named so (e.g. a partial run)"
    )
    parser.add_argument("--baseline", type=Path,
                        help="an earlier run's printed report (`--no-write > FILE`), included "
                        "as it is, before this run's, for a before/after comparison")  # fmt: skip
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    other_sizes = [int(size) for size in args.other_sizes.split(",") if size]
    latency = args.latency_ms / 1000
    profiling = not args.no_profile and _has_pyinstrument()
    started = time.perf_counter()
    report = Report()
    named = f": {args.section}" if args.section else ""
    report(f"## Standard benchmark{named} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    report()
    report(f"- machine: {machine()}")
    command = "python bench/standard.py" + (
        "" if len(sys.argv) < 2 else " " + shlex.join(sys.argv[1:])
    )
    report(f"- command: `{command}` (`make bench`)")
    report("- sandboxes served from the bench process; each okrsync run a fresh process "
           "(`python -m okrsync.cli`), whose CPU time and peak RSS are its own (os.wait4)")  # fmt: skip
    report()
    if args.baseline is not None:
        report(f"### Before: an earlier run of this script (`{args.baseline.name}`, as printed)")
        report()
        for line in args.baseline.read_text(encoding="utf-8").splitlines():
            if line.startswith(("... ", "written to ")):
                continue  # progress lines
            report("##" + line if line.startswith("#") else line)  # its headings under this one
        report("### After: this run")
        report()
    with quiet_sandboxes():
        bench_startup(report, args.runs)
        if args.rate_items:
            bench_processing(report, args.rate_items)
        for source in [name for name in args.sources.split(",") if name]:
            chosen = sizes if source == "github" else other_sizes
            profile_at = 10_000 if profiling and source == "github" and 10_000 in chosen else None
            bench_source(report, source, chosen, latency, profile_at)
        if not args.no_peer:
            bench_peer(report, args.peer_size, latency, args.peer_runs)
    report("### CPU profile: GitHub, 10,000 issues (pyinstrument)")
    report()
    if profiles:
        for lines in profiles.values():
            for line in lines:
                report(line)
    else:
        reason = "not asked for" if args.no_profile else "pyinstrument is not installed here"
        report(f"Not run: {reason} (`pip install pyinstrument` into .venv).")
        report()
    report(f"_The whole run took {time.perf_counter() - started:.0f} s._")
    if not args.no_write:
        write_results(report, args.section)


def _has_pyinstrument() -> bool:
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
