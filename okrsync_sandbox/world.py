"""One seeded world: a product team's quarter in the Jira, GitHub and Asana sandboxes.

`okrsync demo`, `okrsync sandbox` and the three-systems integration tests all start from
this world, and `demo.yaml` (beside this module) is the okrsync config that reads it,
with the sandboxes' addresses and credentials taken from `World.environ()`.

What is in it, by key result (`keys` names every item a caller may want to change):
- ONB-1 draws from all three systems: the "Guided setup wizard" epic in Jira, the "Empty
  states that teach the next step" issue in GitHub (with sub-issues) and the "Onboarding
  email series" task in Asana (with subtasks); the "Progress checklist" epic joins through
  the KR's `labels` rather than an `okr:` label.
- ONB-2, SEC-1 and SEC-2 live in Jira (SEC-2 in GitHub too); a hostile title, a "Won't
  Do" story, a pull request, a not-planned issue and untagged work count nowhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from okrsync_sandbox._server import SandboxServer
from okrsync_sandbox.asana import AsanaSandbox
from okrsync_sandbox.github import GitHubSandbox
from okrsync_sandbox.jira import JiraSandbox

JIRA_EMAIL, JIRA_TOKEN = "demo@acme.example", "sandbox-demo-token"
GITHUB_TOKEN, ASANA_TOKEN = "ghp_sandboxdemotoken", "asana-sandbox-demo-token"
# The environment variables demo.yaml reads (prefixed OKRSYNC_DEMO_), STORE aside.
ENV_NAMES = (
    "JIRA_URL",
    "JIRA_EMAIL",
    "JIRA_TOKEN",
    "GITHUB_URL",
    "GITHUB_TOKEN",
    "ASANA_URL",
    "ASANA_TOKEN",
    "ASANA_PROJECT",
)

# (project, epic, labels, [(story, status, points)])
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


def demo_config() -> resources.abc.Traversable:
    """`demo.yaml`, the okrsync config for this world (package data of okrsync_sandbox)."""
    return resources.files("okrsync_sandbox") / "demo.yaml"


@contextmanager
def demo_config_path() -> Iterator[Path]:
    """`demo.yaml` as a file on disk for as long as the block runs (for `--config`)."""
    with resources.as_file(demo_config()) as path:
        yield path


@dataclass
class World:
    jira: JiraSandbox
    github: GitHubSandbox
    asana: AsanaSandbox
    keys: dict[str, str] = field(default_factory=dict)

    def boxes(self) -> list[tuple[str, SandboxServer]]:
        """(label, sandbox) in the order of demo.yaml's sources: Jira, GitHub, Asana."""
        return [("Jira", self.jira), ("GitHub", self.github), ("Asana", self.asana)]

    def reset_log(self) -> None:
        for _, box in self.boxes():
            box.reset_log()

    def violations(self) -> list[str]:
        """Every exchange that broke a vendor's description, in any of the three."""
        return [str(v) for _, box in self.boxes() for v in box.violations]

    def environ(self, store_url: str) -> dict[str, str]:
        """The OKRSYNC_DEMO_* variables demo.yaml needs, for a store at `store_url`."""
        return {
            "OKRSYNC_DEMO_STORE": store_url,
            "OKRSYNC_DEMO_JIRA_URL": self.jira.url,
            "OKRSYNC_DEMO_JIRA_EMAIL": JIRA_EMAIL,
            "OKRSYNC_DEMO_JIRA_TOKEN": JIRA_TOKEN,
            "OKRSYNC_DEMO_GITHUB_URL": self.github.url,
            "OKRSYNC_DEMO_GITHUB_TOKEN": GITHUB_TOKEN,
            "OKRSYNC_DEMO_ASANA_URL": self.asana.url,
            "OKRSYNC_DEMO_ASANA_TOKEN": ASANA_TOKEN,
            "OKRSYNC_DEMO_ASANA_PROJECT": self.keys["asana_project"],
        }

    def seed(self) -> World:
        seed_jira(self.jira, self.keys)
        seed_github(self.github, self.keys)
        seed_asana(self.asana, self.keys)
        return self


@contextmanager
def serve_world(jira_mode: Literal["cloud", "server"] = "cloud") -> Iterator[World]:
    """The three sandboxes, started on 127.0.0.1 and seeded; stopped when the block ends."""
    with ExitStack() as stack:
        jira = stack.enter_context(JiraSandbox(mode=jira_mode, email=JIRA_EMAIL, token=JIRA_TOKEN))
        github = stack.enter_context(GitHubSandbox(token=GITHUB_TOKEN))
        asana = stack.enter_context(AsanaSandbox(token=ASANA_TOKEN))
        yield World(jira, github, asana).seed()


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
