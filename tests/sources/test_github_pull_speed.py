"""What keeps a GitHub pull's request chain short (okrsync/sources/github.py, "Speed"):
the store catches up while the last page is on its way, the body is read whole through
requests' own session, and the environment's settings are read once per host."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses

from okrsync.domain import WorkItem
from okrsync.sources._core import SessionTransport
from okrsync.sources.github import GithubSource, GithubSourceConfig

API = "https://api.github.com"
STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DATE = "Tue, 24 Nov 2026 09:58:00 GMT"


def issue(number: int) -> dict[str, Any]:
    return {
        "id": 1000 + number,
        "number": number,
        "title": f"Issue {number}",
        "state": "open",
        "labels": [],
        "updated_at": "2026-11-20T09:30:00Z",
        "html_url": f"https://github.com/acme/web/issues/{number}",
        "repository_url": f"{API}/repos/acme/web",
    }


def connect() -> GithubSource:
    settings = {"repos": ["acme/web"], "seconds_between_requests": 0}
    return GithubSource(GithubSourceConfig.model_validate(settings), "ghp_t0ken")


def link(page: int, last: int) -> str:
    url = f"{API}/repositories/1/issues?state=all&sort=updated&direction=asc&per_page=100"
    return f'<{url}&page={page}>; rel="next", <{url}&page={last}>; rel="last"'


@responses.activate
def test_what_was_read_is_stored_before_the_last_page_is_read() -> None:
    second = f"{API}/repositories/1/issues?state=all&sort=updated&direction=asc&per_page=100"
    responses.get(
        f"{API}/repos/acme/web/issues",
        json=[issue(1)],
        headers={"Link": link(2, 3), "Date": DATE},
    )
    responses.get(f"{second}&page=2", json=[issue(2)], headers={"Link": link(3, 3)})
    responses.get(f"{second}&page=3", json=[issue(3)])
    source = connect()
    batches: list[list[str]] = []

    def sink(items: list[WorkItem]) -> None:
        batches.append([item.key for item in items])

    source.stream_to(sink)
    result = source.pull(None, started_at=STARTED)

    # Pages 1 and 2 are handed over once page 2 says the next is the last; page 3 alone after.
    assert batches == [["acme/web#1", "acme/web#2"], ["acme/web#3"]]
    assert len(responses.calls) == 3 and result.items == []
    assert result.bookmark_ms is not None


@responses.activate
def test_the_session_transport_reads_the_environment_once_per_host_and_the_body_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    responses.get(f"{API}/a", json={"n": 1})
    responses.get(f"{API}/b", json={"n": 2})
    responses.get("https://ghe.example/api/v3/c", body=b"x" * 50_000)
    session = requests.Session()
    merged: list[str] = []
    merge = session.merge_environment_settings

    def counted(url: Any, *args: Any) -> Any:
        merged.append(str(url))
        return merge(url, *args)

    monkeypatch.setattr(session, "merge_environment_settings", counted)
    send = SessionTransport(session, timeout=5)

    answers = [
        send(session.prepare_request(requests.Request("GET", url)))
        for url in (f"{API}/a", f"{API}/b", "https://ghe.example/api/v3/c")
    ]

    assert merged == [f"{API}/a", "https://ghe.example/api/v3/c"]
    assert [answer.json() for answer in answers[:2]] == [{"n": 1}, {"n": 2}]
    assert answers[2].content == b"x" * 50_000
