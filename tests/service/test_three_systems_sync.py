"""One KR whose work lives in Jira, GitHub and Asana: real client libraries, three sandboxes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from okrsync.cli import main
from okrsync.sandbox import AsanaSandbox, GitHubSandbox, JiraSandbox

pytestmark = pytest.mark.integration

NOW = "2026-11-24T12:00:00Z"
JIRA_EMAIL, JIRA_TOKEN = "bot@acme.example", "jira-secret-token"
GITHUB_TOKEN, ASANA_TOKEN = "ghp_githubsecret", "asana-secret-token"


@dataclass
class World:
    jira: JiraSandbox
    github: GitHubSandbox
    asana: AsanaSandbox
    keys: dict[str, str]
    config: Path


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with (
        JiraSandbox(mode="cloud", email=JIRA_EMAIL, token=JIRA_TOKEN) as jira,
        GitHubSandbox(token=GITHUB_TOKEN) as github,
        AsanaSandbox(token=ASANA_TOKEN) as asana,
    ):
        keys = seed(jira, github, asana)
        monkeypatch.setenv("OKR_JIRA_EMAIL", JIRA_EMAIL)
        monkeypatch.setenv("OKR_JIRA_TOKEN", JIRA_TOKEN)
        monkeypatch.setenv("OKR_GITHUB_TOKEN", GITHUB_TOKEN)
        monkeypatch.setenv("OKR_ASANA_TOKEN", ASANA_TOKEN)
        config = tmp_path / "okrsync.yaml"
        config.write_text(f"""\
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "sqlite:///{tmp_path / "okrsync.db"}"}}
sources:
  jira:
    url: {jira.url}
    auth: {{email_env: OKR_JIRA_EMAIL, token_env: OKR_JIRA_TOKEN}}
    jql: "project = ONB"
  github:
    url: {github.url}
    token_env: OKR_GITHUB_TOKEN
    repos: [acme/web]
    seconds_between_requests: 0
    seconds_between_writes: 0
  asana:
    url: {asana.url}
    token_env: OKR_ASANA_TOKEN
    projects: ["{keys["project"]}"]
    points_field: Story Points
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - id: ONB-1
        title: Completion from 68% to 85%
        unit: "%"
        baseline: 68
        target: 85
""")
        yield World(jira, github, asana, keys, config)
        assert jira.violations == [] and github.violations == [] and asana.violations == []


def seed(jira: JiraSandbox, github: GitHubSandbox, asana: AsanaSandbox) -> dict[str, str]:
    keys: dict[str, str] = {}
    # Jira: an epic with 3 done + 5 to-do points.
    keys["epic"] = jira.add_issue(
        project="ONB",
        summary="Wizard",
        issuetype="Epic",
        status="In Progress",
        labels=["okr:ONB-1"],
    )
    jira.add_issue(
        project="ONB",
        summary="Step one",
        issuetype="Story",
        status="Done",
        parent=keys["epic"],
        story_points=3,
    )
    jira.add_issue(
        project="ONB",
        summary="Step two",
        issuetype="Story",
        status="To Do",
        parent=keys["epic"],
        story_points=5,
    )
    # GitHub: an issue with sub-issues (2 done, 2 open points), one in a repository okrsync
    # does not list (1 done point), plus a PR and a not-planned issue that count nowhere.
    github.add_repo("acme/web")
    github.add_repo("acme/api")
    parent = github.add_issue("acme/web", "Checklist", labels=["okr:ONB-1"])
    done = github.add_issue(
        "acme/web", "Widget", labels=["points:2"], state="closed", state_reason="completed"
    )
    todo = github.add_issue("acme/web", "Events", labels=["points:2"])
    remote = github.add_issue(
        "acme/api", "API for the checklist", labels=["points:1"], state="closed"
    )
    for child_repo, child in (("acme/web", done), ("acme/web", todo), ("acme/api", remote)):
        github.add_sub_issue("acme/web", parent, child_repo, child)
    github.add_pull_request("acme/web", "Checklist PR", labels=["okr:ONB-1"])
    github.add_issue(
        "acme/web",
        "Dropped idea",
        labels=["okr:ONB-1", "points:8"],
        state="closed",
        state_reason="not_planned",
    )
    keys["gh_parent"] = str(parent)
    # Asana: a tagged task whose subtasks (2 done, 1 to-do points) carry the work.
    keys["project"] = asana.add_project("Onboarding")
    asana.add_number_field("Story Points")
    keys["task"] = asana.add_task(
        keys["project"], "Onboarding emails", tags=["okr:ONB-1"], points=3
    )
    asana.add_task(None, "Welcome email", parent=keys["task"], completed=True, points=2)
    keys["subtask"] = asana.add_task(None, "Nudge email", parent=keys["task"], points=1)
    return keys


def run(world: World, *args: str) -> int:
    return main(["--config", str(world.config), "--log-format", "json", *args])


def onb1(world: World, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    assert run(world, "status", "--format", "json", "--now", NOW) == 0
    return json.loads(capsys.readouterr().out)["objectives"][0]["key_results"][0]


def all_writes(world: World) -> list[str]:
    return [
        f"{name}:{r.method}"
        for name, box in (("jira", world.jira), ("github", world.github), ("asana", world.asana))
        for r in box.writes
    ]


def reset(world: World) -> None:
    for box in (world.jira, world.github, world.asana):
        box.reset_log()


def test_one_kr_across_three_systems_posts_once_stays_quiet_then_edits(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(world, "sync", "--once", "--now", NOW) == 0

    assert sorted(all_writes(world)) == ["asana:POST", "github:POST", "jira:POST"]
    parent = int(world.keys["gh_parent"])
    (gh_comment,) = world.github.comments("acme/web", parent)
    (jira_comment,) = world.jira.comments(world.keys["epic"])
    asana_comments = [s for s in world.asana.stories(world.keys["task"]) if s["type"] == "comment"]
    assert len(asana_comments) == 1
    assert gh_comment["body"].startswith("<!-- okrsync:managed -->")
    # Leaves: Jira 3 done + 5 todo; GitHub 2 done + 2 todo + 1 done (acme/api);
    # Asana 2 done + 1 todo.
    kr = onb1(world, capsys)
    assert kr["items"] == {"total": 7, "done": 4, "in_progress": 0, "todo": 3}
    assert kr["delivery_progress"] == 0.5  # 8 of 16 points
    sub_issue_lookups = [r for r in world.github.requests if r.path.endswith("/sub_issues")]
    assert len(sub_issue_lookups) == 1  # only for the mapped parent whose child is elsewhere

    reset(world)
    assert run(world, "sync", "--once", "--now", NOW) == 0
    assert all_writes(world) == []

    # A subtask is finished: Asana's modified_since would not show it, the number moves anyway.
    world.asana.complete_task(world.keys["subtask"])
    reset(world)
    assert run(world, "sync", "--once", "--now", NOW) == 0
    assert sorted(all_writes(world)) == ["asana:PUT", "github:PATCH", "jira:PUT"]
    assert onb1(world, capsys)["delivery_progress"] == 0.562  # 9 of 16 points
    assert [c["id"] for c in world.github.comments("acme/web", parent)] == [gh_comment["id"]]
    assert [c["id"] for c in world.jira.comments(world.keys["epic"])] == [jira_comment["id"]]
    assert [
        s["gid"] for s in world.asana.stories(world.keys["task"]) if s["type"] == "comment"
    ] == [asana_comments[0]["gid"]]


def test_a_failing_github_leaves_jira_and_asana_written_and_exits_one(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OKR_GITHUB_TOKEN", "ghp_wrongtoken")

    assert run(world, "sync", "--once", "--now", NOW) == 1

    assert sorted(all_writes(world)) == ["asana:POST", "jira:POST"]
    out = capsys.readouterr()
    assert "github: FAILED" in out.out and "ghp_wrongtoken" not in out.out + out.err
