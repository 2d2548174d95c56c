"""Reconciliation and retiring unmapped tasks on Asana, end to end: `okrsync sync` against the
sandbox (Asana's description checks every exchange).

The managed comment (a story) is read back with one `GET /stories/{gid}` every
`writeback.reconcile` (2 h here): a person's edit is restored, a deleted story recreated. A
task whose KR tag is taken off has its story made a one-line note (marker link kept) and
its custom fields nulled in one PUT; then nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from okrsync.cli import main
from okrsync.sources import UNLINKED_NOTE
from okrsync.sources.asana import MARKER_URL
from okrsync_sandbox import AsanaSandbox

from .helpers import ONB_OBJECTIVE, Clock, asana_config_head

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Use of allowEmptyValue:DeprecationWarning"),
]

TOKEN = "asana-sandbox-token"
NOW = "2026-11-24T12:00:00Z"
HEALTHS = ("On track", "At risk", "Off track", "No data")


@pytest.fixture
def asana(monkeypatch: pytest.MonkeyPatch) -> Iterator[AsanaSandbox]:
    monkeypatch.setenv("OKR_ASANA_TOKEN", TOKEN)
    with AsanaSandbox(token=TOKEN) as sandbox:
        sandbox.now = Clock()
        yield sandbox
        assert sandbox.violations == []


def write_config(tmp_path: Path, asana: AsanaSandbox, project: str) -> Path:
    path = tmp_path / "okrsync.yaml"
    path.write_text(
        asana_config_head(tmp_path, asana, project)
        + ONB_OBJECTIVE
        + """\
writeback:
  reconcile: 2h
  asana:
    comment: true
    fields: {OKR Health: health, KR Progress: outcome}
"""
    )
    assert run(path, "metric", "set", "ONB-1", "74.8", "--at", "2026-11-20T00:00:00Z") == 0
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--log-format", "json", *args])


def sync(config: Path, now: str) -> int:
    return run(config, "sync", "--once", "--now", now)


def story_calls(asana: AsanaSandbox) -> list[tuple[str, str]]:
    return [
        (r.method, r.path.removeprefix("/api/1.0"))
        for r in asana.requests
        if r.path.startswith("/api/1.0/stories/")
    ]


def test_an_edit_is_restored_and_a_deletion_recreated_on_reconcile(
    tmp_path: Path, asana: AsanaSandbox
) -> None:
    project = asana.add_project("Onboarding")
    asana.add_number_field("KR Progress")
    asana.add_enum_field("OKR Health", HEALTHS)
    task = asana.add_task(project, "Setup wizard", tags=["okr:ONB-1"])
    config = write_config(tmp_path, asana, project)
    assert sync(config, NOW) == 0
    (written,) = asana.stories(task)
    asana.edit_comment(written["gid"], "<body>Fine by me.</body>")
    asana.reset_log()

    assert sync(config, "2026-11-24T13:00:00Z") == 0  # within the interval: not read
    assert story_calls(asana) == [] and asana.writes == []

    assert sync(config, "2026-11-24T14:00:00Z") == 0
    path = f"/stories/{written['gid']}"
    assert story_calls(asana) == [("GET", path), ("PUT", path)]
    assert asana.stories(task)[0]["html_text"] == written["html_text"]

    asana.reset_log()
    assert sync(config, "2026-11-24T16:00:00Z") == 0  # the same text: one read, no write
    assert story_calls(asana) == [("GET", path)] and asana.writes == []

    asana.delete_comment(written["gid"])
    assert sync(config, "2026-11-24T18:00:00Z") == 0
    (recreated,) = asana.stories(task)  # (six hours on, the expected progress moved)
    assert recreated["gid"] != written["gid"] and MARKER_URL in recreated["html_text"]


def test_a_task_no_longer_linked_gets_a_note_and_its_fields_cleared(
    tmp_path: Path, asana: AsanaSandbox
) -> None:
    project = asana.add_project("Onboarding")
    progress = asana.add_number_field("KR Progress")
    health = asana.add_enum_field("OKR Health", HEALTHS)
    task = asana.add_task(project, "Setup wizard", tags=["okr:ONB-1"])
    config = write_config(tmp_path, asana, project)
    assert sync(config, NOW) == 0
    assert asana.custom_field_values(task) == {"KR Progress": 40.0, "OKR Health": "At risk"}
    (written,) = asana.stories(task)
    asana.now.advance(minutes=5)  # type: ignore[attr-defined]
    asana.set_tags(task, [])
    asana.reset_log()

    assert sync(config, "2026-11-24T13:00:00Z") == 0

    writes = [(r.method, r.path.removeprefix("/api/1.0"), r.body) for r in asana.writes]
    assert [(method, path) for method, path, _ in writes] == [
        ("PUT", f"/stories/{written['gid']}"),
        ("PUT", f"/tasks/{task}"),
    ]
    assert writes[1][2] == {"data": {"custom_fields": {health: None, progress: None}}}
    assert asana.custom_field_values(task) == {"KR Progress": None, "OKR Health": None}
    (note,) = asana.stories(task)
    assert note["gid"] == written["gid"] and note["text"].startswith(UNLINKED_NOTE)

    asana.reset_log()
    assert sync(config, "2026-11-24T14:00:00Z") == 0
    assert asana.writes == []
