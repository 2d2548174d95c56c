"""Reconciliation and retiring unmapped items on Jira, end to end: `okrsync sync` with the real
`jira` library over HTTP against the sandbox (Atlassian's description checks every exchange).

The managed comment is read back every `writeback.reconcile` (2 h here: a day would move
the expected progress, and so the comment, which is then rewritten anyway) and on
`sync --full`: a person's edit is restored, a deleted comment recreated once. An epic whose
KR label is taken off has its comment retired (a note, or deleted), its fields nulled and its
`okrsync.status` property deleted; the cycle after that writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okrsync.cli import main
from okrsync.sources import UNLINKED_NOTE
from okrsync_sandbox import JiraSandbox
from okrsync_sandbox.jira import KR_PROGRESS_FIELD, OKR_HEALTH_FIELD

from .helpers import ONB_OBJECTIVE, jira_config_head

pytestmark = pytest.mark.integration

EMAIL, TOKEN = "bot@acme.example", "sandbox-secret-token"
NOW = "2026-11-24T12:00:00Z"
HOUR_LATER = "2026-11-24T13:00:00Z"
LATER = "2026-11-24T15:00:00Z"  # 2 h after HOUR_LATER's reconcile
TWO_DAYS_LATER = "2026-11-26T13:00:00Z"
READS = {"cloud": ["serverInfo", "field", "jql"], "server": ["serverInfo", "field", "search"]}


@pytest.fixture(params=["cloud", "server"])
def jira(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[JiraSandbox]:
    monkeypatch.setenv("OKR_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("OKR_JIRA_TOKEN", TOKEN)
    with JiraSandbox(mode=request.param, email=EMAIL, token=TOKEN) as sandbox:
        yield sandbox
        assert sandbox.violations == []  # every request and response matched the description


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[JiraSandbox]:
    monkeypatch.setenv("OKR_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("OKR_JIRA_TOKEN", TOKEN)
    with JiraSandbox(mode="cloud", email=EMAIL, token=TOKEN) as sandbox:
        yield sandbox
        assert sandbox.violations == []


def add_epic(jira: JiraSandbox, title: str = "Setup wizard") -> str:
    key = jira.add_issue("APP", title, issuetype="Epic", labels=["okr:ONB-1"])
    jira.add_issue("APP", f"{title}: step one", status="Done", parent=key)
    return key


def write_config(tmp_path: Path, jira: JiraSandbox, unmapped: str = "note") -> Path:
    path = tmp_path / "okrsync.yaml"
    path.write_text(
        jira_config_head(tmp_path, jira)
        + ONB_OBJECTIVE
        + f"""\
writeback:
  reconcile: 2h
  unmapped: {unmapped}
  jira:
    fields: {{OKR Health: health, KR Progress: outcome}}
    property: true
"""
    )
    assert run(path, "metric", "set", "ONB-1", "74.8", "--at", "2026-11-20T00:00:00Z") == 0
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--log-format", "json", *args])


def sync(config: Path, now: str, *args: str) -> int:
    return run(config, "sync", "--once", "--now", now, *args)


def calls(jira: JiraSandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in jira.requests]


def comment_api(jira: JiraSandbox) -> str:
    return "/rest/api/3" if jira.mode == "cloud" else "/rest/api/2"


def text(comment: dict[str, Any]) -> str:
    return str(comment["body"])


def test_a_person_edit_is_restored_on_reconcile_not_before_and_on_sync_full(
    tmp_path: Path, jira: JiraSandbox
) -> None:
    epic = add_epic(jira)
    config = write_config(tmp_path, jira)
    assert sync(config, NOW) == 0
    (written,) = jira.comments(epic)
    comment = f"{comment_api(jira)}/issue/{epic}/comment/{written['id']}"
    jira.edit_comment(epic, written["id"], "All good here, nothing to see.")
    jira.reset_log()

    # An hour later the reconcile (done at NOW, with nothing to read yet) is not due.
    assert sync(config, HOUR_LATER) == 0
    assert jira.writes == []
    assert text(jira.comments(epic)[0]) == "All good here, nothing to see."

    # `sync --full` reconciles at once: one read, one edit restoring the comment.
    jira.reset_log()
    assert sync(config, HOUR_LATER, "--full") == 0
    assert [c for c in calls(jira) if "/comment" in c[1]] == [("GET", comment), ("PUT", comment)]
    (restored,) = jira.comments(epic)
    assert restored["adf"] == written["adf"] and restored["id"] == written["id"]

    # Edited again: restored on the next reconcile, 2 h after the last one.
    jira.edit_comment(epic, written["id"], "Edited once more.")
    jira.reset_log()
    assert sync(config, LATER) == 0
    assert calls(jira)[3:] == [("GET", comment), ("PUT", comment)]
    assert [r.path.rsplit("/", 1)[-1] for r in jira.requests[:3]] == READS[jira.mode]
    assert jira.comments(epic)[0]["adf"] == written["adf"]


def test_an_unchanged_comment_costs_one_read_per_target_per_reconcile_and_no_write(
    tmp_path: Path, jira: JiraSandbox
) -> None:
    epics = [add_epic(jira, f"Epic {n}") for n in range(3)]
    config = write_config(tmp_path, jira)
    assert sync(config, NOW) == 0
    ids = {epic: jira.comments(epic)[0]["id"] for epic in epics}
    jira.reset_log()

    assert sync(config, "2026-11-24T14:00:00Z") == 0

    assert jira.writes == []
    assert calls(jira)[3:] == [
        ("GET", f"{comment_api(jira)}/issue/{epic}/comment/{ids[epic]}") for epic in epics
    ]
    jira.reset_log()
    # Within the interval again: the pull's reads alone.
    assert sync(config, "2026-11-24T15:00:00Z") == 0
    assert [r.path.rsplit("/", 1)[-1] for r in jira.requests] == READS[jira.mode]


def test_a_deleted_comment_is_recreated_once_per_reconcile(
    tmp_path: Path, cloud: JiraSandbox
) -> None:
    jira = cloud
    epic = add_epic(jira)
    config = write_config(tmp_path, jira)
    assert sync(config, NOW) == 0
    jira.delete_comment(epic, jira.comments(epic)[0]["id"])
    jira.reset_log()

    assert sync(config, "2026-11-24T14:00:00Z") == 0

    (recreated,) = jira.comments(epic)
    assert recreated["properties"]["okrsync.managed"] == {"target": f"jira:{epic}"}
    assert [(m, p) for m, p in calls(jira)[3:]] == [
        ("GET", f"/rest/api/3/issue/{epic}/comment/{jira_id(recreated, -1)}"),
        ("GET", f"/rest/api/2/issue/{epic}/comment"),  # the marker search, then the POST
        ("POST", f"/rest/api/3/issue/{epic}/comment"),
    ]
    # Deleted again before the next reconcile: not chased until then.
    jira.delete_comment(epic, recreated["id"])
    jira.reset_log()
    assert sync(config, "2026-11-24T15:00:00Z") == 0
    assert jira.writes == [] and jira.comments(epic) == []
    assert sync(config, "2026-11-24T16:00:00Z") == 0
    assert len(jira.comments(epic)) == 1


def jira_id(comment: dict[str, Any], offset: int) -> str:
    return str(int(comment["id"]) + offset)


@pytest.mark.parametrize("unmapped", ["note", "delete"])
def test_an_item_no_longer_linked_is_retired_and_then_left_alone(
    tmp_path: Path, jira: JiraSandbox, unmapped: str, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = {"notifyUsers": ["false"]} if jira.mode == "cloud" else {}
    epic = add_epic(jira)
    foreign = jira.add_comment(epic, "mine", properties={"okrsync.managed": {"target": "x"}})
    config = write_config(tmp_path, jira, unmapped)
    assert sync(config, NOW) == 0
    (ours,) = [c for c in jira.comments(epic) if c["id"] != foreign]
    assert jira.issue(epic)["custom_fields"][OKR_HEALTH_FIELD]["value"] == "At risk"
    jira.set_labels(epic, ["team:growth"])
    capsys.readouterr()
    jira.reset_log()

    assert run(config, "sync", "--dry-run", "--now", HOUR_LATER) == 0
    verb = "note" if unmapped == "note" else "delete"
    line = f"{epic}  retire (no longer linked): {verb} comment, clear 2 fields, delete property"
    assert line in capsys.readouterr().out
    assert jira.writes == []

    jira.reset_log()
    assert sync(config, HOUR_LATER) == 0

    comment = f"/issue/{epic}/comment/{ours['id']}"
    assert [(r.method, r.path, r.query) for r in jira.writes] == [
        ("PUT", f"/rest/api/2{comment}", quiet)
        if unmapped == "note"
        else ("DELETE", f"/rest/api/2{comment}", {}),
        ("PUT", f"/rest/api/2/issue/{epic}", quiet),
        ("DELETE", f"/rest/api/2/issue/{epic}/properties/okrsync.status", {}),
    ]
    fields = jira.writes[1].body["fields"]
    assert fields == {OKR_HEALTH_FIELD: None, KR_PROGRESS_FIELD: None}
    issue = jira.issue(epic)
    assert issue["custom_fields"][OKR_HEALTH_FIELD] is None
    assert issue["custom_fields"][KR_PROGRESS_FIELD] is None
    assert "okrsync.status" not in jira.properties(epic)
    left = {c["id"]: c for c in jira.comments(epic)}
    assert left[foreign]["body"] == "mine"  # another account's comment: never touched
    if unmapped == "note":
        assert left[ours["id"]]["body"] == UNLINKED_NOTE
        assert left[ours["id"]]["properties"]["okrsync.managed"] == {"target": f"jira:{epic}"}
    else:
        assert ours["id"] not in left

    # Retired: the next cycles (a reconcile among them) write nothing of any kind.
    jira.reset_log()
    assert sync(config, "2026-11-24T14:00:00Z") == 0
    assert sync(config, TWO_DAYS_LATER) == 0
    assert jira.writes == []


def test_an_item_linked_again_gets_its_comment_fields_and_property_back(
    tmp_path: Path, cloud: JiraSandbox
) -> None:
    jira = cloud
    epic = add_epic(jira)
    config = write_config(tmp_path, jira)
    assert sync(config, NOW) == 0
    (written,) = jira.comments(epic)
    jira.set_labels(epic, [])
    assert sync(config, HOUR_LATER) == 0
    jira.set_labels(epic, ["okr:ONB-1"])
    jira.reset_log()

    assert sync(config, "2026-11-24T14:00:00Z") == 0

    (comment,) = jira.comments(epic)
    assert comment["id"] == written["id"] and comment["adf"] == written["adf"]
    assert jira.issue(epic)["custom_fields"][OKR_HEALTH_FIELD]["value"] == "At risk"
    assert jira.properties(epic)["okrsync.status"]["health"] == "at_risk"
