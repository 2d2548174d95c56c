"""End to end through the CLI: the real `jira` library over HTTP against the Jira sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okrsync.cli import main
from okrsync.sources.jira import MARKER_PROPERTY
from okrsync_sandbox import JiraSandbox

pytestmark = pytest.mark.integration

EMAIL, TOKEN = "bot@acme.example", "sandbox-secret-token"
NOW = "2026-11-24T12:00:00Z"


@pytest.fixture(params=["cloud", "server"])
def jira(request: pytest.FixtureRequest) -> Iterator[JiraSandbox]:
    with JiraSandbox(mode=request.param, email=EMAIL, token=TOKEN) as sandbox:
        yield sandbox
        assert sandbox.violations == []  # every request and response matched the description


def write_config(tmp_path: Path, jira: JiraSandbox, store_url: str | None = None) -> Path:
    auth = (
        "{email_env: OKR_JIRA_EMAIL, token_env: OKR_JIRA_TOKEN}"
        if jira.mode == "cloud"
        else "{token_env: OKR_JIRA_TOKEN}"
    )
    path = tmp_path / "okrsync.yaml"
    path.write_text(f"""\
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "{store_url or "sqlite:///" + str(tmp_path / "okrsync.db")}"}}
sources:
  jira:
    url: {jira.url}
    auth: {auth}
    jql: "project = ONB"
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - id: ONB-1
        title: Completion from 68% to 85%
        unit: "%"
        baseline: 68
        target: 85
        labels: [onboarding-completion]
      - id: ONB-2
        title: Time to value from 14 to 5 days
        baseline: 14
        target: 5
""")
    return path


@pytest.fixture
def seeded(jira: JiraSandbox) -> dict[str, str]:
    keys = {}
    keys["wizard"] = jira.add_issue(
        project="ONB",
        summary="Setup wizard",
        issuetype="Epic",
        status="In Progress",
        labels=["okr:ONB-1"],
    )
    keys["w1"] = jira.add_issue(
        project="ONB",
        summary="Step one",
        issuetype="Story",
        status="Done",
        parent=keys["wizard"],
        story_points=3,
    )
    keys["w2"] = jira.add_issue(
        project="ONB",
        summary="Step two",
        issuetype="Story",
        status="In Progress",
        parent=keys["wizard"],
        story_points=5,
    )
    keys["w3"] = jira.add_issue(
        project="ONB",
        summary="Step [~admin] *three*",
        issuetype="Story",
        status="To Do",
        parent=keys["wizard"],
        story_points=2,
        labels=["OKR:onb-2"],
    )
    keys["checklist"] = jira.add_issue(
        project="ONB",
        summary="Checklist",
        issuetype="Epic",
        status="To Do",
        labels=["onboarding-completion"],
    )
    keys["c1"] = jira.add_issue(
        project="ONB",
        summary="Widget",
        issuetype="Story",
        status="Done",
        parent=keys["checklist"],
        story_points=5,
    )
    keys["c2"] = jira.add_issue(
        project="ONB", summary="Events", issuetype="Story", status="To Do", parent=keys["checklist"]
    )
    keys["billing"] = jira.add_issue(
        project="ONB", summary="Billing", issuetype="Epic", status="To Do"
    )
    keys["b1"] = jira.add_issue(
        project="ONB",
        summary="Plan picker",
        issuetype="Story",
        status="To Do",
        parent=keys["billing"],
    )
    return keys


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--log-format", "json", *args])


def status_json(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert run(config, "status", "--format", "json", "--now", NOW) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def test_three_cycles_post_once_then_stay_quiet_then_edit_in_place(
    tmp_path: Path,
    store_url: str,
    jira: JiraSandbox,
    seeded: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OKR_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("OKR_JIRA_TOKEN", TOKEN)
    config = write_config(tmp_path, jira, store_url)
    assert run(config, "metric", "set", "ONB-1", "74", "--at", "2026-11-20T00:00:00Z") == 0

    # Cycle 1: one comment per top-level mapped epic; the labelled story under an epic gets none.
    assert run(config, "sync", "--once", "--now", NOW) == 0
    posts = [r for r in jira.writes if r.method == "POST"]
    assert sorted(r.path.split("/")[-2] for r in posts) == sorted(
        [seeded["wizard"], seeded["checklist"]]
    )
    assert jira.comments(seeded["w3"]) == [] and jira.comments(seeded["billing"]) == []
    (wizard_comment,) = jira.comments(seeded["wizard"])
    assert MARKER_PROPERTY in wizard_comment["properties"]
    assert "[~admin]" not in wizard_comment["body"]

    # Leaves of ONB-1: 3 done + 5 in progress + 2 todo (wizard)
    # + 5 done + 1 default point (checklist).
    report = status_json(config, capsys)
    onb1, onb2 = report["objectives"][0]["key_results"]
    assert onb1["delivery_progress"] == 0.5  # (3 + 5) / 16
    assert onb1["items"] == {"total": 5, "done": 2, "in_progress": 1, "todo": 2}
    assert onb1["current"] == 74 and onb1["outcome_progress"] == 0.353
    assert onb1["expected_progress"] == 0.592  # 54.5 of 92 days, both cycle dates inclusive
    assert onb1["health"] == "off_track"  # 0.353 < 0.6 × 0.592
    assert (
        onb2["items"] == {"total": 1, "done": 0, "in_progress": 0, "todo": 1}
        and onb2["health"] == "no_data"
    )
    assert report["unmapped"] == {"count": 2, "items": ["jira:ONB-8", "jira:ONB-9"]}

    # Cycle 2: nothing changed, so not a single write request.
    jira.reset_log()
    assert run(config, "sync", "--once", "--now", NOW) == 0
    assert jira.writes == []
    searches = [r for r in jira.requests if "search" in r.path]
    assert len(searches) == 1 and "updated >=" in searches[0].query["jql"][0]

    # Cycle 3: a story is finished; the same comments are edited, none is added.
    jira.set_status(seeded["w2"], "Done")
    jira.reset_log()
    assert run(config, "sync", "--once", "--now", NOW) == 0
    assert {r.method for r in jira.writes} == {"PUT"}
    assert len(jira.writes) == 2  # both epics show ONB-1, whose delivery moved
    assert (
        len(jira.comments(seeded["wizard"])) == 1 and len(jira.comments(seeded["checklist"])) == 1
    )
    assert jira.comments(seeded["wizard"])[0]["id"] == wizard_comment["id"]
    assert "2 of 3 work items done" in jira.comments(seeded["wizard"])[0]["body"]
    onb1 = status_json(config, capsys)["objectives"][0]["key_results"][0]
    assert onb1["delivery_progress"] == 0.812  # 13 / 16 = 0.8125
    assert onb1["items"]["done"] == 3


def test_dry_run_prints_the_plan_and_writes_nothing(
    tmp_path: Path,
    jira: JiraSandbox,
    seeded: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OKR_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("OKR_JIRA_TOKEN", TOKEN)
    config = write_config(tmp_path, jira)

    assert run(config, "sync", "--once", "--dry-run", "--now", NOW) == 0

    out = capsys.readouterr().out
    assert "2 comments to write" in out and f"jira:{seeded['wizard']}" in out
    assert jira.writes == []


def test_a_lost_store_finds_the_managed_comment_again_by_its_marker(
    tmp_path: Path,
    jira: JiraSandbox,
    seeded: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OKR_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("OKR_JIRA_TOKEN", TOKEN)
    config = write_config(tmp_path, jira)
    jira.add_comment(seeded["wizard"], "A human was here")
    assert run(config, "sync", "--once", "--now", NOW) == 0
    (tmp_path / "okrsync.db").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"okrsync.db{suffix}").unlink(missing_ok=True)
    jira.set_status(seeded["w1"], "To Do")
    jira.reset_log()

    assert run(config, "sync", "--once", "--now", NOW) == 0

    assert [r.method for r in jira.writes] == ["PUT", "PUT"]
    bodies = [c["body"] for c in jira.comments(seeded["wizard"])]
    assert bodies[0] == "A human was here" and len(bodies) == 2


def test_bad_token_exits_one_and_never_prints_the_token(
    tmp_path: Path,
    jira: JiraSandbox,
    seeded: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OKR_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("OKR_JIRA_TOKEN", "wrong-token-1234")
    config = write_config(tmp_path, jira)

    assert run(config, "sync", "--once", "--now", NOW) == 1

    captured = capsys.readouterr()
    assert "401" in captured.out + captured.err
    assert "wrong-token-1234" not in captured.out + captured.err
    assert jira.writes == []


def test_unset_token_variable_is_a_config_error_with_its_line(
    tmp_path: Path,
    jira: JiraSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("OKR_JIRA_TOKEN", raising=False)
    monkeypatch.setenv("OKR_JIRA_EMAIL", EMAIL)
    config = write_config(tmp_path, jira)

    assert run(config, "sync", "--once") == 2

    assert (
        f"{config}:7: sources.jira.auth.token_env: environment variable OKR_JIRA_TOKEN is not set"
        in capsys.readouterr().err
    )
    assert jira.requests == []
