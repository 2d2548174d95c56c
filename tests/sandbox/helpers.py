"""Shared bits of the sandbox tests: credentials, a settable clock, real `jira` clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jira
import requests
from jira.exceptions import JIRAError

from okrsync_sandbox import AsanaSandbox, GitHubSandbox, JiraSandbox

EMAIL = "demo@example.com"
TOKEN = "sandbox-token"
START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class Clock:
    """A settable clock for `JiraSandbox.now`."""

    def __init__(self, at: datetime = START) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at


def cloud_client(sandbox: JiraSandbox, token: str = TOKEN) -> jira.JIRA:
    return jira.JIRA(
        server=sandbox.url,
        basic_auth=(EMAIL, token),
        get_server_info=True,
        timeout=10,
        max_retries=0,
    )


def server_client(sandbox: JiraSandbox, token: str = TOKEN) -> jira.JIRA:
    return jira.JIRA(
        server=sandbox.url, token_auth=token, get_server_info=True, timeout=10, max_retries=0
    )


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def error_response(error: JIRAError) -> requests.Response:
    """The HTTP response behind a library error (every error from the sandbox has one)."""
    assert error.response is not None
    response: requests.Response = error.response
    return response


def error_json(error: JIRAError) -> Any:
    return error_response(error).json()


def config_head(tmp_path: Path, source: str) -> str:
    """The top of a config for one source (`source`: its block under `sources:`, indented
    two spaces), its store in `tmp_path`: the tests add their objectives and
    `writeback:` below it."""
    return f"""\
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "sqlite:///{tmp_path / "okrsync.db"}"}}
sources:
{source}"""


def jira_config_head(tmp_path: Path, sandbox: JiraSandbox, jql: str = "project = APP") -> str:
    """`config_head` for one Jira source on `sandbox`, its credentials in OKR_JIRA_EMAIL
    (Cloud) and OKR_JIRA_TOKEN."""
    auth = (
        "{email_env: OKR_JIRA_EMAIL, token_env: OKR_JIRA_TOKEN}"
        if sandbox.mode == "cloud"
        else "{token_env: OKR_JIRA_TOKEN}"
    )
    return config_head(
        tmp_path, f'  jira:\n    url: {sandbox.url}\n    auth: {auth}\n    jql: "{jql}"\n'
    )


def github_config_head(tmp_path: Path, sandbox: GitHubSandbox) -> str:
    """`config_head` for the repository acme/web on `sandbox`, its token in
    OKR_GITHUB_TOKEN; no pause between writes (pacing is pinned by tests/sources)."""
    return config_head(
        tmp_path,
        f"  github:\n    url: {sandbox.url}\n    token_env: OKR_GITHUB_TOKEN\n"
        "    repos: [acme/web]\n    seconds_between_writes: 0\n",
    )


def asana_config_head(tmp_path: Path, sandbox: AsanaSandbox, project: str) -> str:
    """`config_head` for the Asana `project` on `sandbox`, its token in OKR_ASANA_TOKEN."""
    return config_head(
        tmp_path,
        f"  asana:\n    url: {sandbox.url}\n    token_env: OKR_ASANA_TOKEN\n"
        f'    projects: ["{project}"]\n',
    )


# The one objective of the write-back tests, as a config block (a test may add KRs below).
ONB_OBJECTIVE = """\
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - id: ONB-1
        title: Completion from 68% to 85%
        unit: "%"
        baseline: 68
        target: 85
"""
