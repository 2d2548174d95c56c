"""One KR whose work lives in Jira, GitHub and Asana: real client libraries, three sandboxes.

The world is the demo's (okrsync_sandbox.world), read through the demo's own config.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okrsync.cli import main
from okrsync_sandbox.world import World, demo_config_path, serve_world

pytestmark = pytest.mark.integration

NOW = "2026-11-24T12:00:00Z"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with serve_world() as world:
        add_sub_issue_elsewhere(world)
        for name, value in world.environ(f"sqlite:///{tmp_path / 'okrsync.db'}").items():
            monkeypatch.setenv(name, value)
        yield world
        assert world.violations() == []


def add_sub_issue_elsewhere(world: World) -> None:
    """A done sub-issue of the onboarding issue in `acme/api`, a repository the config
    does not list: only a sub-issue look-up for the mapped parent can find it."""
    world.github.add_repo("acme/api")
    remote = world.github.add_issue(
        "acme/api", "Empty-state hints endpoint", labels=["points:1"], state="closed"
    )
    world.github.add_sub_issue("acme/web", int(world.keys["gh_onboarding"]), "acme/api", remote)
    world.keys["Empty-state hints endpoint"] = str(remote)


@pytest.fixture
def config() -> Iterator[Path]:
    with demo_config_path() as path:
        yield path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--log-format", "json", *args])


def onb1(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert run(config, "status", "--format", "json", "--now", NOW) == 0
    kr: dict[str, Any] = json.loads(capsys.readouterr().out)["objectives"][0]["key_results"][0]
    return kr


def all_writes(world: World) -> list[str]:
    return sorted(f"{label.lower()}:{r.method}" for label, box in world.boxes() for r in box.writes)


def test_one_kr_across_three_systems_posts_once_stays_quiet_then_edits(
    world: World, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, "sync", "--once", "--now", NOW) == 0

    # One comment per mapped top-level item: 5 epics and 2 loose issues in Jira, the
    # onboarding and security issues in GitHub, the onboarding task in Asana.
    assert all_writes(world) == ["asana:POST"] + ["github:POST"] * 2 + ["jira:POST"] * 7
    parent = int(world.keys["gh_onboarding"])
    (gh_comment,) = world.github.comments("acme/web", parent)
    wizard = world.keys["Guided setup wizard"]
    (jira_comment,) = world.jira.comments(wizard)
    task = world.keys["asana_task"]
    asana_comments = [s for s in world.asana.stories(task) if s["type"] == "comment"]
    assert len(asana_comments) == 1
    assert gh_comment["body"].startswith("<!-- okrsync:managed -->")
    # ONB-1's leaves: Jira's wizard (10 of 21 points done) and checklist (11 of 11, mapped
    # through the KR's labels); GitHub 2 + 3 done, 2 open, 1 done in acme/api; Asana 2 + 2
    # done, 3 to do.
    kr = onb1(config, capsys)
    assert kr["items"] == {"total": 16, "done": 12, "in_progress": 1, "todo": 3}
    assert kr["delivery_progress"] == 0.66  # 31 of 47 points
    sub_issue_lookups = [r for r in world.github.requests if r.path.endswith("/sub_issues")]
    assert len(sub_issue_lookups) == 1  # only for the mapped parent whose child is elsewhere

    world.reset_log()
    assert run(config, "sync", "--once", "--now", NOW) == 0
    assert all_writes(world) == []

    # A subtask is finished: Asana's modified_since would not show it, the number moves anyway.
    world.asana.complete_task(world.keys["Stalled-account nudge"])
    world.reset_log()
    assert run(config, "sync", "--once", "--now", NOW) == 0
    # Every item mapped to ONB-1 is edited: both Jira epics, the GitHub issue, the task.
    assert all_writes(world) == ["asana:PUT", "github:PATCH", "jira:PUT", "jira:PUT"]
    assert onb1(config, capsys)["delivery_progress"] == 0.723  # 34 of 47 points
    assert [c["id"] for c in world.github.comments("acme/web", parent)] == [gh_comment["id"]]
    assert [c["id"] for c in world.jira.comments(wizard)] == [jira_comment["id"]]
    assert [s["gid"] for s in world.asana.stories(task) if s["type"] == "comment"] == [
        asana_comments[0]["gid"]
    ]


def test_a_failing_github_leaves_jira_and_asana_written_and_exits_one(
    world: World,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OKRSYNC_DEMO_GITHUB_TOKEN", "ghp_wrongtoken")

    assert run(config, "sync", "--once", "--now", NOW) == 1

    assert all_writes(world) == ["asana:POST"] + ["jira:POST"] * 7
    out = capsys.readouterr()
    assert "github: FAILED" in out.out and "ghp_wrongtoken" not in out.out + out.err
