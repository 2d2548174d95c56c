"""`okrsync validate --check-labels` as the real CLI against the three sandboxes.

The world is the demo's, read through the demo's config; every exchange is checked
against the vendors' descriptions, and nothing may be written or stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from okrsync.cli import main
from okrsync_sandbox.world import GITHUB_TOKEN, World, demo_config_path, serve_world

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "okrsync.db"


@pytest.fixture
def world(store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with serve_world() as world:
        for name, value in world.environ(f"sqlite:///{store}").items():
            monkeypatch.setenv(name, value)
        yield world
        assert world.violations() == []
        assert [r for _, box in world.boxes() for r in box.writes] == []  # wrote nothing
        assert not store.exists()  # stored nothing


@pytest.fixture
def config() -> Iterator[Path]:
    with demo_config_path() as path:
        yield path


def check_labels(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = main(["--config", str(config), "--log-format", "json", "validate", "--check-labels"])
    out, err = capsys.readouterr()
    return code, out.splitlines()[1:], err  # the first line is validate's own "ok"


def add_typos(world: World) -> None:
    world.jira.add_issue(
        project="ONB", summary="Typo'd", issuetype="Story", status="To Do", labels=["okr:ONB-9"]
    )
    world.github.add_issue("acme/web", "Typo'd too", labels=["okr:SEC2"])


def test_labels_in_use_with_their_krs_and_those_naming_no_kr(
    world: World, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_typos(world)

    code, lines, _ = check_labels(config, capsys)

    assert lines == [
        "jira: 7 KR labels, 1 naming no KR; 3 requests",
        "  kr:ONB-2 -> ONB-2 (label_pattern)",
        "  okr:ONB-1 -> ONB-1 (label_pattern)",
        "  OKR:onb-2 -> ONB-2 (label_pattern)",
        "  okr:ONB-9 -> unknown KR ONB-9",  # ONB-1 and ONB-2 are equally close: no guess
        "  okr:SEC-1 -> SEC-1 (label_pattern)",
        "  okr:SEC-2 -> SEC-2 (label_pattern)",
        "  onboarding-completion -> ONB-1 (ONB-1 labels)",
        "github: 3 KR labels, 1 naming no KR; 1 request",
        "  okr:ONB-1 -> ONB-1 (label_pattern)",
        "  okr:SEC-2 -> SEC-2 (label_pattern)",
        "  okr:SEC2 -> unknown KR SEC2; did you mean SEC-2?",
        "asana: 1 KR label; 1 request",
        "  okr:ONB-1 -> ONB-1 (label_pattern)",
        "labels: 2 labels naming no KR (jira 1, github 1)",
    ]
    assert code == 1


def test_every_kr_label_naming_a_kr_exits_0(
    world: World, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, _ = check_labels(config, capsys)

    assert lines[-1] == "labels: every KR label names a KR"
    assert "github: 2 KR labels; 1 request" in lines
    assert code == 0


def test_label_lists_page_and_cost_one_request_a_hundred(
    world: World, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Labels defined in the repository but on no issue count too: 150 of them, 2 pages.
    world.github.add_labels("acme/web", [f"team-{n}" for n in range(148)] + ["kr:PLAT-7"])

    code, lines, _ = check_labels(config, capsys)

    assert "github: 3 KR labels, 1 naming no KR; 2 requests" in lines
    assert "  kr:PLAT-7 -> unknown KR PLAT-7" in lines
    assert code == 1


def test_a_source_that_cannot_be_read_is_one_failed_line_and_exit_1(
    world: World, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world.github.fail_next(5, 502, retry_after="0")  # every attempt: a proxy without GitHub

    code, lines, _ = check_labels(config, capsys)

    failed = "github: FAILED: GET /repos/acme/web/labels: HTTP 502: Bad Gateway; 5 requests"
    assert failed in lines
    assert lines[0] == "jira: 6 KR labels; 3 requests" and "asana: 1 KR label; 1 request" in lines
    assert lines[-1] == "labels: 1 source not read (github)"
    assert code == 1


def test_a_wrong_token_fails_that_source_without_showing_it(
    world: World, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OKRSYNC_DEMO_GITHUB_TOKEN", "ghp_wrongtoken")

    code, lines, err = check_labels(config, capsys)

    failed = "github: FAILED: GET /repos/acme/web/labels: HTTP 401: check the token and its "
    assert failed + "permissions; 1 request" in lines
    assert "ghp_wrongtoken" not in "\n".join(lines) + err and GITHUB_TOKEN not in err
    assert code == 1


def test_a_missing_secret_is_a_config_problem_and_exit_2(
    world: World, config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OKRSYNC_DEMO_ASANA_TOKEN")

    code = main(["--config", str(config), "validate", "--check-labels"])

    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith(f"{config}:") and "sources.asana.token_env" in err
    assert "OKRSYNC_DEMO_ASANA_TOKEN" in err
    assert [r for _, box in world.boxes() for r in box.requests] == []  # nothing connected
