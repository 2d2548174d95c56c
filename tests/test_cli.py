"""Commands that are not covered elsewhere: `db upgrade`."""

from __future__ import annotations

from pathlib import Path

import pytest

from okrsync.cli import main
from okrsync.store import current_revision, head_revision


def test_db_upgrade_brings_the_store_to_the_newest_revision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    config = tmp_path / "okrsync.yaml"
    config.write_text(f"""\
version: 1
cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "{url}"}}
objectives:
  - id: ONB
    title: Onboarding
    key_results: [{{id: ONB-1, title: Completion, baseline: 68, target: 85}}]
""")

    assert main(["--config", str(config), "db", "upgrade"]) == 0

    assert capsys.readouterr().out.strip() == f"store at revision {head_revision()}"
    assert current_revision(url) == head_revision()
