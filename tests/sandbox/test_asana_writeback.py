"""Asana custom fields written by okrsync's connector to the sandbox (`writeback.asana.fields`):
fields found by name from the project's settings once per cycle, every field of a task in one
`PUT /tasks/{gid}`, a missing field or option an error naming it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from okrsync.cli import main
from okrsync.service.planning import content_hash
from okrsync.sources import SetField, SetProperty, TargetOperation
from okrsync.sources.asana import AsanaSource, AsanaSourceConfig
from okrsync_sandbox import AsanaSandbox

from .helpers import ONB_OBJECTIVE, Clock, asana_config_head

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Use of allowEmptyValue:DeprecationWarning"),
]

TOKEN = "asana-sandbox-token"
HEALTHS = ("On track", "At risk", "Off track", "No data")


@pytest.fixture
def asana() -> Iterator[AsanaSandbox]:
    with AsanaSandbox(token=TOKEN) as sandbox:
        sandbox.now = Clock()
        yield sandbox
        assert sandbox.violations == []


def connect(asana: AsanaSandbox, project: str, session: requests.Session) -> AsanaSource:
    config = AsanaSourceConfig.model_validate({"url": asana.url, "projects": [project]})
    return AsanaSource(config, TOKEN, sleep=lambda _: None, session=session)


def health(task: str, word: str, name: str = "OKR Health") -> SetField:
    return SetField(f"asana:{task}", "asana", task, name, "health", word, word, content_hash(word))


def progress(task: str, value: float | None, name: str = "KR Progress") -> SetField:
    display = "no data" if value is None else f"{value:g}%"
    return SetField(
        f"asana:{task}", "asana", task, name, "outcome", value, display, content_hash(display)
    )


def test_fields_of_a_task_go_in_one_put(asana: AsanaSandbox) -> None:
    project = asana.add_project("Onboarding")
    asana.add_number_field("KR Progress")
    asana.add_enum_field("OKR Health", HEALTHS)
    first = asana.add_task(project, "Epic one")
    second = asana.add_task(project, "Epic two")
    with requests.Session() as session:
        source = connect(asana, project, session)
        asana.reset_log()
        done = list(source.apply_operations([health(first, "at risk"), progress(first, 42.5)]))
        done += list(source.apply_operations([health(second, "On track"), progress(second, None)]))
    assert [outcome.error for outcome in done] == [None] * 4
    assert [outcome.remote_id for outcome in done] == ["At risk", "42.5%", "On track", "no data"]
    assert asana.custom_field_values(first) == {"KR Progress": 42.5, "OKR Health": "At risk"}
    assert asana.custom_field_values(second) == {"KR Progress": None, "OKR Health": "On track"}
    # The settings read once for the cycle, then one PUT a task.
    calls = [(r.method, r.path.removeprefix("/api/1.0")) for r in asana.requests]
    assert calls == [
        ("GET", f"/projects/{project}/custom_field_settings"),
        ("PUT", f"/tasks/{first}"),
        ("PUT", f"/tasks/{second}"),
    ]


def test_a_missing_field_or_option_is_named_and_the_rest_written(asana: AsanaSandbox) -> None:
    project = asana.add_project("Onboarding")
    asana.add_number_field("KR Progress")
    asana.add_enum_field("OKR Health", ("Green", "Red"))
    task = asana.add_task(project, "Epic")
    operations: list[TargetOperation] = [
        health(task, "At risk"),
        progress(task, 10.0),
        progress(task, 10.0, name="Delivery"),
        SetProperty(f"asana:{task}", "asana", task, "okrsync.status", "{}", "h"),
    ]
    with requests.Session() as session:
        done = list(connect(asana, project, session).apply_operations(operations))
    errors = {outcome.operation.op_key: outcome.error for outcome in done}
    assert errors["field:KR Progress"] is None
    assert "no option 'At risk'" in str(errors["field:OKR Health"])
    assert "Green, Red" in str(errors["field:OKR Health"])
    assert "no custom field named 'Delivery'" in str(errors["field:Delivery"])
    assert "okrsync.status" in str(errors["property:okrsync.status"])
    assert asana.custom_field_values(task) == {"KR Progress": 10.0, "OKR Health": None}


def test_a_value_asana_refuses_is_an_error_for_the_request(asana: AsanaSandbox) -> None:
    project = asana.add_project("Onboarding")
    field = asana.add_enum_field("OKR Health", HEALTHS)
    task = asana.add_task(project, "Epic")
    with requests.Session() as session:
        response = session.put(
            f"{asana.url}/tasks/{task}",
            json={"data": {"custom_fields": {field: "1"}}},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        unknown = session.put(
            f"{asana.url}/tasks/{task}",
            json={"data": {"custom_fields": {"999": "1"}}},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert response.status_code == unknown.status_code == 400
    assert asana.custom_field_values(task) == {"OKR Health": None}


def test_tasks_show_custom_fields_when_asked(asana: AsanaSandbox) -> None:
    project = asana.add_project("Onboarding")
    asana.add_enum_field("OKR Health", HEALTHS)
    task = asana.add_task(project, "Epic")
    asana.set_custom_field(task, "OKR Health", "Off track")
    with requests.Session() as session:
        answer = session.get(
            f"{asana.url}/tasks",
            params={
                "project": project,
                "opt_fields": "custom_fields.name,custom_fields.enum_value.name",
            },
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    answer.raise_for_status()
    (record,) = answer.json()["data"]
    (shown,) = record["custom_fields"]
    assert shown["name"] == "OKR Health"
    assert shown["enum_value"]["name"] == "Off track"


# -- end to end: `okrsync sync --once` against the sandbox ---------------------------------

NOW = "2026-11-24T12:00:00Z"
LATER = "2026-11-24T13:00:00Z"


def write_config(tmp_path: Path, asana: AsanaSandbox, project: str) -> Path:
    path = tmp_path / "okrsync.yaml"
    path.write_text(
        asana_config_head(tmp_path, asana, project)
        + ONB_OBJECTIVE
        + """\
writeback:
  asana:
    comment: true
    fields: {OKR Health: health, KR Progress: outcome, Delivery: delivery}
"""
    )
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--log-format", "json", *args])


def measure(config: Path, value: str, at: str) -> None:
    assert run(config, "metric", "set", "ONB-1", value, "--at", at) == 0


@pytest.fixture
def world(asana: AsanaSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A task carrying ONB-1 with two subtasks, one done (its own delivery: 50%)."""
    monkeypatch.setenv("OKR_ASANA_TOKEN", TOKEN)
    project = asana.add_project("Onboarding")
    task = asana.add_task(project, "Setup wizard", tags=["okr:ONB-1"])
    asana.add_task(None, "Step one", parent=task, completed=True)
    asana.add_task(None, "Step two", parent=task)
    return write_config(tmp_path, asana, project), task


def field_puts(asana: AsanaSandbox) -> list[Any]:
    return [r.body for r in asana.writes if r.method == "PUT" and "/tasks/" in r.path]


def test_fields_are_set_once_stay_quiet_and_only_moved_ones_change(
    asana: AsanaSandbox, world: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, task = world
    progress_gid = asana.add_number_field("KR Progress")
    delivery_gid = asana.add_number_field("Delivery")
    health_gid = asana.add_enum_field("OKR Health", HEALTHS)
    measure(config, "74.8", "2026-11-20T00:00:00Z")

    assert run(config, "sync", "--once", "--now", NOW) == 0

    at_risk = asana.enum_option_gid(health_gid, "At risk")
    assert field_puts(asana) == [
        {"data": {"custom_fields": {health_gid: at_risk, progress_gid: 40.0, delivery_gid: 50.0}}}
    ]
    assert asana.custom_field_values(task) == {
        "KR Progress": 40.0,
        "Delivery": 50.0,
        "OKR Health": "At risk",
    }
    assert len(asana.stories(task)) == 1
    asana.reset_log()

    assert run(config, "sync", "--once", "--now", NOW) == 0  # unchanged: nothing written
    assert asana.writes == []
    assert not any(r.path.endswith("/custom_field_settings") for r in asana.requests)

    measure(config, "79.9", "2026-11-24T12:30:00Z")
    capsys.readouterr()
    assert run(config, "sync", "--once", "--dry-run", "--now", LATER) == 0
    plan = [line for line in capsys.readouterr().out.splitlines() if "set field" in line]
    assert plan == [
        f'{task}  set field "OKR Health" = On track (was At risk)',
        f'{task}  set field "KR Progress" = 70% (was 40%)',
    ]
    assert asana.writes == []

    assert run(config, "sync", "--once", "--now", LATER) == 0
    on_track = asana.enum_option_gid(health_gid, "On track")
    assert field_puts(asana) == [
        {"data": {"custom_fields": {health_gid: on_track, progress_gid: 70.0}}}
    ]
    assert asana.custom_field_values(task)["OKR Health"] == "On track"


def test_a_missing_option_is_an_error_naming_it_and_the_comment_still_lands(
    asana: AsanaSandbox, world: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config, task = world
    asana.add_number_field("KR Progress")
    asana.add_enum_field("OKR Health", ("Green", "Red"))  # no "At risk"; no Delivery field
    measure(config, "74.8", "2026-11-20T00:00:00Z")
    capsys.readouterr()

    assert run(config, "sync", "--once", "--now", NOW) == 1

    output = "".join(capsys.readouterr())
    assert "custom field 'OKR Health' has no option 'At risk' (it has: Green, Red)" in output
    assert "no custom field named 'Delivery'" in output
    assert len(asana.stories(task)) == 1
    assert asana.custom_field_values(task) == {"KR Progress": 40.0, "OKR Health": None}
    asana.reset_log()

    # Next cycle: only the failed fields are tried again (their records were never saved).
    assert run(config, "sync", "--once", "--now", NOW) == 1
    assert asana.writes == []
