"""Tokens as real deployments hand them over, and nothing of them comes out.

A full `okrsync sync --once` against the three sandboxes, run as a real process, with
every token newline-terminated (as `echo` into a secret store, or a mounted file, leaves
it), one of them given through a `*_file` key, and faults injected: 429 and 500 answers,
and a 401 on Jira whose error body echoes the token it was sent. Then stdout, stderr (logs
at debug level) and every row of every table of the SQLite store are searched for every
token, its Basic-auth form and its base64: zero hits. The cycle completes: exit 0, or 1
for the source that failed.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from okrsync_sandbox._server import Fault
from okrsync_sandbox.world import (
    ASANA_TOKEN,
    GITHUB_TOKEN,
    JIRA_EMAIL,
    JIRA_TOKEN,
    World,
    demo_config_path,
    serve_world,
)

pytestmark = pytest.mark.integration

NOW = "2026-11-24T12:00:00Z"
HANG_GUARD_SECONDS = 120


@pytest.fixture
def world() -> Iterator[World]:
    with serve_world() as world:
        yield world


def _forms(token: str) -> list[str]:
    basic = base64.b64encode(f"{JIRA_EMAIL}:{token}".encode()).decode()
    return [token, basic, base64.b64encode(token.encode()).decode()]


def _config_with_asana_token_file(tmp_path: Path) -> Path:
    with demo_config_path() as demo:
        text = demo.read_text(encoding="utf-8")
    old = "    token_env: OKRSYNC_DEMO_ASANA_TOKEN\n"
    assert old in text
    config = tmp_path / "okrsync.yaml"
    config.write_text(text.replace(old, "    token_file: secrets/asana-token\n"), encoding="utf-8")
    (tmp_path / "secrets").mkdir()
    # Relative to the config's directory; a trailing newline as `echo` leaves it.
    (tmp_path / "secrets" / "asana-token").write_text(ASANA_TOKEN + "\n", encoding="utf-8")
    return config


def _dump_store(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        return "\n".join(connection.iterdump())


def test_newline_tokens_work_and_never_leak(world: World, tmp_path: Path) -> None:
    config = _config_with_asana_token_file(tmp_path)
    store = tmp_path / "okrsync.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")}
    env.update(world.environ(f"sqlite:///{store}"))
    for name in ("OKRSYNC_DEMO_JIRA_TOKEN", "OKRSYNC_DEMO_GITHUB_TOKEN", "OKRSYNC_DEMO_JIRA_EMAIL"):
        env[name] += "\n"
    env["OKRSYNC_DEMO_GITHUB_TOKEN"] = "  " + env["OKRSYNC_DEMO_GITHUB_TOKEN"] + "\r\n"

    # Faults: GitHub throttles once and fails once; Jira refuses the token, echoing it.
    world.github.fail_next(1, 429, retry_after="1")
    world.github.fail_next(1, 500)
    world.asana.fail_next(1, 500, retry_after=None)
    echo = f"Bad token {JIRA_TOKEN} (Basic {_forms(JIRA_TOKEN)[1]})"
    world.jira.inject_faults(3, Fault(401, message=echo))

    okrsync = shutil.which("okrsync", path=str(Path(sys.executable).parent)) or "okrsync"
    result = subprocess.run(
        [okrsync, "--config", str(config), "--log-level", "debug", "--log-format", "json"]
        + ["sync", "--once", "--now", NOW],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )

    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert result.returncode in (0, 1), (result.stdout, result.stderr[-3000:])
    lines = {line.split(":", 1)[0]: line for line in result.stdout.splitlines() if ":" in line}
    # GitHub and Asana, through their faults and with their stripped tokens, synced.
    assert lines["github"].startswith("github: ok"), result.stdout
    assert lines["asana"].startswith("asana: ok"), result.stdout
    assert "jira" in lines, result.stdout
    assert store.exists()

    outputs = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "store": _dump_store(store),
    }
    for token in (JIRA_TOKEN, GITHUB_TOKEN, ASANA_TOKEN):
        for form in _forms(token):
            for where, text in outputs.items():
                assert form not in text, f"a form of a token was found in {where}"
