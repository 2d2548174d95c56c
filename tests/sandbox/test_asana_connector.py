"""okrsync's own Asana connector against the sandbox: the two agree on the wire."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from okrsync.sources import PlannedWrite
from okrsync.sources.asana import MARKER_URL, AsanaSource, AsanaSourceConfig
from okrsync_sandbox import AsanaSandbox

from .helpers import Clock

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Use of allowEmptyValue:DeprecationWarning"),
]

TOKEN = "asana-sandbox-token"


@pytest.fixture
def asana() -> Iterator[AsanaSandbox]:
    with AsanaSandbox(token=TOKEN) as sandbox:
        sandbox.now = Clock()
        yield sandbox
        assert sandbox.violations == []


def connect(asana: AsanaSandbox, project: str, session: requests.Session) -> AsanaSource:
    config = AsanaSourceConfig.model_validate(
        {"url": asana.url, "projects": [project], "points_field": "Story Points"}
    )
    return AsanaSource(config, TOKEN, sleep=lambda _: None, session=session)


def test_pull_children_and_managed_comment_round_trip(asana: AsanaSandbox) -> None:
    project = asana.add_project("Onboarding")
    asana.add_number_field("Story Points")
    parent = asana.add_task(project, "Parent", tags=["okr:ONB-1"], points=5)
    child = asana.add_task(None, "Child", parent=parent, points=2, completed=True)
    for n in range(150):
        asana.add_task(project, f"Task {n}")
    expire_after_first_page: list[Any] = []

    def expire_once(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if not expire_after_first_page:
            expire_after_first_page.append(response.url)
            asana.expire_offsets()

    with requests.Session() as session:
        session.hooks["response"].append(expire_once)
        source = connect(asana, project, session)
        pulled = {item.key: item for item in source.pull(None, asana.now()).items}
        (subtask,) = source.children([pulled[parent]], {})
        write = PlannedWrite("okr", "asana", parent, "<body>KR</body>", "h", None)
        created = source.apply(write)
        edited = source.apply(write)

    assert len(pulled) == 151  # the walk restarted after the expired offset, once
    assert [r.status for r in asana.requests[:3]] == [200, 400, 200]
    assert pulled[parent].points == 5 and pulled[parent].labels == ("okr:ONB-1",)
    assert pulled[parent].child_count == 1 and child not in pulled
    assert (subtask.key, subtask.parent, subtask.points) == (child, parent, 2)
    assert (created.action, edited.action) == ("created", "edited")
    (comment,) = asana.stories(parent)
    assert comment["gid"] == created.remote_id and MARKER_URL in comment["html_text"]
