"""GitHub health labels end to end (`writeback.github.labels`): `okrsync sync --once` with
real PyGithub over HTTP against the sandbox, which checks every exchange against GitHub's
description.

One issue carries KR ONB-1 (baseline 68, target 85, cycle Oct 1 - Dec 31; on the 24th of
November about 59% of the cycle is gone): a value of 74.8 (40% of the way) is at risk,
79.9 (70%) on track.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from okrsync.cli import main
from okrsync_sandbox import GitHubSandbox

from .helpers import ONB_OBJECTIVE, Clock, github_config_head

pytestmark = pytest.mark.integration

TOKEN = "ghp_sandboxtoken"
NOW = "2026-11-24T12:00:00Z"
LATER = "2026-11-24T13:00:00Z"
COLOURS = {
    "okr-health:on-track": "2da44e",
    "okr-health:at-risk": "d29922",
    "okr-health:off-track": "cf222e",
    "okr-health:no-data": "8c959f",
}


@pytest.fixture
def gh(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubSandbox]:
    with GitHubSandbox(token=TOKEN) as sandbox:
        sandbox.now = Clock(datetime(2026, 11, 24, 11, 0, tzinfo=UTC))
        sandbox.add_repo("acme/web")
        monkeypatch.setenv("OKR_GITHUB_TOKEN", TOKEN)
        yield sandbox
        assert sandbox.violations == []  # every request and response matched the description


@pytest.fixture
def issue(gh: GitHubSandbox) -> int:
    return gh.add_issue("acme/web", "Setup wizard", labels=["okr:ONB-1", "team:growth"])


def write_config(tmp_path: Path, gh: GitHubSandbox, labels: bool = True) -> Path:
    path = tmp_path / "okrsync.yaml"
    path.write_text(
        github_config_head(tmp_path, gh)
        + ONB_OBJECTIVE
        + f"""\
writeback:
  github: {{comment: true, labels: {str(labels).lower()}}}
"""
    )
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--log-format", "json", *args])


def measure(config: Path, value: str, at: str) -> None:
    assert run(config, "metric", "set", "ONB-1", value, "--at", at) == 0


def label_writes(gh: GitHubSandbox) -> list[tuple[str, str, Any]]:
    return [(r.method, r.path, r.body) for r in gh.writes if "/labels" in r.path]


def labels_of(gh: GitHubSandbox, number: int) -> list[str]:
    return list(gh.issue("acme/web", number)["labels"])


def test_the_first_cycle_creates_the_label_once_and_an_unchanged_one_writes_nothing(
    tmp_path: Path, gh: GitHubSandbox, issue: int
) -> None:
    config = write_config(tmp_path, gh)
    measure(config, "74.8", "2026-11-20T00:00:00Z")

    assert run(config, "sync", "--once", "--now", NOW) == 0

    assert labels_of(gh, issue) == ["okr:ONB-1", "team:growth", "okr-health:at-risk"]
    assert gh.repo_labels("acme/web")["okr-health:at-risk"] == COLOURS["okr-health:at-risk"]
    assert label_writes(gh) == [
        (
            "POST",
            "/repos/acme/web/labels",
            {
                "name": "okr-health:at-risk",
                "color": "d29922",
                "description": "OKR health, kept by okrsync",
            },
        ),
        ("POST", f"/repos/acme/web/issues/{issue}/labels", {"labels": ["okr-health:at-risk"]}),
    ]
    # The repository's labels were read once, for the cycle.
    assert sum(1 for r in gh.requests if r.method == "GET" and r.path.endswith("/labels")) == 1
    gh.reset_log()

    assert run(config, "sync", "--once", "--now", NOW) == 0
    assert gh.writes == []
    assert not any(r.path.endswith("/labels") for r in gh.requests)


def test_at_risk_to_on_track_swaps_exactly_one_label(
    tmp_path: Path, gh: GitHubSandbox, issue: int, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.add_labels("acme/web", ["okr-health:on-track"])  # there already: not created again
    config = write_config(tmp_path, gh)
    measure(config, "74.8", "2026-11-20T00:00:00Z")
    assert run(config, "sync", "--once", "--now", NOW) == 0
    gh.set_labels("acme/web", issue, [*labels_of(gh, issue), "needs-design"])  # a person's
    measure(config, "79.9", "2026-11-24T12:30:00Z")
    gh.reset_log()
    capsys.readouterr()

    assert run(config, "sync", "--once", "--dry-run", "--now", LATER) == 0
    plan = [line for line in capsys.readouterr().out.splitlines() if "set labels" in line]
    assert plan == [f"acme/web#{issue}  set labels okr-health:on-track, remove okr-health:at-risk"]
    assert gh.writes == []

    assert run(config, "sync", "--once", "--now", LATER) == 0

    assert label_writes(gh) == [
        ("DELETE", f"/repos/acme/web/issues/{issue}/labels/okr-health%3Aat-risk", None),
        ("POST", f"/repos/acme/web/issues/{issue}/labels", {"labels": ["okr-health:on-track"]}),
    ]
    after = ["okr:ONB-1", "team:growth", "needs-design", "okr-health:on-track"]
    assert labels_of(gh, issue) == after  # the person's label kept, no label created


def test_labels_off_writes_no_label(tmp_path: Path, gh: GitHubSandbox, issue: int) -> None:
    config = write_config(tmp_path, gh, labels=False)
    measure(config, "74.8", "2026-11-20T00:00:00Z")

    assert run(config, "sync", "--once", "--now", NOW) == 0

    assert label_writes(gh) == []
    assert labels_of(gh, issue) == ["okr:ONB-1", "team:growth"]


def test_the_sandbox_creates_labels_and_changes_issue_labels_as_github_does(
    gh: GitHubSandbox, issue: int
) -> None:
    headers = {"Authorization": f"token {TOKEN}"}
    base = f"{gh.url}/repos/acme/web"
    label = {"name": "okr-health:off-track", "color": "cf222e", "description": "OKR health"}
    with requests.Session() as http:
        http.headers.update(headers)
        created = http.post(f"{base}/labels", json=label)
        again = http.post(f"{base}/labels", json={**label, "name": "OKR-Health:Off-Track"})
        before = gh.issue("acme/web", issue)["updated_at"]
        clock = gh.now
        assert isinstance(clock, Clock)
        clock.advance(minutes=1)
        added = http.post(f"{base}/issues/{issue}/labels", json={"labels": [label["name"]]})
        missing = http.delete(f"{base}/issues/{issue}/labels/okr-health%3Aat-risk")
        listed = http.get(f"{base}/labels", params={"per_page": 100})

    assert created.status_code == 201
    assert (created.json()["color"], created.json()["description"]) == ("cf222e", "OKR health")
    assert again.status_code == 422
    assert again.json()["errors"][0]["code"] == "already_exists"
    assert [entry["name"] for entry in added.json()] == [
        "okr:ONB-1",
        "team:growth",
        "okr-health:off-track",
    ]
    assert missing.status_code == 404
    assert gh.issue("acme/web", issue)["updated_at"] > before
    assert "okr-health:off-track" in [entry["name"] for entry in listed.json()]
