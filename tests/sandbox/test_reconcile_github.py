"""Reconciliation and retiring unmapped items on GitHub, end to end: `okrsync sync` with real
PyGithub over HTTP against the sandbox (GitHub's description checks every exchange).

Managed comments are read back every `writeback.reconcile` (2 h here) and on `sync --full`:
one GET per comment. An issue whose KR label is taken off has its comment retired (a note
keeping the marker, or deleted) and its `okr-health:*` label removed; then nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from okrsync.cli import main
from okrsync.sources import UNLINKED_NOTE
from okrsync.sources.github import MARKER
from okrsync_sandbox import GitHubSandbox

from .helpers import ONB_OBJECTIVE, Clock, github_config_head

pytestmark = pytest.mark.integration

TOKEN = "ghp_sandboxtoken"
NOW = "2026-11-24T12:00:00Z"


@pytest.fixture
def gh(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubSandbox]:
    with GitHubSandbox(token=TOKEN) as sandbox:
        sandbox.now = Clock(datetime(2026, 11, 24, 11, 0, tzinfo=UTC))
        sandbox.add_repo("acme/web")
        monkeypatch.setenv("OKR_GITHUB_TOKEN", TOKEN)
        yield sandbox
        assert sandbox.violations == []  # every request and response matched the description


def write_config(tmp_path: Path, gh: GitHubSandbox, unmapped: str = "note") -> Path:
    path = tmp_path / "okrsync.yaml"
    path.write_text(
        github_config_head(tmp_path, gh)
        + ONB_OBJECTIVE
        + f"""\
writeback:
  reconcile: 2h
  unmapped: {unmapped}
  github: {{comment: true, labels: true}}
"""
    )
    assert run(path, "metric", "set", "ONB-1", "74.8", "--at", "2026-11-20T00:00:00Z") == 0
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--log-format", "json", *args])


def sync(config: Path, now: str, *args: str) -> int:
    return run(config, "sync", "--once", "--now", now, *args)


def comment_calls(gh: GitHubSandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in gh.requests if "/comments" in r.path]


def test_a_person_edit_is_restored_on_reconcile_and_on_sync_full_but_not_before(
    tmp_path: Path, gh: GitHubSandbox
) -> None:
    number = gh.add_issue("acme/web", "Setup wizard", labels=["okr:ONB-1"])
    config = write_config(tmp_path, gh)
    assert sync(config, NOW) == 0
    (written,) = gh.comments("acme/web", number)
    path = f"/repos/acme/web/issues/comments/{written['id']}"
    gh.edit_comment("acme/web", number, written["id"], "Looks fine to me.")
    gh.reset_log()

    assert sync(config, "2026-11-24T13:00:00Z") == 0  # within the interval: no read
    assert gh.writes == [] and comment_calls(gh) == []

    assert sync(config, "2026-11-24T13:00:00Z", "--full") == 0
    assert comment_calls(gh) == [("GET", path), ("PATCH", path)]
    assert gh.comments("acme/web", number)[0]["body"] == written["body"]

    gh.edit_comment("acme/web", number, written["id"], f"{MARKER}\nEdited again.")
    gh.reset_log()
    assert sync(config, "2026-11-24T15:00:00Z") == 0
    assert comment_calls(gh) == [("GET", path), ("PATCH", path)]
    assert gh.comments("acme/web", number)[0]["body"] == written["body"]


def test_a_reconcile_reads_each_comment_once_and_writes_nothing_when_unchanged(
    tmp_path: Path, gh: GitHubSandbox
) -> None:
    numbers = [gh.add_issue("acme/web", f"Issue {n}", labels=["okr:ONB-1"]) for n in range(3)]
    config = write_config(tmp_path, gh)
    assert sync(config, NOW) == 0
    ids = [gh.comments("acme/web", n)[0]["id"] for n in numbers]
    gh.reset_log()

    assert sync(config, "2026-11-24T14:00:00Z") == 0

    assert gh.writes == []
    assert sorted(comment_calls(gh)) == sorted(
        ("GET", f"/repos/acme/web/issues/comments/{comment_id}") for comment_id in ids
    )


def test_a_deleted_comment_is_recreated_once_per_reconcile(
    tmp_path: Path, gh: GitHubSandbox
) -> None:
    number = gh.add_issue("acme/web", "Setup wizard", labels=["okr:ONB-1"])
    config = write_config(tmp_path, gh)
    assert sync(config, NOW) == 0
    gh.delete_comment("acme/web", number, gh.comments("acme/web", number)[0]["id"])

    assert sync(config, "2026-11-24T14:00:00Z") == 0
    (recreated,) = gh.comments("acme/web", number)
    assert recreated["body"].startswith(MARKER) and recreated["user"] == gh.api_login

    gh.delete_comment("acme/web", number, recreated["id"])
    gh.reset_log()
    assert sync(config, "2026-11-24T15:00:00Z") == 0  # not chased before the next reconcile
    assert gh.writes == [] and gh.comments("acme/web", number) == []
    assert sync(config, "2026-11-24T16:00:00Z") == 0
    assert len(gh.comments("acme/web", number)) == 1


@pytest.mark.parametrize("unmapped", ["note", "delete"])
def test_an_issue_no_longer_linked_is_retired_and_then_left_alone(
    tmp_path: Path, gh: GitHubSandbox, unmapped: str, capsys: pytest.CaptureFixture[str]
) -> None:
    number = gh.add_issue("acme/web", "Setup wizard", labels=["okr:ONB-1", "team:growth"])
    foreign = gh.add_comment("acme/web", number, f"{MARKER}\nI copied this.")
    config = write_config(tmp_path, gh, unmapped)
    assert sync(config, NOW) == 0
    (ours,) = [c for c in gh.comments("acme/web", number) if c["id"] != foreign]
    assert "okr-health:at-risk" in gh.issue("acme/web", number)["labels"]
    gh.now.advance(minutes=5)  # type: ignore[attr-defined]
    gh.set_labels("acme/web", number, ["team:growth", "okr-health:at-risk"])
    capsys.readouterr()

    assert run(config, "sync", "--dry-run", "--now", "2026-11-24T13:00:00Z") == 0
    verb = "note" if unmapped == "note" else "delete"
    line = f"acme/web#{number}  retire (no longer linked): {verb} comment, remove label"
    assert f"{line} okr-health:at-risk" in capsys.readouterr().out

    gh.reset_log()
    assert sync(config, "2026-11-24T13:00:00Z") == 0

    comment = f"/repos/acme/web/issues/comments/{ours['id']}"
    assert [(r.method, r.path) for r in gh.writes] == [
        ("PATCH" if unmapped == "note" else "DELETE", comment),
        ("DELETE", f"/repos/acme/web/issues/{number}/labels/okr-health%3Aat-risk"),
    ]
    assert gh.issue("acme/web", number)["labels"] == ["team:growth"]
    left = {c["id"]: c for c in gh.comments("acme/web", number)}
    assert left[foreign]["body"] == f"{MARKER}\nI copied this."  # another account's
    if unmapped == "note":
        assert left[ours["id"]]["body"] == f"{MARKER}\n{UNLINKED_NOTE}"
    else:
        assert ours["id"] not in left

    gh.reset_log()
    assert sync(config, "2026-11-24T14:00:00Z") == 0
    assert sync(config, "2026-11-26T14:00:00Z") == 0
    assert gh.writes == []
