"""`okrsync demo`: the whole loop against local Jira, GitHub and Asana sandboxes.

Three cycles tell the story: the first posts one managed comment per top-level item in
each system, the second changes nothing and writes nothing, the third follows finished
work by editing the same comments in place. The onboarding objective draws its work
from all three systems at once.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.panel import Panel

from okrsync.config import load_config
from okrsync.domain import MetricSample
from okrsync.render import report_console, report_table
from okrsync.sandbox import AsanaSandbox, GitHubSandbox, JiraSandbox
from okrsync.service import CycleResult, run_cycle, source_factory
from okrsync.store import Store

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo.yaml"
DEMO_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DEMO_EMAIL, DEMO_TOKEN = "demo@acme.example", "sandbox-demo-token"
GITHUB_TOKEN, ASANA_TOKEN = "ghp_sandboxdemotoken", "asana-sandbox-demo-token"

# (KR, ISO date, value): check-ins a product team would have recorded so far.
CHECK_INS = [
    ("ONB-1", "2026-10-01", 68.0), ("ONB-1", "2026-10-15", 69.5), ("ONB-1", "2026-11-01", 71.0),
    ("ONB-1", "2026-11-15", 73.0), ("ONB-1", "2026-11-22", 74.0),
    ("ONB-2", "2026-10-01", 14.0), ("ONB-2", "2026-11-01", 11.0), ("ONB-2", "2026-11-20", 9.0),
    ("SEC-1", "2026-10-01", 20.0), ("SEC-1", "2026-11-10", 22.0),
]  # fmt: skip

JIRA_EPICS: list[tuple[str, str, list[str], list[tuple[str, str, float]]]] = [
    ("ONB", "Guided setup wizard", ["okr:ONB-1"], [
        ("Wizard: connect data source step", "Done", 3),
        ("Wizard: invite teammates step", "Done", 5),
        ("Wizard: progress persistence", "Done", 2), ("Wizard: skip and resume", "In Progress", 8),
        ("Wizard: localisation", "To Do", 3)]),
    ("ONB", "Progress checklist on the dashboard", ["onboarding-completion"], [
        ("Checklist widget", "Done", 5), ("Checklist analytics events", "Done", 2),
        ("Checklist dismissal", "Done", 1), ("Checklist A/B test", "Done", 3)]),
    ("ONB", "Sample data on signup", ["kr:ONB-2"], [
        ("Seed sample project", "Done", 5), ("Sample dashboards", "In Progress", 3),
        ("Sample data cleanup job", "To Do", 2), ("Sample data for EU region", "Won't Do", 5)]),
    ("ONB", "Billing page redesign", [], [
        ("New plan picker", "In Progress", 5), ("Invoice history", "To Do", 3)]),
    ("SEC", "SAML SSO for all plans", ["okr:SEC-1"], [
        ("SAML metadata upload", "Done", 5), ("SCIM provisioning", "Done", 8),
        ("SSO enforcement toggle", "Done", 3), ("SSO audit log", "In Review", 2)]),
    ("SEC", "Dependency scanning in CI", ["okr:SEC-2"], [
        ("Scanner in the build pipeline", "Done", 3), ("Triage dashboard", "To Do", 5)]),
]  # fmt: skip


@dataclass
class Sandboxes:
    jira: JiraSandbox
    github: GitHubSandbox
    asana: AsanaSandbox
    keys: dict[str, str]

    def all(self) -> list[tuple[str, JiraSandbox | GitHubSandbox | AsanaSandbox]]:
        return [("Jira", self.jira), ("GitHub", self.github), ("Asana", self.asana)]


def seed_jira(jira: JiraSandbox, keys: dict[str, str]) -> None:
    for project, summary, labels, stories in JIRA_EPICS:
        epic = jira.add_issue(
            project=project, summary=summary, issuetype="Epic", status="In Progress", labels=labels
        )
        keys[summary] = epic
        for story, status, points in stories:
            keys[story] = jira.add_issue(
                project=project,
                summary=story,
                issuetype="Story",
                status=status,
                parent=epic,
                story_points=points,
            )
    keys["nudges"] = jira.add_issue(
        project="ONB",
        summary="Email nudges for stalled accounts",
        issuetype="Story",
        status="Done",
        labels=["OKR:onb-2"],
        story_points=3,
    )
    # A hostile title: it must reach no comment as markup.
    keys["hostile"] = jira.add_issue(
        project="SEC",
        summary="Patch [~admin] *urgent* {noformat}inject{noformat} @channel",
        issuetype="Bug",
        status="To Do",
        labels=["okr:SEC-2"],
        story_points=2,
    )


def seed_github(github: GitHubSandbox, keys: dict[str, str]) -> None:
    """An onboarding issue with sub-issues, a security one, and things that count nowhere."""
    github.add_repo("acme/web")
    parent = github.add_issue(
        "acme/web", "Empty states that teach the next step", labels=["okr:ONB-1"]
    )
    for title, points, closed in (
        ("Empty state: projects", 2, True),
        ("Empty state: reports", 3, True),
        ("Empty state: team", 2, False),
    ):
        child = github.add_issue(
            "acme/web", title, labels=[f"points:{points}"], state="closed" if closed else "open"
        )
        github.add_sub_issue("acme/web", parent, "acme/web", child)
        keys[title] = str(child)
    keys["gh_onboarding"] = str(parent)
    github.add_issue(
        "acme/web",
        "Bump vulnerable transitive dependencies",
        labels=["okr:SEC-2", "points:3"],
        state="closed",
    )
    github.add_pull_request("acme/web", "Empty states for projects", labels=["okr:ONB-1"])
    github.add_issue(
        "acme/web",
        "Animated onboarding mascot",
        labels=["okr:ONB-1", "points:8"],
        state="closed",
        state_reason="not_planned",
    )


def seed_asana(asana: AsanaSandbox, keys: dict[str, str]) -> None:
    """A tagged task whose subtasks carry the work (Asana lists them only under the task)."""
    keys["asana_project"] = asana.add_project("Lifecycle marketing")
    asana.add_number_field("Story Points")
    task = asana.add_task(keys["asana_project"], "Onboarding email series", tags=["okr:ONB-1"])
    keys["asana_task"] = task
    for name, points, done in (
        ("Welcome email", 2, True),
        ("Day-3 tips email", 2, True),
        ("Stalled-account nudge", 3, False),
    ):
        keys[name] = asana.add_task(None, name, parent=task, completed=done, points=points)
    asana.add_task(keys["asana_project"], "Newsletter redesign", tags=["brand"])


@contextmanager
def demo_environment(
    workdir: Path, jira_mode: Literal["cloud", "server"] = "cloud"
) -> Iterator[Sandboxes]:
    with ExitStack() as stack:
        jira = stack.enter_context(JiraSandbox(mode=jira_mode, email=DEMO_EMAIL, token=DEMO_TOKEN))
        github = stack.enter_context(GitHubSandbox(token=GITHUB_TOKEN))
        asana = stack.enter_context(AsanaSandbox(token=ASANA_TOKEN))
        keys: dict[str, str] = {}
        seed_jira(jira, keys)
        seed_github(github, keys)
        seed_asana(asana, keys)
        os.environ.update({
            "OKRSYNC_DEMO_STORE": f"sqlite:///{workdir / 'okrsync.db'}",
            "OKRSYNC_DEMO_JIRA_URL": jira.url,
            "OKRSYNC_DEMO_JIRA_EMAIL": DEMO_EMAIL,
            "OKRSYNC_DEMO_JIRA_TOKEN": DEMO_TOKEN,
            "OKRSYNC_DEMO_GITHUB_URL": github.url,
            "OKRSYNC_DEMO_GITHUB_TOKEN": GITHUB_TOKEN,
            "OKRSYNC_DEMO_ASANA_URL": asana.url,
            "OKRSYNC_DEMO_ASANA_TOKEN": ASANA_TOKEN,
            "OKRSYNC_DEMO_ASANA_PROJECT": keys["asana_project"],
        })  # fmt: skip
        yield Sandboxes(jira, github, asana, keys)


def run_demo(keep: Path | None = None) -> int:
    console = report_console()
    with tempfile.TemporaryDirectory(prefix="okrsync-demo-") as scratch:
        workdir = keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        with demo_environment(workdir) as boxes:
            config = load_config(DEMO_CONFIG).config
            store = Store(config.store.url)
            try:
                for kr_id, day, value in CHECK_INS:
                    at = datetime.fromisoformat(day).replace(tzinfo=UTC)
                    store.add_sample(MetricSample(kr_id, value, at))

                def cycle(title: str) -> CycleResult:
                    for _, box in boxes.all():
                        box.reset_log()
                    started = time.perf_counter()
                    result = run_cycle(config, store, source_factory(config), now=DEMO_NOW)
                    seconds = time.perf_counter() - started
                    console.print(f"[bold]{title}[/] ({seconds:.2f} s)")
                    for (label, box), outcome in zip(boxes.all(), result.sources, strict=True):
                        console.print(
                            f"  {label:7} pulled {outcome.pulled:3} items, "
                            f"{len(box.requests):2} requests, "
                            f"{len(box.writes)} writes: {outcome.created} comments created, "
                            f"{outcome.edited} edited, {outcome.skipped} unchanged"
                        )
                    return result

                console.rule("okrsync demo: Jira, GitHub and Asana sandboxes on 127.0.0.1")
                first = cycle("Cycle 1")
                console.print(report_table(first.report))
                show_comments(console, boxes)
                cycle("Cycle 2, nothing changed")
                boxes.jira.set_status(boxes.keys["Wizard: skip and resume"], "Done")
                boxes.asana.complete_task(boxes.keys["Stalled-account nudge"])
                console.print(
                    "A developer finishes 'Wizard: skip and resume' in Jira (8 points); "
                    "marketing completes the 'Stalled-account nudge' subtask in Asana (3 points)."
                )
                third = cycle("Cycle 3")
                status = third.report.kr_status("ONB-1")
                wizard = boxes.keys["Guided setup wizard"]
                console.print(
                    f"ONB-1 delivery now {status.delivery_progress:.0%} across the three systems; "
                    f"{wizard} still has {len(boxes.jira.comments(wizard))} managed comment, "
                    "edited in place."
                )
            finally:
                store.close()
        if keep:
            console.print(f"Store kept in {workdir}")
    return 0


def show_comments(console: Console, boxes: Sandboxes) -> None:
    wizard = boxes.keys["Guided setup wizard"]
    console.print(
        Panel(
            boxes.jira.comments(wizard)[0]["body"],
            title=f"Jira {wizard}: managed comment (wiki markup)",
        )
    )
    number = int(boxes.keys["gh_onboarding"])
    console.print(
        Panel(
            boxes.github.comments("acme/web", number)[0]["body"],
            title=f"GitHub acme/web#{number}: managed comment (Markdown)",
        )
    )
    task = boxes.keys["asana_task"]
    story = next(s for s in boxes.asana.stories(task) if s["type"] == "comment")
    console.print(
        Panel(
            story["html_text"], title="Asana 'Onboarding email series': managed comment (html_text)"
        )
    )


def serve_sandbox(mode: Literal["cloud", "server"]) -> int:
    """Serve seeded sandboxes until Ctrl-C, for trying the CLI against them by hand."""
    with (
        tempfile.TemporaryDirectory(prefix="okrsync-sandbox-") as scratch,
        demo_environment(Path(scratch), jira_mode=mode) as boxes,
    ):
        print("Sandboxes are up. In another shell:")
        for name in (
            "JIRA_URL",
            "JIRA_EMAIL",
            "JIRA_TOKEN",
            "GITHUB_URL",
            "GITHUB_TOKEN",
            "ASANA_URL",
            "ASANA_TOKEN",
            "ASANA_PROJECT",
        ):
            print(f"  export OKRSYNC_DEMO_{name}={os.environ[f'OKRSYNC_DEMO_{name}']}")
        print("  export OKRSYNC_DEMO_STORE=sqlite:///okrsync-demo.db")
        auth = "" if mode == "cloud" else " (Server mode: drop email_env from the config)"
        print(f"  okrsync --config {DEMO_CONFIG} sync --once   (Ctrl-C here stops them){auth}")
        print(f"  (Jira: {boxes.jira.url}, GitHub: {boxes.github.url}, Asana: {boxes.asana.url})")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0
