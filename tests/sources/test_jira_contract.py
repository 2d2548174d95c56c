"""Exact request shapes of the Jira connector, pinned with `responses`."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from structlog.testing import capture_logs

from okrsync.domain import Bucket
from okrsync.sources import AuthError, JiraSource, PlannedWrite, RetriableError
from okrsync.sources.jira import MARKER_PROPERTY, JiraSourceConfig

URL = "https://acme.atlassian.net"
API = f"{URL}/rest/api/2"
TOKEN = "s3cr3t-token-value"
STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
FIELDS = [
    {"id": "summary", "name": "Summary", "clauseNames": ["summary"]},
    {
        "id": "customfield_10026",
        "name": "Story Points",
        "clauseNames": ["cf[10026]", "Story Points"],
    },
    {"id": "customfield_10014", "name": "Epic Link", "clauseNames": ["cf[10014]", "Epic Link"]},
]


def issue(
    key: str, updated: str = "2026-11-20T09:30:00.000+0000", **fields: object
) -> dict[str, object]:
    body: dict[str, object] = {
        "summary": f"Summary of {key}",
        "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
        "issuetype": {"name": "Story"},
        "labels": ["okr:ONB-1"],
        "updated": updated,
        "customfield_10026": 3.0,
    }
    body.update(fields)
    return {
        "id": str(10000 + int(key.split("-")[1])),
        "key": key,
        "self": f"{API}/issue/{key}",
        "fields": body,
    }


def config(**overrides: object) -> JiraSourceConfig:
    values: dict[str, object] = {
        "url": URL,
        "jql": "project = ONB",
        "auth": {"email_env": "E", "token_env": "T"},
    }
    values.update(overrides)
    return JiraSourceConfig.model_validate(values)


def serve_connect(rsps: responses.RequestsMock, deployment: str = "Cloud") -> None:
    rsps.get(
        f"{API}/serverInfo", json={"versionNumbers": [1001, 0, 0], "deploymentType": deployment}
    )
    rsps.get(f"{API}/field", json=FIELDS)


def query(call: responses.Call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(call.request.url)).query)


def connect(**overrides: object) -> tuple[JiraSource, list[float]]:
    slept: list[float] = []
    source = JiraSource(
        config(**overrides), token=TOKEN, email="bot@acme.example", sleep=slept.append
    )
    return source, slept


@responses.activate
def test_cloud_full_pull_pages_by_token_with_only_the_needed_fields() -> None:
    serve_connect(responses.mock)
    responses.get(
        f"{API}/search/jql",
        json={"issues": [issue("ONB-1"), issue("ONB-2")], "nextPageToken": "p2"},
    )
    responses.get(f"{API}/search/jql", json={"issues": [issue("ONB-3")], "isLast": True})
    source, _ = connect()

    result = source.pull(None, started_at=STARTED)

    searches = [c for c in responses.calls if "/search/jql" in str(c.request.url)]
    assert len(responses.calls) == 4  # serverInfo, field, two pages: nothing per issue
    first, second = query(searches[0]), query(searches[1])
    assert first["jql"] == ["(project = ONB) ORDER BY key ASC"]
    assert first["maxResults"] == ["100"]
    assert sorted(first["fields"]) == sorted(
        ["summary", "status", "issuetype", "labels", "parent", "updated", "customfield_10026"]
    )
    assert "nextPageToken" not in first
    assert second["nextPageToken"] == ["p2"]
    assert [item.key for item in result.items] == ["ONB-1", "ONB-2", "ONB-3"]
    assert result.full and result.requests == 2  # the pull's own requests
    auth = searches[0].request.headers["Authorization"]
    assert auth == "Basic " + base64.b64encode(f"bot@acme.example:{TOKEN}".encode()).decode()


@responses.activate
def test_incremental_pull_sends_the_bookmark_minus_overlap_as_epoch_ms() -> None:
    serve_connect(responses.mock)
    responses.get(f"{API}/search/jql", json={"issues": [], "isLast": True})
    source, _ = connect(overlap="2m")
    bookmark = 1_764_000_000_000

    result = source.pull(bookmark, started_at=STARTED)

    jql = query(responses.calls[-1])["jql"][0]
    assert jql == f"(project = ONB) AND updated >= {bookmark - 120_000} ORDER BY key ASC"
    assert result.bookmark_ms == bookmark  # nothing new seen: the bookmark stays
    assert not result.full


@responses.activate
def test_bookmark_advances_to_newest_update_but_never_past_the_pull_start() -> None:
    serve_connect(responses.mock)
    newest = issue("ONB-2", updated="2026-11-24T09:59:00.000+0000")
    future = issue("ONB-3", updated="2026-11-24T10:05:00.000+0000")  # changed while we paged
    responses.get(f"{API}/search/jql", json={"issues": [issue("ONB-1"), newest], "isLast": True})
    source, _ = connect()
    assert source.pull(None, started_at=STARTED).bookmark_ms == int(
        datetime(2026, 11, 24, 9, 59, tzinfo=UTC).timestamp() * 1000
    )
    responses.get(f"{API}/search/jql", json={"issues": [future], "isLast": True})
    responses.replace(responses.GET, f"{API}/search/jql", json={"issues": [future], "isLast": True})
    assert source.pull(None, started_at=STARTED).bookmark_ms == int(STARTED.timestamp() * 1000)


@responses.activate
def test_server_pulls_with_start_at_and_epic_link_and_bearer_pat() -> None:
    serve_connect(responses.mock, deployment="Server")
    story = issue("ONB-2", customfield_10014="ONB-1")
    responses.get(
        f"{API}/search",
        json={"startAt": 0, "maxResults": 100, "total": 101, "issues": [issue("ONB-1"), story]},
    )
    responses.get(
        f"{API}/search",
        json={"startAt": 2, "maxResults": 100, "total": 3, "issues": [issue("ONB-3")]},
    )
    source = JiraSource(config(auth={"token_env": "T"}), token=TOKEN, sleep=lambda s: None)

    items = {item.key: item for item in source.pull(None, started_at=STARTED).items}

    pages = [query(c) for c in responses.calls if str(c.request.url).startswith(f"{API}/search?")]
    assert [p["startAt"] for p in pages] == [["0"], ["2"]]
    assert all(p["maxResults"] == ["100"] for p in pages)
    assert "customfield_10014" in pages[0]["fields"]
    assert items["ONB-2"].parent == "ONB-1"
    assert responses.calls[-1].request.headers["Authorization"] == f"Bearer {TOKEN}"


@responses.activate
def test_issue_becomes_a_work_item_with_bucket_points_and_parent() -> None:
    serve_connect(responses.mock)
    done = issue(
        "ONB-7",
        status={"name": "Done", "statusCategory": {"key": "done"}},
        parent={"key": "ONB-1"},
        labels=["okr:ONB-1", "ux"],
        customfield_10026=None,
    )
    responses.get(f"{API}/search/jql", json={"issues": [done], "isLast": True})
    source, _ = connect()

    (item,) = source.pull(None, started_at=STARTED).items

    assert item.bucket is Bucket.DONE and item.status == "Done"
    assert item.points is None and item.parent == "ONB-1"
    assert item.labels == ("okr:ONB-1", "ux")
    assert item.updated == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert item.url == f"{URL}/browse/ONB-7" and item.remote_id == "10007"


@responses.activate
def test_rate_limit_waits_as_told_by_retry_after_then_succeeds() -> None:
    serve_connect(responses.mock)
    responses.get(
        f"{API}/search/jql",
        status=429,
        headers={"Retry-After": "7"},
        json={"errorMessages": ["slow down"]},
    )
    responses.get(f"{API}/search/jql", status=503, json={})
    responses.get(f"{API}/search/jql", json={"issues": [issue("ONB-1")], "isLast": True})
    source, slept = connect()

    with capture_logs() as logs:
        result = source.pull(None, started_at=STARTED)

    assert [item.key for item in result.items] == ["ONB-1"]
    assert slept == [7.0, 1.0]  # Retry-After honoured; then exponential backoff (0.5 s × 2)
    retries = [e for e in logs if e["event"] == "source.retry"]
    assert [e["status"] for e in retries] == [429, 503]


@responses.activate
def test_gives_up_after_the_attempt_limit_with_a_retriable_error() -> None:
    serve_connect(responses.mock)
    responses.get(f"{API}/search/jql", status=503, json={})
    source, slept = connect()
    with pytest.raises(RetriableError):
        source.pull(None, started_at=STARTED)
    assert len(slept) == 4


@responses.activate
def test_bad_token_is_fatal_and_the_token_never_appears_in_the_error() -> None:
    responses.get(f"{API}/serverInfo", status=401, json={"errorMessages": ["Unauthorized"]})
    with pytest.raises(AuthError) as raised:
        connect()
    text = str(raised.value)
    encoded = base64.b64encode(f"bot@acme.example:{TOKEN}".encode()).decode()
    assert "401" in text and TOKEN not in text and encoded not in text
    assert len(responses.calls) == 1  # not retried


def write(known: str | None = None) -> PlannedWrite:
    return PlannedWrite(
        target="jira:ONB-1",
        source="jira",
        item_key="ONB-1",
        body="h3. OKR status",
        content_hash="abc",
        known_remote_id=known,
    )


@responses.activate
def test_known_comment_is_edited_in_place_with_one_put() -> None:
    serve_connect(responses.mock)
    responses.put(f"{API}/issue/ONB-1/comment/555", json={"id": "555", "body": "h3. OKR status"})
    source, _ = connect()
    responses.calls.reset()

    outcome = source.apply(write(known="555"))

    assert [(c.request.method, urlsplit(c.request.url).path) for c in responses.calls] == [
        ("PUT", "/rest/api/2/issue/ONB-1/comment/555")
    ]
    assert json.loads(responses.calls[0].request.body or b"") == {"body": "h3. OKR status"}
    assert (outcome.remote_id, outcome.action) == ("555", "edited")


@responses.activate
def test_new_comment_carries_the_hidden_marker_property() -> None:
    serve_connect(responses.mock)
    responses.get(
        f"{API}/issue/ONB-1/comment",
        json={
            "startAt": 0,
            "maxResults": 100,
            "total": 1,
            "comments": [{"id": "9", "body": "a human comment", "properties": []}],
        },
    )
    responses.post(
        f"{API}/issue/ONB-1/comment", status=201, json={"id": "10", "body": "h3. OKR status"}
    )
    source, _ = connect()
    responses.calls.reset()

    outcome = source.apply(write())

    lookup, create = responses.calls
    assert query(lookup)["expand"] == ["properties"]
    body = json.loads(create.request.body or b"")
    assert body["properties"] == [{"key": MARKER_PROPERTY, "value": {"target": "jira:ONB-1"}}]
    assert (outcome.remote_id, outcome.action) == ("10", "created")


@responses.activate
def test_deleted_comment_is_found_again_by_marker_instead_of_posting_twice() -> None:
    serve_connect(responses.mock)
    responses.put(f"{API}/issue/ONB-1/comment/555", status=404, json={"errorMessages": ["gone"]})
    responses.get(
        f"{API}/issue/ONB-1/comment",
        json={
            "startAt": 0,
            "maxResults": 100,
            "total": 1,
            "comments": [
                {
                    "id": "777",
                    "author": {"accountId": "557058:bot"},
                    "body": "old",
                    "properties": [{"key": MARKER_PROPERTY, "value": {}}],
                }
            ],
        },
    )
    responses.get(f"{API}/myself", json={"accountId": "557058:bot", "displayName": "okrsync"})
    responses.put(f"{API}/issue/ONB-1/comment/777", json={"id": "777", "body": "h3. OKR status"})
    source, _ = connect()
    responses.calls.reset()

    outcome = source.apply(write(known="555"))

    assert [c.request.method for c in responses.calls] == ["PUT", "GET", "GET", "PUT"]
    assert urlsplit(str(responses.calls[2].request.url)).path == "/rest/api/2/myself"
    assert (outcome.remote_id, outcome.action) == ("777", "edited")


@responses.activate
def test_bookmark_is_the_servers_clock_at_the_start_of_each_pull() -> None:
    responses.get(
        f"{API}/serverInfo",
        json={
            "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud",
            "serverTime": "2026-11-24T09:58:00.000+0000",
        },
    )
    responses.get(f"{API}/field", json=FIELDS)
    responses.get(f"{API}/search/jql", json={"issues": [issue("ONB-1")], "isLast": True})
    source, _ = connect()

    first = source.pull(None, started_at=STARTED)
    responses.replace(
        responses.GET,
        f"{API}/serverInfo",
        json={
            "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud",
            "serverTime": "2026-11-24T10:20:00.000+0000",
        },
    )
    second = source.pull(first.bookmark_ms, started_at=STARTED)

    assert first.bookmark_ms == int(datetime(2026, 11, 24, 9, 58, tzinfo=UTC).timestamp() * 1000)
    assert second.bookmark_ms == int(datetime(2026, 11, 24, 10, 20, tzinfo=UTC).timestamp() * 1000)
    info_calls = [c for c in responses.calls if str(c.request.url).endswith("/serverInfo")]
    assert len(info_calls) == 2  # the connect's answer serves the first pull; the second asks again
