"""Write-back operations end to end: `okrsync sync --once` with the real `jira` library over
HTTP against the sandbox, which checks every exchange against Atlassian's description.

One epic carries KR ONB-1 (baseline 68, target 85, cycle Oct 1 - Dec 31; at the 24th of
November about 59% of the cycle is gone): a value of 74.8 (40% of the way) is at risk,
79.9 (70%) on track. The epic has two stories, one done: its own delivery is 50%.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okrsync.cli import main
from okrsync_sandbox import JiraSandbox
from okrsync_sandbox.jira import KR_PROGRESS_FIELD, OKR_HEALTH_FIELD

from .helpers import ONB_OBJECTIVE, jira_config_head

pytestmark = pytest.mark.integration

EMAIL, TOKEN = "bot@acme.example", "sandbox-secret-token"
NOW = "2026-11-24T12:00:00Z"
LATER = "2026-11-24T13:00:00Z"
FIELDS = "{OKR Health: health, KR Progress: outcome, Delivery: delivery, Key Results: key_results}"


@pytest.fixture(params=["cloud", "server"])
def jira(request: pytest.FixtureRequest) -> Iterator[JiraSandbox]:
    with JiraSandbox(mode=request.param, email=EMAIL, token=TOKEN) as sandbox:
        yield sandbox
        assert sandbox.violations == []  # every request and response matched the description


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKR_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("OKR_JIRA_TOKEN", TOKEN)


@pytest.fixture
def epic(jira: JiraSandbox) -> str:
    key = jira.add_issue("APP", "Setup wizard", issuetype="Epic", labels=["okr:ONB-1"])
    jira.add_issue("APP", "Step one", status="Done", parent=key)
    jira.add_issue("APP", "Step two", status="In Progress", parent=key)
    return key


@pytest.fixture
def delivery_field(jira: JiraSandbox) -> str:
    return jira.add_custom_field("Delivery", "number")


@pytest.fixture
def krs_field(jira: JiraSandbox) -> str:
    return jira.add_custom_field("Key Results", "string")


def write_config(tmp_path: Path, jira: JiraSandbox, fields: str = FIELDS) -> Path:
    path = tmp_path / "okrsync.yaml"
    path.write_text(
        jira_config_head(tmp_path, jira)
        + ONB_OBJECTIVE
        + f"""\
writeback:
  jira:
    fields: {fields}
    property: true
"""
    )
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--log-format", "json", *args])


def measure(config: Path, value: str, at: str) -> None:
    assert run(config, "metric", "set", "ONB-1", value, "--at", at) == 0


def writes(jira: JiraSandbox) -> list[tuple[str, str, dict[str, list[str]], Any]]:
    return [(r.method, r.path, r.query, r.body) for r in jira.writes]


def comment_api(jira: JiraSandbox) -> str:
    """Where comments are written: ADF through v3 on Cloud, wiki markup through v2 on Server."""
    return "/rest/api/3" if jira.mode == "cloud" else "/rest/api/2"


def quiet(jira: JiraSandbox) -> dict[str, list[str]]:
    """The query of an edit: Cloud edits notify no one; Server takes no such parameter."""
    return {"notifyUsers": ["false"]} if jira.mode == "cloud" else {}


@pytest.mark.usefixtures("env")
def test_the_first_cycle_sets_fields_property_and_comment_and_an_unchanged_one_writes_nothing(
    tmp_path: Path, jira: JiraSandbox, epic: str, delivery_field: str, krs_field: str
) -> None:
    config = write_config(tmp_path, jira)
    measure(config, "74.8", "2026-11-20T00:00:00Z")

    assert run(config, "sync", "--once", "--now", NOW) == 0

    issue = jira.issue(epic)
    assert issue["custom_fields"][OKR_HEALTH_FIELD]["value"] == "At risk"
    assert issue["custom_fields"][KR_PROGRESS_FIELD] == 40.0
    assert issue["custom_fields"][delivery_field] == 50.0
    assert issue["custom_fields"][krs_field] == "ONB-1"
    status = jira.properties(epic)["okrsync.status"]
    assert status == {
        "krs": ["ONB-1"],
        "health": "at_risk",
        "outcome": 0.4,
        "delivery": 0.5,
        "as_of": "2026-11-24T12:00:00+00:00",
    }
    assert len(jira.comments(epic)) == 1
    # One PUT for all four fields, one for the property, one POST for the comment.
    assert [(method, path) for method, path, _, _ in writes(jira)] == [
        ("POST", f"{comment_api(jira)}/issue/{epic}/comment"),
        ("PUT", f"/rest/api/2/issue/{epic}"),
        ("PUT", f"/rest/api/2/issue/{epic}/properties/okrsync.status"),
    ]
    assert writes(jira)[1][2] == quiet(jira)
    jira.reset_log()

    # Unchanged: zero writes of every kind, even an hour later (as_of is not hashed).
    assert run(config, "sync", "--once", "--now", LATER) == 0

    assert jira.writes == []
    assert [r.path.rsplit("/", 1)[-1] for r in jira.requests] == (
        ["serverInfo", "field", "jql"]
        if jira.mode == "cloud"
        else ["serverInfo", "field", "search"]
    )


@pytest.mark.usefixtures("env")
def test_a_kr_back_on_track_changes_only_the_fields_that_moved_the_property_and_the_comment(
    tmp_path: Path, jira: JiraSandbox, epic: str, delivery_field: str, krs_field: str
) -> None:
    config = write_config(tmp_path, jira)
    measure(config, "74.8", "2026-11-20T00:00:00Z")
    assert run(config, "sync", "--once", "--now", NOW) == 0
    (comment,) = jira.comments(epic)
    measure(config, "79.9", "2026-11-24T12:30:00Z")
    jira.reset_log()

    assert run(config, "sync", "--once", "--now", LATER) == 0

    edit, fields, prop = writes(jira)  # the comment first, then the fields, the property
    # Health and progress moved; delivery and the KR ids did not, so they are not sent.
    assert fields == (
        "PUT",
        f"/rest/api/2/issue/{epic}",
        quiet(jira),
        {"fields": {OKR_HEALTH_FIELD: {"id": "1005000"}, KR_PROGRESS_FIELD: 70.0}},
    )
    assert prop[:3] == ("PUT", f"/rest/api/2/issue/{epic}/properties/okrsync.status", {})
    assert prop[3]["health"] == "on_track" and prop[3]["outcome"] == 0.7
    path = f"{comment_api(jira)}/issue/{epic}/comment/{comment['id']}"
    assert edit[:3] == ("PUT", path, quiet(jira))
    issue = jira.issue(epic)
    assert issue["custom_fields"][OKR_HEALTH_FIELD]["value"] == "On track"
    assert issue["custom_fields"][KR_PROGRESS_FIELD] == 70.0
    assert jira.properties(epic)["okrsync.status"]["as_of"] == "2026-11-24T13:00:00+00:00"
    assert [c["id"] for c in jira.comments(epic)] == [comment["id"]]


@pytest.mark.usefixtures("env")
def test_a_missing_field_or_option_is_an_error_naming_it_and_the_rest_is_written(
    tmp_path: Path,
    jira: JiraSandbox,
    epic: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    jira.set_options(OKR_HEALTH_FIELD, ["Green", "Amber", "Red"])
    fields = "{OKR Health: health, Confidence: outcome, KR Progress: outcome}"
    config = write_config(tmp_path, jira, fields)
    measure(config, "74.8", "2026-11-20T00:00:00Z")
    capsys.readouterr()

    assert run(config, "sync", "--once", "--now", NOW) == 1

    out = capsys.readouterr().out
    assert "field 'OKR Health' has no option 'At risk' (it has: Green, Amber, Red)" in out
    assert "no field named 'Confidence' on this Jira" in out
    issue = jira.issue(epic)
    assert issue["custom_fields"][KR_PROGRESS_FIELD] == 40.0
    assert issue["custom_fields"][OKR_HEALTH_FIELD] is None
    assert "okrsync.status" in jira.properties(epic)
    assert len(jira.comments(epic)) == 1
    jira.reset_log()

    # Still broken next cycle (nothing recorded for the failed fields), and nothing written
    # again: what succeeded has its record.
    assert run(config, "sync", "--once", "--now", NOW) == 1
    assert jira.writes == []


@pytest.mark.usefixtures("env")
def test_dry_run_prints_the_typed_plan_with_what_each_field_was(
    tmp_path: Path,
    jira: JiraSandbox,
    epic: str,
    delivery_field: str,
    krs_field: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, jira)
    measure(config, "74.8", "2026-11-20T00:00:00Z")
    assert run(config, "sync", "--once", "--now", NOW) == 0
    measure(config, "79.9", "2026-11-24T12:30:00Z")
    jira.reset_log()
    capsys.readouterr()

    assert run(config, "sync", "--once", "--dry-run", "--now", LATER) == 0

    out = capsys.readouterr().out
    assert jira.writes == []
    assert "Write-back plan (1 comments to write, 4 operations in all; dry run" in out
    lines = [line for line in out.splitlines() if line.startswith(f"{epic}  ")]
    assert lines == [
        f"{epic}  set comment (edit)",
        f'{epic}  set field "OKR Health" = On track (was At risk)',
        f'{epic}  set field "KR Progress" = 70% (was 40%)',
        f"{epic}  set property okrsync.status (update)",
    ]


@pytest.mark.usefixtures("env")
def test_a_text_field_takes_the_health_word(tmp_path: Path, jira: JiraSandbox, epic: str) -> None:
    text = jira.add_custom_field("Health (text)", "string")
    config = write_config(tmp_path, jira, "{health (TEXT): health}")
    measure(config, "74.8", "2026-11-20T00:00:00Z")

    assert run(config, "sync", "--once", "--now", NOW) == 0

    assert jira.issue(epic)["custom_fields"][text] == "At risk"
    assert json.dumps(jira.properties(epic)["okrsync.status"]["krs"]) == '["ONB-1"]'


# -- the sandbox's side, with the real client: editmeta, select options, properties --------


@pytest.fixture
def client(jira: JiraSandbox) -> Iterator[Any]:
    import jira as jira_library

    auth: dict[str, Any] = (
        {"basic_auth": (EMAIL, TOKEN)} if jira.mode == "cloud" else {"token_auth": TOKEN}
    )
    connection = jira_library.JIRA(
        server=jira.url, get_server_info=False, options={"check_update": False}, **auth
    )
    yield connection
    connection.close()  # type: ignore[no-untyped-call]


def test_select_options_are_listed_in_editmeta_and_checked_on_edit(
    jira: JiraSandbox, client: Any, epic: str
) -> None:
    meta = client.editmeta(epic)["fields"][OKR_HEALTH_FIELD]
    assert [o["value"] for o in meta["allowedValues"]] == [
        "On track",
        "At risk",
        "Off track",
        "No data",
    ]
    issue = client.issue(epic)

    issue.update(fields={OKR_HEALTH_FIELD: {"value": "At risk"}, KR_PROGRESS_FIELD: 41.5})

    assert jira.issue(epic)["custom_fields"][OKR_HEALTH_FIELD]["value"] == "At risk"
    with pytest.raises(Exception) as refused:  # JIRAError: the field is named in `errors`
        issue.update(fields={OKR_HEALTH_FIELD: {"value": "at risk"}, KR_PROGRESS_FIELD: 50})
    assert getattr(refused.value, "status_code", None) == 400
    assert "Option value 'at risk' is not valid" in str(refused.value)
    assert jira.issue(epic)["custom_fields"][KR_PROGRESS_FIELD] == 41.5  # all or nothing


def test_issue_properties_are_created_then_updated_and_read_back(
    jira: JiraSandbox, client: Any, epic: str
) -> None:
    first = client.add_issue_property(epic, "okrsync.status", {"krs": ["ONB-1"]})
    second = client.add_issue_property(epic, "okrsync.status", {"krs": ["ONB-1", "ONB-2"]})

    assert (first.status_code, second.status_code) == (201, 200)
    assert client.issue_property(epic, "okrsync.status").value.krs == ["ONB-1", "ONB-2"]
    assert jira.properties(epic) == {"okrsync.status": {"krs": ["ONB-1", "ONB-2"]}}


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("jira", ["cloud"], indirect=True)  # Server edits carry no notifyUsers
def test_an_account_that_may_not_silence_edits_still_writes_everything(
    tmp_path: Path, jira: JiraSandbox, epic: str, delivery_field: str, krs_field: str
) -> None:
    jira.notify_users_allowed = False
    config = write_config(tmp_path, jira)
    measure(config, "74.8", "2026-11-20T00:00:00Z")
    assert run(config, "sync", "--once", "--now", NOW) == 0
    measure(config, "79.9", "2026-11-24T12:30:00Z")
    jira.reset_log()

    assert run(config, "sync", "--once", "--now", LATER) == 0

    # The comment edit is refused once with notifyUsers=false; from then on it is left out.
    assert [(r.method, r.query, r.status) for r in jira.writes] == [
        ("PUT", {"notifyUsers": ["false"]}, 400),
        ("PUT", {}, 200),
        ("PUT", {}, 204),
        ("PUT", {}, 200),
    ]
    assert jira.issue(epic)["custom_fields"][OKR_HEALTH_FIELD]["value"] == "On track"


def test_v3_serves_field_edits_editmeta_and_properties_as_v2(jira: JiraSandbox, epic: str) -> None:
    import requests

    session = requests.Session()
    if jira.mode == "cloud":
        session.auth = (EMAIL, TOKEN)
    else:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
    api = f"{jira.url}/rest/api/3/issue/{epic}"

    meta = session.get(f"{api}/editmeta", timeout=5)
    option = meta.json()["fields"][OKR_HEALTH_FIELD]["allowedValues"][2]
    edit = session.put(api, json={"fields": {OKR_HEALTH_FIELD: {"id": option["id"]}}}, timeout=5)
    missing = session.get(f"{api}/properties/okrsync.status", timeout=5)
    created = session.put(f"{api}/properties/okrsync.status", json={"health": "x"}, timeout=5)
    read = session.get(f"{api}/properties/okrsync.status", timeout=5)
    empty = session.put(f"{api}/properties/okrsync.status", data=b"", timeout=5)

    assert (meta.status_code, edit.status_code, missing.status_code) == (200, 204, 404)
    assert jira.issue(epic)["custom_fields"][OKR_HEALTH_FIELD]["value"] == "Off track"
    assert (created.status_code, created.content) == (201, b"")
    assert read.json() == {"key": "okrsync.status", "value": {"health": "x"}}
    assert empty.status_code == 400  # a property value must be non-empty JSON
    jira.reset_log()  # the empty body breaks the description on purpose (requestBody required)
