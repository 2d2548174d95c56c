"""Exact request shapes of the Jira connector, pinned with `responses`."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from factories import Reads
from responses import matchers
from structlog.testing import capture_logs

from okrsync.config import WritebackValue
from okrsync.domain import Bucket
from okrsync.sources import (
    AuthError,
    JiraSource,
    OperationOutcome,
    PlannedWrite,
    RetriableError,
    SetField,
    SetKRIssue,
    SetKRLinks,
    SetProperty,
)
from okrsync.sources.jira import ADF_SEPARATOR, MARKER_PROPERTY, JiraSourceConfig, kr_issues_jql

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
    assert all(p["maxResults"] == ["1000"] for p in pages)  # Server's most a page
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
    assert query(responses.calls[0]) == {"notifyUsers": ["false"]}  # an edit notifies no one
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


# A planned Jira body: the wiki markup, then the ADF document (okrsync/render/jira.py).
ADF_DOC = {
    "version": 1,
    "type": "doc",
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "CS-2 *x*"}]}],
}
BOTH = "h3. OKR status" + ADF_SEPARATOR + json.dumps(ADF_DOC)
API_V3 = f"{URL}/rest/api/3"


def write_both(known: str | None = None) -> PlannedWrite:
    return replace(write(known), body=BOTH)


@responses.activate
def test_cloud_edits_the_comment_in_adf_through_v3_and_notifies_no_one() -> None:
    serve_connect(responses.mock)
    responses.put(f"{API_V3}/issue/ONB-1/comment/555", json={"id": "555", "body": ADF_DOC})
    source, _ = connect()
    responses.calls.reset()

    outcome = source.apply(write_both(known="555"))

    (edit,) = responses.calls
    assert (edit.request.method, urlsplit(edit.request.url).path) == (
        "PUT",
        "/rest/api/3/issue/ONB-1/comment/555",
    )
    assert json.loads(edit.request.body or b"") == {"body": ADF_DOC}
    assert query(edit) == {"notifyUsers": ["false"]}
    assert (outcome.remote_id, outcome.action) == ("555", "edited")


@responses.activate
def test_cloud_posts_a_new_comment_in_adf_with_the_marker_property() -> None:
    serve_connect(responses.mock)
    responses.get(
        f"{API}/issue/ONB-1/comment",
        json={"startAt": 0, "maxResults": 100, "total": 0, "comments": []},
    )
    responses.post(f"{API_V3}/issue/ONB-1/comment", status=201, json={"id": "10"})
    source, _ = connect()
    responses.calls.reset()

    outcome = source.apply(write_both())

    lookup, create = responses.calls
    # The marker is an entity property: read back through v2 whatever wrote the comment.
    assert urlsplit(lookup.request.url).path == "/rest/api/2/issue/ONB-1/comment"
    assert query(lookup)["expand"] == ["properties"]
    assert urlsplit(create.request.url).path == "/rest/api/3/issue/ONB-1/comment"
    assert json.loads(create.request.body or b"") == {
        "body": ADF_DOC,
        "properties": [{"key": MARKER_PROPERTY, "value": {"target": "jira:ONB-1"}}],
    }
    assert (outcome.remote_id, outcome.action) == ("10", "created")


@responses.activate
def test_server_writes_the_wiki_markup_through_v2() -> None:
    serve_connect(responses.mock, deployment="Server")
    responses.put(f"{API}/issue/ONB-1/comment/555", json={"id": "555", "body": "h3. OKR status"})
    source, _ = connect()
    responses.calls.reset()

    source.apply(write_both(known="555"))

    (edit,) = responses.calls
    assert urlsplit(edit.request.url).path == "/rest/api/2/issue/ONB-1/comment/555"
    assert json.loads(edit.request.body or b"") == {"body": "h3. OKR status"}
    assert query(edit) == {}  # Server takes no notifyUsers


@responses.activate
def test_a_body_without_adf_is_wiki_markup_through_v2_on_cloud_too() -> None:
    # writeback.jira.format: wiki plans the wiki markup alone.
    serve_connect(responses.mock)
    responses.put(f"{API}/issue/ONB-1/comment/555", json={"id": "555", "body": "h3. OKR status"})
    source, _ = connect()
    responses.calls.reset()

    source.apply(write(known="555"))

    (edit,) = responses.calls
    assert urlsplit(edit.request.url).path == "/rest/api/2/issue/ONB-1/comment/555"
    assert json.loads(edit.request.body or b"") == {"body": "h3. OKR status"}


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
    # Something new since the first bookmark (a pull that saw nothing new keeps it).
    newer = issue("ONB-1", updated="2026-11-24T10:05:00.000+0000")
    responses.replace(responses.GET, f"{API}/search/jql", json={"issues": [newer], "isLast": True})
    second = source.pull(first.bookmark_ms, started_at=STARTED)

    assert first.bookmark_ms == int(datetime(2026, 11, 24, 9, 58, tzinfo=UTC).timestamp() * 1000)
    assert second.bookmark_ms == int(datetime(2026, 11, 24, 10, 20, tzinfo=UTC).timestamp() * 1000)
    info_calls = [c for c in responses.calls if str(c.request.url).endswith("/serverInfo")]
    assert len(info_calls) == 2  # the connect's answer serves the first pull; the second asks again


# -- write-back operations: fields in one PUT, the issue property, notifyUsers -------------

HEALTH_ID, PROGRESS_ID, KRS_ID = "customfield_10050", "customfield_10051", "customfield_10052"
SELECT = "com.atlassian.jira.plugin.system.customfieldtypes:select"
WRITE_FIELDS = [
    *FIELDS,
    {
        "id": HEALTH_ID,
        "name": "OKR Health",
        "clauseNames": ["cf[10050]", "OKR Health"],
        "schema": {"type": "option", "custom": SELECT, "customId": 10050},
    },
    {
        "id": PROGRESS_ID,
        "name": "KR Progress",
        "clauseNames": ["cf[10051]", "KR Progress"],
        "schema": {"type": "number", "customId": 10051},
    },
    {
        "id": KRS_ID,
        "name": "Key Results",
        "clauseNames": ["cf[10052]", "Key Results"],
        "schema": {"type": "string", "customId": 10052},
    },
]
EDITMETA = {
    "fields": {
        HEALTH_ID: {
            "required": False,
            "schema": {"type": "option", "custom": SELECT, "customId": 10050},
            "name": "OKR Health",
            "key": HEALTH_ID,
            "operations": ["set"],
            "allowedValues": [
                {"id": "10500", "value": "On track"},
                {"id": "10501", "value": "AT RISK"},  # matched in any case
            ],
        },
        PROGRESS_ID: {
            "required": False,
            "schema": {"type": "number"},
            "name": "KR Progress",
            "key": PROGRESS_ID,
            "operations": ["set"],
        },
    }
}
NOTIFY_REFUSED = (
    "To discard the user notification either admin or project admin permissions are required."
)
PROPERTY = SetProperty(
    "jira:ONB-1",
    "jira",
    "ONB-1",
    "okrsync.status",
    '{"as_of": "2026-11-24T12:00:00+00:00", "delivery": 0.5, "health": "at_risk", '
    '"krs": ["ONB-1"], "outcome": 0.425}',
    "h4",
)


def set_field(name: str, holds: WritebackValue, value: str | float | None) -> SetField:
    display = f"{value:g}%" if isinstance(value, float) else str(value)
    return SetField("jira:ONB-1", "jira", "ONB-1", name, holds, value, display, f"hash-{name}")


HEALTH = set_field("OKR Health", "health", "At risk")
PROGRESS = set_field("kr progress", "outcome", 42.5)  # names match in any case
KRS = set_field("Key Results", "key_results", "ONB-1, ONB-2")


def serve_write_connect(rsps: responses.RequestsMock, deployment: str = "Cloud") -> None:
    rsps.get(
        f"{API}/serverInfo", json={"versionNumbers": [1001, 0, 0], "deploymentType": deployment}
    )
    rsps.get(f"{API}/field", json=WRITE_FIELDS)


def shapes() -> list[tuple[str, str, dict[str, list[str]], object]]:
    return [
        (
            str(c.request.method),
            urlsplit(str(c.request.url)).path,
            query(c),
            json.loads(c.request.body) if c.request.body else None,
        )
        for c in responses.calls
    ]


def outcomes_of(found: list[OperationOutcome]) -> list[tuple[str, str, str | None]]:
    return [(o.operation.op_key, o.remote_id, o.error) for o in found]


@responses.activate
def test_fields_go_in_one_put_that_notifies_no_one_then_the_property() -> None:
    serve_write_connect(responses.mock)
    responses.get(f"{API}/issue/ONB-1/editmeta", json=EDITMETA)
    responses.put(f"{API}/issue/ONB-1", status=204)
    responses.put(f"{API}/issue/ONB-1/properties/okrsync.status", status=201)
    source, _ = connect()
    responses.calls.reset()

    done = list(source.apply_operations([HEALTH, PROGRESS, KRS, PROPERTY]))

    assert shapes() == [
        ("GET", "/rest/api/2/issue/ONB-1/editmeta", {}, None),  # the select's options
        (
            "PUT",
            "/rest/api/2/issue/ONB-1",
            {"notifyUsers": ["false"]},
            {"fields": {HEALTH_ID: {"id": "10501"}, PROGRESS_ID: 42.5, KRS_ID: "ONB-1, ONB-2"}},
        ),
        (
            "PUT",
            "/rest/api/2/issue/ONB-1/properties/okrsync.status",
            {},
            json.loads(PROPERTY.value),
        ),
    ]
    # Each field's record keeps the display text of what was written.
    assert outcomes_of(done) == [
        ("field:OKR Health", "AT RISK", None),
        ("field:kr progress", "42.5%", None),
        ("field:Key Results", "ONB-1, ONB-2", None),
        ("property:okrsync.status", "", None),
    ]


@responses.activate
def test_server_edits_carry_no_notify_users_and_options_are_read_once_per_project() -> None:
    serve_write_connect(responses.mock, deployment="Server")
    responses.get(f"{API}/issue/ONB-1/editmeta", json=EDITMETA)
    responses.put(f"{API}/issue/ONB-1", status=204)
    responses.put(f"{API}/issue/ONB-2", status=204)
    source, _ = connect()
    responses.calls.reset()
    other = replace(HEALTH, target="jira:ONB-2", item_key="ONB-2", value="on TRACK")

    list(source.apply_operations([HEALTH]))
    list(source.apply_operations([other]))

    assert shapes() == [
        ("GET", "/rest/api/2/issue/ONB-1/editmeta", {}, None),
        ("PUT", "/rest/api/2/issue/ONB-1", {}, {"fields": {HEALTH_ID: {"id": "10501"}}}),
        ("PUT", "/rest/api/2/issue/ONB-2", {}, {"fields": {HEALTH_ID: {"id": "10500"}}}),
    ]


@responses.activate
def test_a_refused_notify_users_is_sent_again_without_it_and_left_out_for_the_cycle() -> None:
    serve_write_connect(responses.mock)
    responses.put(
        f"{API}/issue/ONB-1",
        status=403,
        json={"errorMessages": [NOTIFY_REFUSED], "errors": {}},
        match=[matchers.query_param_matcher({"notifyUsers": "false"})],
    )
    responses.put(f"{API}/issue/ONB-1", status=204, match=[matchers.query_param_matcher({})])
    responses.put(
        f"{API}/issue/ONB-1/comment/555",
        json={"id": "555"},
        match=[matchers.query_param_matcher({})],
    )
    source, _ = connect()
    responses.calls.reset()

    with capture_logs() as logs:
        done = list(source.apply_operations([PROGRESS]))
        source.apply(write(known="555"))

    assert [(method, path, params) for method, path, params, _ in shapes()] == [
        ("PUT", "/rest/api/2/issue/ONB-1", {"notifyUsers": ["false"]}),
        ("PUT", "/rest/api/2/issue/ONB-1", {}),
        ("PUT", "/rest/api/2/issue/ONB-1/comment/555", {}),  # remembered for the cycle
    ]
    assert outcomes_of(done) == [("field:kr progress", "42.5%", None)]
    refused = [entry for entry in logs if entry["event"] == "jira.notify_users_refused"]
    assert len(refused) == 1 and refused[0]["status"] == 403


@responses.activate
def test_a_400_about_notifications_is_a_refusal_too() -> None:
    serve_write_connect(responses.mock)
    responses.put(
        f"{API}/issue/ONB-1/comment/555",
        status=400,
        json={"errorMessages": ["notifyUsers: not allowed for this user"], "errors": {}},
        match=[matchers.query_param_matcher({"notifyUsers": "false"})],
    )
    responses.put(
        f"{API}/issue/ONB-1/comment/555",
        json={"id": "555"},
        match=[matchers.query_param_matcher({})],
    )
    source, _ = connect()

    outcome = source.apply(write(known="555"))

    assert outcome.action == "edited"


@responses.activate
def test_a_missing_field_or_option_names_it_and_the_other_fields_are_still_written() -> None:
    serve_write_connect(responses.mock)
    responses.get(f"{API}/issue/ONB-1/editmeta", json=EDITMETA)
    responses.put(f"{API}/issue/ONB-1", status=204)
    source, _ = connect()
    responses.calls.reset()
    off = replace(HEALTH, value="Off track")
    nowhere = set_field("Confidence", "outcome", 40.0)
    wrong_kind = set_field("KR Progress", "health", "At risk")

    done = list(source.apply_operations([off, nowhere, wrong_kind, KRS]))

    assert shapes()[1:] == [
        (
            "PUT",
            "/rest/api/2/issue/ONB-1",
            {"notifyUsers": ["false"]},
            {"fields": {KRS_ID: KRS.value}},
        )
    ]
    assert outcomes_of(done) == [
        (
            "field:OKR Health",
            "",
            "field 'OKR Health' has no option 'Off track' (it has: On track, AT RISK)",
        ),
        (
            "field:Confidence",
            "",
            "no field named 'Confidence' on this Jira (writeback.jira.fields)",
        ),
        (
            "field:KR Progress",
            "",
            "field 'KR Progress' is a number field, which cannot hold health (health: select "
            "or text; outcome, delivery: number or text; key_results: text)",
        ),
        ("field:Key Results", "ONB-1, ONB-2", None),
    ]


@responses.activate
def test_fields_jira_refuses_are_errors_and_the_others_are_sent_again_once() -> None:
    serve_write_connect(responses.mock)
    responses.get(f"{API}/issue/ONB-1/editmeta", json=EDITMETA)
    responses.put(
        f"{API}/issue/ONB-1",
        status=400,
        json={"errorMessages": [], "errors": {KRS_ID: "Field 'customfield_10052' cannot be set."}},
    )
    responses.put(f"{API}/issue/ONB-1", status=204)
    source, _ = connect()
    responses.calls.reset()

    done = list(source.apply_operations([HEALTH, KRS]))

    puts = [body for method, _, _, body in shapes() if method == "PUT"]
    assert puts == [
        {"fields": {HEALTH_ID: {"id": "10501"}, KRS_ID: "ONB-1, ONB-2"}},
        {"fields": {HEALTH_ID: {"id": "10501"}}},
    ]
    assert outcomes_of(done) == [
        (
            "field:Key Results",
            "",
            "field 'Key Results' (customfield_10052) on ONB-1: Jira refused the value: "
            "Field 'customfield_10052' cannot be set.",
        ),
        ("field:OKR Health", "AT RISK", None),
    ]


# ------------------------------------------------------- pull: fewest pages, no pause


# Whatever a search with `*all` could answer: more than a pull reads.
EVERYTHING: dict[str, Any] = {
    "description": "Long text",
    "assignee": {"accountId": "5b10"},
    "comment": {"comments": [], "total": 0},
    "subtasks": [{"key": "ONB-9"}],
    "resolution": {"name": "Done"},
    "created": "2026-11-01T09:30:00.000+0000",
    "customfield_10099": "other",
}


def fields_read(source: JiraSource, *records: dict[str, Any]) -> set[str]:
    """The issue fields `work_item` reads from these records."""
    seen: set[str] = set()
    for record in records:
        source.work_item(Reads(record, seen))
    return {path.split(".")[1] for path in seen if path.startswith("fields.")}


@responses.activate
def test_cloud_pull_asks_for_exactly_the_fields_a_work_item_reads() -> None:
    serve_connect(responses.mock)
    source, _ = connect()
    full: dict[str, Any] = issue("ONB-2", parent={"key": "ONB-1"}, **EVERYTHING)

    assert fields_read(source, full) == set(source.fields())
    assert sorted(source.fields()) == sorted(
        ["summary", "status", "issuetype", "labels", "parent", "updated", "customfield_10026"]
    )
    # Only those fields given, the item is the same: nothing else is needed.
    trimmed = {**full, "fields": {k: full["fields"][k] for k in source.fields()}}
    assert source.work_item(trimmed) == source.work_item(full)


@responses.activate
def test_server_pull_asks_for_exactly_the_fields_a_work_item_reads() -> None:
    serve_connect(responses.mock, deployment="Server")
    source = JiraSource(config(auth={"token_env": "T"}), token=TOKEN, sleep=lambda s: None)
    sub_task: dict[str, Any] = issue("ONB-3", parent={"key": "ONB-2"}, **EVERYTHING)
    story: dict[str, Any] = issue("ONB-2", customfield_10014="ONB-1", **EVERYTHING)  # the Epic Link

    assert fields_read(source, sub_task, story) == set(source.fields())
    assert "customfield_10014" in source.fields()
    for record in (sub_task, story):
        trimmed = {**record, "fields": {k: record["fields"].get(k) for k in source.fields()}}
        assert source.work_item(trimmed) == source.work_item(record)


@responses.activate
def test_without_a_points_field_points_are_neither_asked_for_nor_read() -> None:
    serve_connect(responses.mock)
    source, _ = connect(story_points_field=None)

    assert "customfield_10026" not in source.fields()
    assert fields_read(source, issue("ONB-1", **EVERYTHING)) == set(source.fields())


@pytest.mark.parametrize(
    ("deployment", "path", "size"),
    [("Cloud", "search/jql", "100"), ("Server", "search", "1000")],
)
@responses.activate
def test_pages_are_the_largest_the_api_gives_and_read_without_a_pause(
    deployment: str, path: str, size: str
) -> None:
    """Cloud's search/jql gives at most 100 issues a page with fields (5,000 with ids
    alone), Server/DC's search 1,000 by default: a pull asks for that many, and reads its
    pages one after the other with no sleep between them."""
    serve_connect(responses.mock, deployment=deployment)
    keys = [f"ONB-{n}" for n in range(1, 6)]
    if deployment == "Cloud":
        for at, token in ((0, "t2"), (2, "t3"), (4, None)):
            body: dict[str, object] = {"issues": [issue(k) for k in keys[at : at + 2]]}
            body.update({"nextPageToken": token} if token else {"isLast": True})
            responses.get(f"{API}/{path}", json=body)
    else:  # a server whose admin lowered the most a page: it answers 2, the pull goes on
        for at in (0, 2, 4):
            page = {"startAt": at, "maxResults": 2, "total": 5}
            responses.get(
                f"{API}/{path}", json={**page, "issues": [issue(k) for k in keys[at : at + 2]]}
            )
    slept: list[float] = []
    source = JiraSource(config(), token=TOKEN, email="bot@acme.example", sleep=slept.append)

    result = source.pull(None, started_at=STARTED)

    searches = [query(c) for c in responses.calls if f"/{path}?" in str(c.request.url)]
    assert [s["maxResults"] for s in searches] == [[size]] * 3
    assert [item.key for item in result.items] == keys and result.requests == 3
    assert slept == []  # serial, and no pause added between the pages


@responses.activate
def test_a_page_size_set_in_the_config_is_sent_as_it_is() -> None:
    serve_connect(responses.mock, deployment="Server")
    responses.get(f"{API}/search", json={"startAt": 0, "total": 1, "issues": [issue("ONB-1")]})
    source = JiraSource(config(page_size=250), token=TOKEN, email="e", sleep=lambda s: None)

    source.pull(None, started_at=STARTED)

    assert query(responses.calls[-1])["maxResults"] == ["250"]
    with pytest.raises(ValueError, match="less than or equal to 1000"):
        config(page_size=1001)


# ------------------------------------------------------------------ KR issues


def kr_issue(
    known: str = "", description: str = "Work linked to ONB-1", kr: str = "ONB-1"
) -> SetKRIssue:
    return SetKRIssue(
        f"kr:{kr}", "jira", known, kr, "OKR", "Key Result", f"{kr}: Completion", description,
        "hash-issue",
    )  # fmt: skip


KR_SEARCH = 'project = "OKR" AND issuetype = "Key Result" ORDER BY key ASC'


def kr_found(key: str, created: str, kr: object = "ONB-1", **extra: object) -> dict[str, object]:
    """A KR issue as the search lists it: `created`, and the `okrsync.kr` property asked
    for (`kr=None`: an issue without it, a person's own)."""
    found: dict[str, object] = {
        "id": str(10000 + int(key.split("-")[1])),
        "key": key,
        "fields": {"created": created},
        "properties": {} if kr is None else {"okrsync.kr": {"kr": kr}},
    }
    found.update(extra)
    return found


def kr_links(links: tuple[str, ...], previous: tuple[str, ...] = (), known: str = "") -> SetKRLinks:
    return SetKRLinks("kr:ONB-1", "jira", known, "ONB-1", "Relates", links, "h-links", previous)


@responses.activate
def test_a_kr_issue_is_searched_by_its_property_then_created_with_it_then_linked() -> None:
    serve_write_connect(responses.mock)
    others = [  # a person's issue without the property, and another KR's
        kr_found("OKR-2", "2026-11-01T10:00:00.000+0000", kr=None),
        kr_found("OKR-3", "2026-11-01T11:00:00.000+0000", kr="ONB-9"),
    ]
    responses.get(f"{API}/search/jql", json={"issues": others, "isLast": True})
    document = {"version": 1, "type": "doc", "content": [{"type": "paragraph", "content": []}]}
    responses.post(
        f"{URL}/rest/api/3/issue",
        status=201,
        json={"id": "10100", "key": "OKR-7", "self": f"{URL}/rest/api/3/issue/10100"},
    )
    responses.post(f"{API}/issueLink", status=201)
    source, _ = connect()
    responses.calls.reset()
    body = "Work linked to ONB-1" + ADF_SEPARATOR + json.dumps(document)

    done = list(source.apply_operations([kr_issue(description=body), kr_links(("ONB-12",))]))

    search, create, link = shapes()
    # Not `issue.property[okrsync.kr].kr = ...`: Jira searches a property only when an
    # app declared it for indexing. The KR project's issues of the type, with the property.
    assert search[:2] == ("GET", "/rest/api/2/search/jql")
    assert search[2]["jql"] == [KR_SEARCH]
    assert search[2]["fields"] == ["created"]
    assert search[2]["properties"] == ["okrsync.kr"]
    assert create == (
        "POST",
        "/rest/api/3/issue",  # ADF description through v3 on Cloud
        {},
        {
            "fields": {
                "project": {"key": "OKR"},
                "issuetype": {"name": "Key Result"},
                "summary": "ONB-1: Completion",
                "description": document,
            },
            "properties": [{"key": "okrsync.kr", "value": {"kr": "ONB-1"}}],
        },
    )
    # A new issue has no links: none are read before linking it.
    assert link == (
        "POST",
        "/rest/api/2/issueLink",
        {},
        {
            "type": {"name": "Relates"},
            "inwardIssue": {"key": "OKR-7"},
            "outwardIssue": {"key": "ONB-12"},
        },
    )
    assert outcomes_of(done) == [("issue", "OKR-7", None), ("links", "ONB-12", None)]


@responses.activate
def test_a_known_kr_issue_is_edited_quietly_and_only_links_okrsync_made_are_removed() -> None:
    serve_write_connect(responses.mock, deployment="Server")
    responses.put(f"{API}/issue/OKR-7", status=204)
    links = [
        {"id": "501", "type": {"name": "Relates"}, "outwardIssue": {"key": "ONB-12"}},
        {"id": "502", "type": {"name": "Relates"}, "outwardIssue": {"key": "ONB-13"}},
        {"id": "503", "type": {"name": "Blocks"}, "inwardIssue": {"key": "ONB-14"}},
        {"id": "504", "type": {"name": "Relates"}, "inwardIssue": {"key": "ONB-15"}},
    ]
    responses.get(f"{API}/issue/OKR-7", json={"id": "1", "key": "OKR-7", "fields": {
        "issuelinks": links}})  # fmt: skip
    responses.post(f"{API}/issueLink", status=201)
    responses.delete(f"{API}/issueLink/502", status=204)
    source, _ = connect()
    responses.calls.reset()
    operations: list[SetKRIssue | SetKRLinks] = [
        kr_issue("OKR-7", description="plain wiki"),
        kr_links(("ONB-12", "ONB-16"), previous=("ONB-12", "ONB-13", "ONB-14"), known="OKR-7"),
    ]

    done = list(source.apply_operations(operations))

    assert shapes() == [
        (
            "PUT",
            "/rest/api/2/issue/OKR-7",
            {},
            {"fields": {"summary": "ONB-1: Completion", "description": "plain wiki"}},
        ),
        ("GET", "/rest/api/2/issue/OKR-7", {"fields": ["issuelinks"]}, None),
        (
            "POST",
            "/rest/api/2/issueLink",
            {},
            {
                "type": {"name": "Relates"},
                "inwardIssue": {"key": "OKR-7"},
                "outwardIssue": {"key": "ONB-16"},
            },
        ),
        # ONB-13 was okrsync's and is no longer wanted; ONB-14's link is another type
        # and ONB-15's a person's: both stay.
        ("DELETE", "/rest/api/2/issueLink/502", {}, None),
    ]
    assert outcomes_of(done) == [("issue", "OKR-7", None), ("links", "ONB-12,ONB-16", None)]


@responses.activate
def test_two_kr_issues_found_keep_the_oldest_and_log_the_other() -> None:
    serve_write_connect(responses.mock)
    found = [  # one KR's property on two issues; ties on `created` go by id
        kr_found("OKR-9", "2026-11-02T10:00:00.000+0000"),
        kr_found("OKR-3", "2026-11-01T10:00:00.000+0000"),
        kr_found("OKR-4", "2026-11-01T10:00:00.000+0000", id="10300"),
    ]
    responses.get(f"{API}/search/jql", json={"issues": found, "isLast": True})
    responses.put(f"{API}/issue/OKR-3", status=204)
    source, _ = connect()

    with capture_logs() as logs:
        done = list(source.apply_operations([kr_issue()]))

    assert outcomes_of(done) == [("issue", "OKR-3", None)]
    (duplicate,) = [entry for entry in logs if entry["event"] == "jira.kr_issue_duplicate"]
    assert duplicate["kept"] == "OKR-3" and duplicate["duplicates"] == ["OKR-4", "OKR-9"]
    assert not any(c.request.method in ("POST", "DELETE") for c in responses.calls)


def test_kr_issues_jql_quotes_the_project_and_issue_type() -> None:
    assert kr_issues_jql("OKR", "Key Result") == KR_SEARCH
    assert kr_issues_jql("OKR", 'A"B\\C') == (
        'project = "OKR" AND issuetype = "A\\"B\\\\C" ORDER BY key ASC'
    )


@pytest.mark.parametrize(
    ("deployment", "path"), [("Cloud", "/rest/api/2/search/jql"), ("Server", "/rest/api/2/search")]
)
@responses.activate
def test_one_search_finds_every_kr_issue_of_a_cycle_and_creates_join_it(
    deployment: str, path: str
) -> None:
    """However many KRs lack a stored key, the connector searches once per cycle: the
    found map (KR id -> keys) answers every KR, and an issue created meanwhile joins it."""
    serve_write_connect(responses.mock, deployment=deployment)
    found = [
        kr_found("OKR-5", "2026-11-01T10:00:00.000+0000", kr="ONB-1"),
        kr_found("OKR-6", "2026-11-01T11:00:00.000+0000", kr="ONB-2"),
        kr_found("OKR-8", "2026-11-01T12:00:00.000+0000", kr={"not": "a KR"}),
    ]
    page = {"issues": found, "isLast": True, "startAt": 0, "maxResults": 1000, "total": 3}
    responses.get(f"{URL}{path}", json=page)
    for key in ("OKR-5", "OKR-6", "OKR-7"):
        responses.put(f"{API}/issue/{key}", status=204)
    responses.post(f"{API}/issue", status=201, json={"id": "10007", "key": "OKR-7"})
    source, _ = connect()
    responses.calls.reset()

    done = list(source.apply_operations([kr_issue(kr="ONB-1")]))
    done += source.apply_operations([kr_issue(kr="ONB-2")])
    done += source.apply_operations([kr_issue(kr="ONB-3")])  # none: created
    done += source.apply_operations([kr_issue(kr="ONB-3")])  # the key created, no search

    assert outcomes_of(done) == [
        ("issue", "OKR-5", None),
        ("issue", "OKR-6", None),
        ("issue", "OKR-7", None),
        ("issue", "OKR-7", None),
    ]
    (search,) = [shape for shape in shapes() if shape[1] == path]
    assert search[2]["jql"] == [KR_SEARCH]
    assert search[2]["properties"] == ["okrsync.kr"]
    assert search[2]["fields"] == ["created"]
    assert [(m, p) for m, p, *_ in shapes() if p != path] == [
        ("PUT", "/rest/api/2/issue/OKR-5"),
        ("PUT", "/rest/api/2/issue/OKR-6"),
        ("POST", "/rest/api/2/issue"),
        ("PUT", "/rest/api/2/issue/OKR-7"),
    ]


@responses.activate
def test_a_failed_kr_issue_create_searches_again_before_creating() -> None:
    """A create whose answer was lost may have happened: its retry searches again."""
    serve_write_connect(responses.mock)
    responses.get(f"{API}/search/jql", json={"issues": [], "isLast": True})
    created = kr_found("OKR-7", "2026-11-24T10:00:00.000+0000")
    responses.get(f"{API}/search/jql", json={"issues": [created], "isLast": True})
    responses.post(f"{API}/issue", status=503, json={})
    responses.put(f"{API}/issue/OKR-7", status=204)
    source, _ = connect()
    responses.calls.reset()

    done = list(source.apply_operations([kr_issue(description="plain wiki")]))

    assert outcomes_of(done) == [("issue", "OKR-7", None)]
    assert [(m, p) for m, p, *_ in shapes()] == [
        ("GET", "/rest/api/2/search/jql"),
        ("POST", "/rest/api/2/issue"),
        ("GET", "/rest/api/2/search/jql"),  # the retry: found this time, not created again
        ("PUT", "/rest/api/2/issue/OKR-7"),
    ]
