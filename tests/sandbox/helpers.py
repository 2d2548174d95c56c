"""Shared bits of the sandbox tests: credentials, a settable clock, real `jira` clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jira
import requests
from jira.exceptions import JIRAError

from okrsync_sandbox import JiraSandbox

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
