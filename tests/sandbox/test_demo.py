"""`okrsync demo` end to end, in process: the world, the packaged config, three cycles."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from okrsync.cli import main
from okrsync_sandbox.world import demo_config

pytestmark = pytest.mark.integration


def test_the_demo_config_is_package_data() -> None:
    assert demo_config().is_file()
    assert "${OKRSYNC_DEMO_ASANA_PROJECT}" in demo_config().read_text(encoding="utf-8")


def test_the_demo_runs_three_cycles_and_edits_in_place(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Cycle 2, nothing changed" in out
    assert out.count("0 writes: 0 comments created, 0 edited") == 3  # cycle 2, every system
    assert "ONB-1 delivery now 89% across the three systems" in out
    assert "still has 1 managed comment, edited in place." in out
    # It ends with the HTML report, and says where it is.
    report = tmp_path / "okrsync-demo-report.html"
    assert f"The report, one self-contained HTML page: {report}" in " ".join(out.split())
    assert 'data-kr-id="ONB-1"' in report.read_text(encoding="utf-8")
