"""`okrsync demo`: the whole loop against a local Jira sandbox, no credentials needed.

Three cycles tell the story: the first posts one managed comment per top-level epic,
the second changes nothing and writes nothing, the third follows a finished story
by editing the same comments in place.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from rich.panel import Panel

from okrsync.config import load_config
from okrsync.domain import MetricSample
from okrsync.render import report_console, report_table
from okrsync.sandbox import JiraSandbox
from okrsync.service import CycleResult, run_cycle, source_factory
from okrsync.store import Store

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo.yaml"
DEMO_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DEMO_EMAIL, DEMO_TOKEN = "demo@acme.example", "sandbox-demo-token"

# (KR, ISO date, value): check-ins a product team would have recorded so far.
CHECK_INS = [
    ("ONB-1", "2026-10-01", 68.0),
    ("ONB-1", "2026-10-15", 69.5),
    ("ONB-1", "2026-11-01", 71.0),
    ("ONB-1", "2026-11-15", 73.0),
    ("ONB-1", "2026-11-22", 74.0),
    ("ONB-2", "2026-10-01", 14.0),
    ("ONB-2", "2026-11-01", 11.0),
    ("ONB-2", "2026-11-20", 9.0),
    ("SEC-1", "2026-10-01", 20.0),
    ("SEC-1", "2026-11-10", 22.0),
]


def seed(jira: JiraSandbox) -> dict[str, str]:
    """Epics with stories and points, an unmapped epic, a dropped story, a hostile title."""
    keys: dict[str, str] = {}

    def epic(name: str, project: str, summary: str, labels: list[str]) -> str:
        keys[name] = jira.add_issue(
            project=project, summary=summary, issuetype="Epic", status="In Progress", labels=labels
        )
        return keys[name]

    def stories(parent: str, project: str, rows: list[tuple[str, str, float | None]]) -> None:
        for summary, status, points in rows:
            keys[summary] = jira.add_issue(
                project=project,
                summary=summary,
                issuetype="Story",
                status=status,
                parent=parent,
                story_points=points,
            )

    wizard = epic("wizard", "ONB", "Guided setup wizard", ["okr:ONB-1"])
    stories(
        wizard,
        "ONB",
        [
            ("Wizard: connect data source step", "Done", 3),
            ("Wizard: invite teammates step", "Done", 5),
            ("Wizard: progress persistence", "Done", 2),
            ("Wizard: skip and resume", "In Progress", 8),
            ("Wizard: localisation", "To Do", 3),
        ],
    )
    checklist = epic(
        "checklist", "ONB", "Progress checklist on the dashboard", ["onboarding-completion"]
    )
    stories(
        checklist,
        "ONB",
        [
            ("Checklist widget", "Done", 5),
            ("Checklist analytics events", "Done", 2),
            ("Checklist dismissal", "Done", 1),
            ("Checklist A/B test", "Done", 3),
        ],
    )
    samples = epic("samples", "ONB", "Sample data on signup", ["kr:ONB-2"])
    stories(
        samples,
        "ONB",
        [
            ("Seed sample project", "Done", 5),
            ("Sample dashboards", "In Progress", 3),
            ("Sample data cleanup job", "To Do", 2),
            ("Sample data for EU region", "Won't Do", 5),
        ],
    )
    keys["nudges"] = jira.add_issue(
        project="ONB",
        summary="Email nudges for stalled accounts",
        issuetype="Story",
        status="Done",
        labels=["OKR:onb-2"],
        story_points=3,
    )
    billing = epic("billing", "ONB", "Billing page redesign", [])
    stories(
        billing, "ONB", [("New plan picker", "In Progress", 5), ("Invoice history", "To Do", 3)]
    )

    sso = epic("sso", "SEC", "SAML SSO for all plans", ["okr:SEC-1"])
    stories(
        sso,
        "SEC",
        [
            ("SAML metadata upload", "Done", 5),
            ("SCIM provisioning", "Done", 8),
            ("SSO enforcement toggle", "Done", 3),
            ("SSO audit log", "In Review", 2),
        ],
    )
    scanning = epic("scanning", "SEC", "Dependency scanning in CI", ["okr:SEC-2"])
    stories(
        scanning,
        "SEC",
        [("Scanner in the build pipeline", "Done", 3), ("Triage dashboard", "To Do", 5)],
    )
    keys["hostile"] = jira.add_issue(
        project="SEC",
        summary="Patch [~admin] *urgent* {noformat}inject{noformat} @channel",
        issuetype="Bug",
        status="To Do",
        labels=["okr:SEC-2"],
        story_points=2,
    )
    return keys


@contextmanager
def demo_environment(workdir: Path) -> Iterator[tuple[JiraSandbox, dict[str, str]]]:
    with JiraSandbox(mode="cloud", email=DEMO_EMAIL, token=DEMO_TOKEN) as jira:
        keys = seed(jira)
        os.environ.update(
            {
                "OKRSYNC_DEMO_JIRA_URL": jira.url,
                "OKRSYNC_DEMO_STORE": f"sqlite:///{workdir / 'okrsync.db'}",
                "OKRSYNC_DEMO_JIRA_EMAIL": DEMO_EMAIL,
                "OKRSYNC_DEMO_JIRA_TOKEN": DEMO_TOKEN,
            }
        )
        yield jira, keys


def run_demo(keep: Path | None = None) -> int:
    console = report_console()
    with tempfile.TemporaryDirectory(prefix="okrsync-demo-") as scratch:
        workdir = keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        with demo_environment(workdir) as (jira, keys):
            config = load_config(DEMO_CONFIG).config
            store = Store(config.store.url)
            try:
                for kr_id, day, value in CHECK_INS:
                    store.add_sample(
                        MetricSample(kr_id, value, datetime.fromisoformat(day).replace(tzinfo=UTC))
                    )

                def cycle(title: str) -> CycleResult:
                    jira.reset_log()
                    started = time.perf_counter()
                    result = run_cycle(config, store, source_factory(config), now=DEMO_NOW)
                    seconds = time.perf_counter() - started
                    outcome = result.sources[0]
                    console.print(
                        f"[bold]{title}[/]: pulled {outcome.pulled} issues, "
                        f"{len(jira.requests)} requests ({len(jira.writes)} writes: "
                        f"{outcome.created} comments created, {outcome.edited} edited, "
                        f"{outcome.skipped} unchanged) in {seconds:.2f} s"
                    )
                    return result

                console.rule(f"okrsync demo: Jira sandbox at {jira.url}")
                first = cycle("Cycle 1")
                console.print(report_table(first.report))
                wizard = keys["wizard"]
                comment = jira.comments(wizard)[0]["body"]
                console.print(
                    Panel(comment, title=f"Managed comment on {wizard} (Jira wiki markup)")
                )
                cycle("Cycle 2, nothing changed")
                jira.set_status(keys["Wizard: skip and resume"], "Done")
                console.print("A developer finishes 'Wizard: skip and resume' (8 points).")
                third = cycle("Cycle 3")
                status = third.report.kr_status("ONB-1")
                console.print(
                    f"ONB-1 delivery now {status.delivery_progress:.0%}; {wizard} still has "
                    f"{len(jira.comments(wizard))} managed comment, edited in place."
                )
            finally:
                store.close()
        if keep:
            console.print(f"Config and store kept in {workdir}")
    return 0


def serve_sandbox(mode: Literal["cloud", "server"], port: int) -> int:
    """Serve a seeded sandbox until Ctrl-C, for trying the CLI against it by hand."""
    with JiraSandbox(mode=mode, email=DEMO_EMAIL, token=DEMO_TOKEN) as jira:
        seed(jira)
        print(f"Jira sandbox ({mode}) at {jira.url}")
        print(
            f"  export OKRSYNC_DEMO_JIRA_URL={jira.url} OKRSYNC_DEMO_JIRA_EMAIL={DEMO_EMAIL} "
            f"OKRSYNC_DEMO_JIRA_TOKEN={DEMO_TOKEN} OKRSYNC_DEMO_STORE=sqlite:///okrsync-demo.db"
        )
        print("  okrsync --config config/demo.yaml sync --once   (Ctrl-C stops the sandbox)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0
