"""`okrsync demo`: the whole loop against local Jira, GitHub and Asana sandboxes.

Three cycles tell the story: the first posts one managed comment per top-level item in
each system, the second changes nothing and writes nothing, the third follows finished
work by editing the same comments in place. The onboarding objective draws its work
from all three systems at once.

okrsync's CLI imports this module only inside `okrsync demo` and `okrsync sandbox`: the
sandbox (and openapi-core) come with `pip install 'okrsync[demo]'`.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.panel import Panel

from okrsync.config import load_config
from okrsync.domain import MetricSample
from okrsync.render import report_console, report_table
from okrsync.service import CycleResult, run_cycle, source_factory
from okrsync.service.report import report_html
from okrsync.store import Store
from okrsync_sandbox.world import ENV_NAMES, World, demo_config_path, serve_world

DEMO_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

# (KR, ISO date, value): check-ins a product team would have recorded so far.
CHECK_INS = [
    ("ONB-1", "2026-10-01", 68.0), ("ONB-1", "2026-10-15", 69.5), ("ONB-1", "2026-11-01", 71.0),
    ("ONB-1", "2026-11-15", 73.0), ("ONB-1", "2026-11-22", 74.0),
    ("ONB-2", "2026-10-01", 14.0), ("ONB-2", "2026-11-01", 11.0), ("ONB-2", "2026-11-20", 9.0),
    ("SEC-1", "2026-10-01", 20.0), ("SEC-1", "2026-11-10", 22.0),
]  # fmt: skip


def run_demo(keep: Path | None = None) -> int:
    console = report_console()
    with (
        tempfile.TemporaryDirectory(prefix="okrsync-demo-") as scratch,
        serve_world() as world,
        demo_config_path() as config_path,
    ):
        workdir = keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        environ = world.environ(f"sqlite:///{workdir / 'okrsync.db'}")
        config = load_config(config_path, environ).config
        store = Store(config.store.url)
        failed: list[str] = []
        try:
            for kr_id, day, value in CHECK_INS:
                at = datetime.fromisoformat(day).replace(tzinfo=UTC)
                store.add_sample(MetricSample(kr_id, value, at))

            def cycle(title: str) -> CycleResult:
                world.reset_log()
                started = time.perf_counter()
                result = run_cycle(config, store, source_factory(config, environ), now=DEMO_NOW)
                seconds = time.perf_counter() - started
                console.print(f"[bold]{title}[/] ({seconds:.2f} s)")
                for (label, box), outcome in zip(world.boxes(), result.sources, strict=True):
                    console.print(
                        f"  {label:7} pulled {outcome.pulled:3} items, "
                        f"{len(box.requests):2} requests, "
                        f"{len(box.writes)} writes: {outcome.created} comments created, "
                        f"{outcome.edited} edited, {outcome.skipped} unchanged"
                    )
                    if outcome.error:
                        failed.append(label)
                        console.print(f"  {label:7} [red]FAILED[/]: {outcome.error}", markup=True)
                return result

            console.rule("okrsync demo: Jira, GitHub and Asana sandboxes on 127.0.0.1")
            first = cycle("Cycle 1")
            console.print(report_table(first.report, console.width))
            show_comments(console, world)
            cycle("Cycle 2, nothing changed")
            world.jira.set_status(world.keys["Wizard: skip and resume"], "Done")
            world.asana.complete_task(world.keys["Stalled-account nudge"])
            console.print(
                "A developer finishes 'Wizard: skip and resume' in Jira (8 points); "
                "marketing completes the 'Stalled-account nudge' subtask in Asana (3 points)."
            )
            third = cycle("Cycle 3")
            status = third.report.kr_status("ONB-1")
            wizard = world.keys["Guided setup wizard"]
            console.print(
                f"ONB-1 delivery now {status.delivery_progress:.0%} across the three systems; "
                f"{wizard} still has {len(world.jira.comments(wizard))} managed comment, "
                "edited in place."
            )
            report = report_path(keep)
            report.write_text(report_html(config, store, DEMO_NOW), encoding="utf-8")
            console.print(f"The report, one self-contained HTML page: {report}", soft_wrap=True)
        finally:
            store.close()
        if keep:
            console.print(f"Store kept in {workdir}")
    if failed:
        systems = ", ".join(sorted(set(failed)))
        console.print(f"[red]The demo did not go as told: {systems} failed.[/]")
        return 1
    return 0


def report_path(keep: Path | None) -> Path:
    """Where the demo writes its HTML report: in the kept directory, else in the system's
    temporary directory (the demo's own scratch directory is gone when it ends)."""
    if keep is not None:
        return keep / "okrsync-report.html"
    return Path(tempfile.gettempdir()) / "okrsync-demo-report.html"


def show_comments(console: Console, world: World) -> None:
    """Each system's managed comment on the onboarding item, as the system stores it."""
    wizard = world.keys["Guided setup wizard"]
    number = int(world.keys["gh_onboarding"])
    task = world.keys["asana_task"]
    shown = [
        (
            f"Jira {wizard}: managed comment (wiki markup)",
            [c["body"] for c in world.jira.comments(wizard)],
        ),
        (
            f"GitHub acme/web#{number}: managed comment (Markdown)",
            [c["body"] for c in world.github.comments("acme/web", number)],
        ),
        (
            "Asana 'Onboarding email series': managed comment (html_text)",
            [s["html_text"] for s in world.asana.stories(task) if s["type"] == "comment"],
        ),
    ]
    for title, bodies in shown:
        console.print(Panel(bodies[0] if bodies else "(no managed comment)", title=title))


def serve_sandbox(mode: Literal["cloud", "server"]) -> int:
    """Serve the seeded world until Ctrl-C, for trying the CLI against it by hand."""
    with serve_world(jira_mode=mode) as world, demo_config_path() as config_path:
        environ = world.environ("sqlite:///okrsync-demo.db")
        print("Sandboxes are up. In another shell:")
        for name in (*ENV_NAMES, "STORE"):
            variable = f"OKRSYNC_DEMO_{name}"
            print(f"  export {variable}={environ[variable]}")
        auth = "" if mode == "cloud" else " (Server mode: drop email_env from the config)"
        print(f"  okrsync --config {config_path} sync --once   (Ctrl-C here stops them){auth}")
        print(f"  (Jira: {world.jira.url}, GitHub: {world.github.url}, Asana: {world.asana.url})")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0
