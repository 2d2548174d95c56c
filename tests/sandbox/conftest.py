"""Sandboxes on a fixed clock and real `jira` clients talking to them.

Every sandbox fixture checks at teardown that nothing the test did broke Atlassian's
description: a test that provokes a violation on purpose clears the log after asserting.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import jira
import pytest

from okrsync_sandbox import JiraSandbox

from .helpers import EMAIL, TOKEN, Clock, cloud_client, server_client


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _serve(mode: Literal["cloud", "server"], clock: Clock) -> Iterator[JiraSandbox]:
    with JiraSandbox(mode=mode, email=EMAIL, token=TOKEN) as sandbox:
        sandbox.now = clock
        yield sandbox
        assert sandbox.violations == []


@pytest.fixture
def cloud(clock: Clock) -> Iterator[JiraSandbox]:
    yield from _serve("cloud", clock)


@pytest.fixture
def server(clock: Clock) -> Iterator[JiraSandbox]:
    yield from _serve("server", clock)


@pytest.fixture
def cloud_jira(cloud: JiraSandbox) -> Iterator[jira.JIRA]:
    client = cloud_client(cloud)
    yield client
    client._session.close()


@pytest.fixture
def server_jira(server: JiraSandbox) -> Iterator[jira.JIRA]:
    client = server_client(server)
    yield client
    client._session.close()
