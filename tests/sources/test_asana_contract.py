"""Exact request shapes of the Asana connector, pinned with `responses`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from factories import Reads
from responses import matchers
from structlog.testing import capture_logs

from okrsync.domain import Bucket, WorkItem
from okrsync.sources import AuthError, FatalError, PlannedWrite, RetriableError, SetField
from okrsync.sources.asana import (
    MARKER_URL,
    AsanaSource,
    AsanaSourceConfig,
    OffsetExpired,
    OffsetPaginator,
    Page,
)

API = "https://app.asana.com/api/1.0"
TASKS = f"{API}/tasks"
TOKEN = "2/1204000000000000/1208000000000000:s3cr3tasanatoken"
STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DATE = "Tue, 24 Nov 2026 09:58:00 GMT"
PROJECT = "1204000000000001"
# `parent`, not `parent.gid`: the compact parent carries its gid, and only listed fields go.
FIELDS = "completed,modified_at,name,num_subtasks,parent,permalink_url,resource_subtype,tags.name"
FIELDS_WITH_POINTS = (
    "completed,custom_fields.name,custom_fields.number_value,modified_at,name,num_subtasks,"
    "parent,permalink_url,resource_subtype,tags.name"
)
EXPIRED = {"errors": [{"message": "offset: Your pagination token has expired."}]}


def task(gid: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "gid": gid,
        "name": f"Task {gid}",
        "completed": False,
        "modified_at": "2026-11-20T09:30:00.000Z",
        "tags": [{"gid": "77", "name": "okr:ONB-1"}],
        "parent": None,
        "num_subtasks": 0,
        "permalink_url": f"https://app.asana.com/0/{PROJECT}/{gid}",
        "resource_subtype": "default_task",
    }
    body.update(extra)
    return body


def page(*records: dict[str, Any], offset: str | None = None) -> dict[str, Any]:
    next_page = None
    if offset is not None:
        next_page = {"offset": offset, "path": f"/tasks?offset={offset}", "uri": "..."}
    return {"data": list(records), "next_page": next_page}


def config(**overrides: Any) -> AsanaSourceConfig:
    values: dict[str, Any] = {"projects": [PROJECT]}
    values.update(overrides)
    return AsanaSourceConfig.model_validate(values)


def connect(**overrides: Any) -> tuple[AsanaSource, list[float]]:
    slept: list[float] = []
    return AsanaSource(config(**overrides), TOKEN, sleep=slept.append), slept


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def calls() -> list[tuple[str, str]]:
    return [(str(c.request.method), urlsplit(str(c.request.url)).path) for c in responses.calls]


def sent(index: int) -> Any:
    body = responses.calls[index].request.body
    assert body is not None
    return json.loads(body)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --------------------------------------------------------------------------- pull


@responses.activate
def test_full_pull_asks_for_exactly_the_fields_used_and_follows_the_offset() -> None:
    first = {"project": PROJECT, "opt_fields": FIELDS, "limit": "100"}
    responses.get(
        TASKS,
        json=page(task("1"), task("2"), offset="eyJvZmZzZXQiOjJ9"),
        headers={"Date": DATE},
        match=[matchers.query_param_matcher(first)],
    )
    responses.get(
        TASKS,
        json=page(task("3")),
        match=[matchers.query_param_matcher({**first, "offset": "eyJvZmZzZXQiOjJ9"})],
    )
    source, _ = connect()

    result = source.pull(None, started_at=STARTED)

    assert calls() == [("GET", "/api/1.0/tasks")] * 2  # two pages, nothing per task
    assert "modified_since" not in query(responses.calls[0])
    assert [item.key for item in result.items] == ["1", "2", "3"]
    assert result.full and result.requests == 2
    headers = responses.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Accept"] == "application/json"
    assert source.requests.by_status == {("GET", 200): 2}


@responses.activate
def test_incremental_pull_sends_the_bookmark_minus_overlap_in_iso_utc() -> None:
    responses.get(TASKS, json=page())
    source, _ = connect(overlap="2m")
    bookmark = ms(datetime(2026, 11, 24, 9, 0, 30, 250_000, tzinfo=UTC))

    result = source.pull(bookmark, started_at=STARTED)

    assert query(responses.calls[0]) == {
        "project": [PROJECT],
        "opt_fields": [FIELDS],
        "limit": ["100"],
        "modified_since": ["2026-11-24T08:58:30.250Z"],
    }
    assert result.bookmark_ms == bookmark  # nothing seen and no Date: the bookmark stays
    assert not result.full


@responses.activate
def test_each_project_is_walked_and_a_shared_task_counts_once() -> None:
    responses.get(
        TASKS,
        json=page(task("1"), task("2")),
        match=[matchers.query_param_matcher({"project": "11"}, strict_match=False)],
    )
    responses.get(
        TASKS,
        json=page(task("2"), task("3")),
        match=[matchers.query_param_matcher({"project": "22"}, strict_match=False)],
    )
    source, _ = connect(projects=["11", "22"])

    items = source.pull(None, started_at=STARTED).items

    assert sorted(item.key for item in items) == ["1", "2", "3"]
    assert [query(c)["project"] for c in responses.calls] == [["11"], ["22"]]


@responses.activate
def test_the_bookmark_is_the_date_of_the_first_answer() -> None:
    responses.get(TASKS, json=page(task("1"), offset="o2"), headers={"Date": DATE})
    late = "Tue, 24 Nov 2026 09:59:30 GMT"
    responses.get(TASKS, json=page(task("2")), headers={"Date": late})
    source, _ = connect()

    result = source.pull(ms(datetime(2026, 11, 20, tzinfo=UTC)), started_at=STARTED)

    assert result.bookmark_ms == ms(datetime(2026, 11, 24, 9, 58, tzinfo=UTC))


@responses.activate
def test_without_a_date_the_bookmark_is_the_newest_update_capped_by_our_start() -> None:
    newest = task("2", modified_at="2026-11-24T09:59:00.000Z")
    responses.get(TASKS, json=page(task("1"), newest))
    source, _ = connect()
    assert source.pull(None, started_at=STARTED).bookmark_ms == ms(
        datetime(2026, 11, 24, 9, 59, tzinfo=UTC)
    )
    future = task("3", modified_at="2026-11-24T10:05:00.000Z")  # changed while we paged
    responses.replace(responses.GET, TASKS, json=page(future))
    assert source.pull(None, started_at=STARTED).bookmark_ms == ms(STARTED)


@responses.activate
def test_an_expired_offset_restarts_the_walk_once_and_yields_each_task_once() -> None:
    base = {"project": PROJECT, "opt_fields": FIELDS, "limit": "100"}
    first_page = [matchers.query_param_matcher(base)]
    responses.get(TASKS, json=page(task("1"), task("2"), offset="old"), match=first_page)
    responses.get(
        TASKS,
        status=400,
        json=EXPIRED,
        match=[matchers.query_param_matcher({**base, "offset": "old"})],
    )
    # The restarted walk: the first page again (a task moved up meanwhile), then the rest.
    responses.get(TASKS, json=page(task("2"), task("1"), offset="new"), match=first_page)
    responses.get(
        TASKS,
        json=page(task("3")),
        match=[matchers.query_param_matcher({**base, "offset": "new"})],
    )
    source, slept = connect()

    with capture_logs() as logs:
        result = source.pull(None, started_at=STARTED)

    assert [item.key for item in result.items] == ["1", "2", "3"]
    offsets = [query(c).get("offset") for c in responses.calls]
    assert offsets == [None, ["old"], None, ["new"]]
    assert slept == []  # not a retry: no wait
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["asana.offset_expired"]
    assert source.requests.by_status == {("GET", 200): 3, ("GET", 400): 1}


def test_the_paginator_skips_records_it_already_yielded_before_the_restart() -> None:
    answers: list[Page | Exception] = [
        Page([{"gid": "1"}, {"gid": "2"}], "old", None),
        OffsetExpired("asana", "offset expired", 400),
        Page([{"gid": "2"}, {"gid": "1"}], "new", None),
        Page([{"gid": "3"}], None, None),
    ]
    asked: list[dict[str, str]] = []

    def fetch(path: str, params: Any) -> Page:
        asked.append(dict(params))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    records = list(OffsetPaginator(fetch).records("/tasks", {"limit": "100"}))

    assert [r["gid"] for r in records] == ["1", "2", "3"]
    assert [a.get("offset") for a in asked] == [None, "old", None, "new"]


@responses.activate
def test_an_offset_that_expires_again_is_fatal() -> None:
    responses.get(TASKS, json=page(task("1"), offset="old"))
    responses.get(TASKS, status=400, json=EXPIRED)
    responses.get(TASKS, json=page(task("1"), offset="new"))
    responses.get(TASKS, status=400, json=EXPIRED)
    source, _ = connect()

    with pytest.raises(FatalError, match="pagination token has expired"):
        source.pull(None, started_at=STARTED)
    assert len(responses.calls) == 4


@responses.activate
def test_a_bad_request_without_an_offset_is_fatal_not_restarted() -> None:
    responses.get(TASKS, status=400, json={"errors": [{"message": "project: Not a valid gid"}]})
    source, _ = connect()
    with pytest.raises(FatalError, match="HTTP 400: project: Not a valid gid"):
        source.pull(None, started_at=STARTED)
    assert len(responses.calls) == 1


@responses.activate
def test_rate_limit_waits_as_told_by_retry_after_then_backs_off_on_5xx() -> None:
    responses.get(TASKS, status=429, headers={"Retry-After": "7"}, json={"errors": []})
    responses.get(TASKS, status=503, json={})
    responses.get(TASKS, body=requests.Timeout("read timed out"))
    responses.get(TASKS, json=page(task("1")))
    source, slept = connect()

    with capture_logs() as logs:
        result = source.pull(None, started_at=STARTED)

    assert [item.key for item in result.items] == ["1"]
    assert slept == [7.0, 1.0, 2.0]  # Retry-After honoured; then 0.5 s doubling
    retries = [e for e in logs if e["event"] == "source.retry"]
    assert [(e["source"], e["status"]) for e in retries] == [
        ("asana", 429),
        ("asana", 503),
        ("asana", None),
    ]
    # Only answers are counted: the timeout had none.
    assert source.requests.by_status == {("GET", 429): 1, ("GET", 503): 1, ("GET", 200): 1}


@responses.activate
def test_a_retry_reads_only_the_page_that_failed() -> None:
    responses.get(TASKS, json=page(task("1"), offset="o2"))
    responses.get(TASKS, status=502, json={})
    responses.get(TASKS, json=page(task("2")))
    source, slept = connect()

    result = source.pull(None, started_at=STARTED)

    assert [query(c).get("offset") for c in responses.calls] == [None, ["o2"], ["o2"]]
    assert [item.key for item in result.items] == ["1", "2"] and slept == [0.5]


@responses.activate
def test_gives_up_after_the_attempt_limit_with_a_retriable_error() -> None:
    responses.get(TASKS, status=503, json={})
    source, slept = connect()
    with pytest.raises(RetriableError):
        source.pull(None, started_at=STARTED)
    assert len(slept) == 4 and len(responses.calls) == 5


@pytest.mark.parametrize("status", [401, 403])
@responses.activate
def test_bad_token_is_fatal_and_the_token_never_appears_in_the_error(status: int) -> None:
    responses.get(
        TASKS, status=status, json={"errors": [{"message": "Not Authorized", "help": "..."}]}
    )
    source, _ = connect()
    with pytest.raises(AuthError) as raised:
        source.pull(None, started_at=STARTED)
    text = str(raised.value)
    assert str(status) in text and "check the token" in text
    assert TOKEN not in text and TOKEN not in repr(raised.value.args)
    assert raised.value.__cause__ is None  # no library exception (with headers) chained
    assert len(responses.calls) == 1  # not retried


@responses.activate
def test_task_becomes_a_work_item_with_tags_points_parent_and_subtask_count() -> None:
    raw = task(
        "42",
        name="Ship the wizard",
        completed=True,
        modified_at="2026-11-20T09:30:00.123Z",
        tags=[{"gid": "1", "name": "okr:ONB-1"}, {"gid": "2", "name": "ux"}],
        parent={"gid": "40"},
        num_subtasks=3,
        resource_subtype="milestone",
        custom_fields=[
            {"gid": "9", "name": "Estimate", "number_value": 99},
            {"gid": "8", "name": "story points", "number_value": 5},
        ],
    )
    responses.get(TASKS, json=page(raw, task("43", custom_fields=[])))
    source, _ = connect(points_field="Story Points")

    item, plain = source.pull(None, started_at=STARTED).items

    assert query(responses.calls[0])["opt_fields"] == [FIELDS_WITH_POINTS]
    assert item == WorkItem(
        source="asana",
        key="42",
        title="Ship the wizard",
        type="milestone",
        status="completed",
        bucket=Bucket.DONE,
        points=5.0,
        labels=("okr:ONB-1", "ux"),
        parent="40",
        updated=datetime(2026, 11, 20, 9, 30, 0, 123_000, tzinfo=UTC),
        url=f"https://app.asana.com/0/{PROJECT}/42",
        remote_id="42",
        child_count=3,
    )
    assert (plain.type, plain.status, plain.bucket) == ("task", "incomplete", Bucket.TODO)
    assert plain.points is None and plain.parent is None and plain.child_count == 0


# --------------------------------------------------------------------------- children


def parent(gid: str, child_count: int | None) -> WorkItem:
    return WorkItem(
        source="asana",
        key=gid,
        title=f"Task {gid}",
        type="task",
        status="incomplete",
        bucket=Bucket.TODO,
        points=None,
        labels=("okr:ONB-1",),
        parent=None,
        updated=STARTED,
        url="",
        remote_id=gid,
        child_count=child_count,
    )


@responses.activate
def test_children_reads_subtasks_only_of_parents_that_have_some() -> None:
    subtasks = f"{TASKS}/10/subtasks"
    expected = {"opt_fields": FIELDS, "limit": "100"}
    responses.get(
        subtasks,
        json=page(task("11", parent={"gid": "10"}), offset="p2"),
        match=[matchers.query_param_matcher(expected)],
    )
    responses.get(
        subtasks,
        json=page(task("12", completed=True, num_subtasks=2)),
        match=[matchers.query_param_matcher({**expected, "offset": "p2"})],
    )
    source, _ = connect()
    stored = {"10": [parent("11", 0)]}  # stored already: read again, it may have changed

    found = source.children([parent("10", 2), parent("20", 0), parent("30", None)], stored)

    assert calls() == [("GET", "/api/1.0/tasks/10/subtasks")] * 2  # one per parent and page
    assert [(item.key, item.parent, item.bucket) for item in found] == [
        ("11", "10", Bucket.TODO),
        ("12", "10", Bucket.DONE),
    ]
    assert found[1].child_count == 2  # the pipeline asks again for the grandchildren


@responses.activate
def test_no_parent_with_subtasks_means_no_request() -> None:
    source, _ = connect()
    assert source.children([parent("20", 0)], {}) == []
    assert len(responses.calls) == 0


# --------------------------------------------------------------------------- write-back

BODY = "<body><strong>OKR status</strong>\n<hr/></body>"  # as rendered
SENT = f'<body><strong>OKR status</strong>\n<hr/>\n<a href="{MARKER_URL}">okrsync</a></body>'
ME = "1204000000000002"  # the API user, as GET /users/me names it


def write(known: str | None = None, body: str = BODY) -> PlannedWrite:
    return PlannedWrite(
        target="asana:42",
        source="asana",
        item_key="42",
        body=body,
        content_hash="abc",
        known_remote_id=known,
    )


def story(gid: str, html_text: str, kind: str = "comment", by: str = ME) -> dict[str, Any]:
    subtype = "comment_added" if kind == "comment" else "assigned"
    return {
        "gid": gid,
        "created_by": {"gid": by, "resource_type": "user"},
        "html_text": html_text,
        "type": kind,
        "resource_subtype": subtype,
    }


def me() -> None:
    """The API user's answer to GET /users/me."""
    responses.get(
        f"{API}/users/me",
        json={"data": {"gid": ME, "resource_type": "user", "name": "okrsync"}},
        match=[matchers.query_param_matcher({"opt_fields": "name"})],
    )


# Asana keeps the link but adds its own attributes to it.
STORED = (
    '<body><strong>OKR status</strong> old <a href="https://okrsync.invalid/managed" '
    'data-asana-accessible="true" data-asana-dynamic="false">okrsync</a></body>'
)


@responses.activate
def test_known_story_is_edited_in_place_with_one_put() -> None:
    responses.put(f"{API}/stories/555", json={"data": {"gid": "555"}})
    source, _ = connect()

    outcome = source.apply(write(known="555"))

    assert calls() == [("PUT", "/api/1.0/stories/555")]
    assert sent(0) == {"data": {"html_text": SENT}}
    assert (outcome.remote_id, outcome.action, outcome.content_hash) == ("555", "edited", "abc")
    assert source.requests.writes == 1


@responses.activate
def test_deleted_story_is_found_again_by_its_marker_link_and_edited() -> None:
    responses.put(f"{API}/stories/555", status=404, json={"errors": [{"message": "Not found"}]})
    responses.get(
        f"{TASKS}/42/stories",
        json=page(story("700", "<body>a human comment</body>"), offset="s2"),
        match=[
            matchers.query_param_matcher(
                {"opt_fields": "created_by,html_text,resource_subtype,type", "limit": "100"}
            )
        ],
    )
    responses.get(
        f"{TASKS}/42/stories",
        json=page(story("701", STORED, kind="system"), story("777", STORED)),
        match=[matchers.query_param_matcher({"offset": "s2"}, strict_match=False)],
    )
    responses.put(f"{API}/stories/777", json={"data": {"gid": "777"}})
    me()
    source, _ = connect()

    outcome = source.apply(write(known="555"))

    assert calls() == [
        ("PUT", "/api/1.0/stories/555"),
        ("GET", "/api/1.0/tasks/42/stories"),
        ("GET", "/api/1.0/tasks/42/stories"),
        ("GET", "/api/1.0/users/me"),  # only now: a marked comment turned up
        ("PUT", "/api/1.0/stories/777"),  # the comment, not the system story quoting it
    ]
    assert (outcome.remote_id, outcome.action) == ("777", "edited")


@responses.activate
def test_without_a_managed_story_one_comment_is_posted() -> None:
    responses.get(f"{TASKS}/42/stories", json=page(story("700", "<body>hello</body>")))
    responses.post(f"{TASKS}/42/stories", status=201, json={"data": {"gid": "900"}})
    source, _ = connect()

    outcome = source.apply(write())

    assert calls() == [("GET", "/api/1.0/tasks/42/stories"), ("POST", "/api/1.0/tasks/42/stories")]
    assert sent(1) == {"data": {"html_text": SENT}}
    assert (outcome.remote_id, outcome.action) == ("900", "created")


@responses.activate
def test_a_post_that_timed_out_is_adopted_on_retry_not_posted_twice() -> None:
    stories = f"{TASKS}/42/stories"
    responses.get(stories, json=page())
    responses.post(stories, body=requests.ReadTimeout("read timed out"))  # it landed anyway
    responses.get(stories, json=page(story("900", STORED)))
    responses.put(f"{API}/stories/900", json={"data": {"gid": "900"}})
    me()
    source, slept = connect()

    with capture_logs() as logs:
        outcome = source.apply(write())

    assert [method for method, _ in calls()] == ["GET", "POST", "GET", "GET", "PUT"]
    assert (outcome.remote_id, outcome.action) == ("900", "edited")
    assert slept == [0.5]
    assert [e["event"] for e in logs] == ["source.retry"]


@responses.activate
def test_a_body_without_the_marker_gets_it_before_the_closing_tag() -> None:
    responses.get(f"{TASKS}/42/stories", json=page())
    responses.post(f"{TASKS}/42/stories", status=201, json={"data": {"gid": "900"}})
    source, _ = connect()

    source.apply(write(body="<body>status</body>"))

    marked = f'<body>status\n<a href="{MARKER_URL}">okrsync</a></body>'
    assert sent(1)["data"]["html_text"] == marked


@responses.activate
def test_a_write_refused_for_permissions_is_an_auth_error() -> None:
    responses.put(f"{API}/stories/555", status=403, json={"errors": [{"message": "Forbidden"}]})
    source, _ = connect()
    with pytest.raises(AuthError):
        source.apply(write(known="555"))
    assert len(responses.calls) == 1


class RecordingSession(requests.Session):
    closed = False

    def close(self) -> None:
        self.closed = True
        super().close()


@responses.activate
def test_a_session_passed_in_carries_the_requests_and_stays_open() -> None:
    responses.get(TASKS, json=page(task("1")))
    session = RecordingSession()
    session.headers["User-Agent"] = "okrsync-test"
    source = AsanaSource(config(), TOKEN, session=session)

    source.pull(None, started_at=STARTED)
    source.close()

    sent = responses.calls[0].request.headers
    assert sent["User-Agent"] == "okrsync-test" and sent["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in session.headers  # the token stays off a shared session
    assert not session.closed  # its owner closes it


# ---------------------------------------------------------------- custom fields (write-back)

SETTINGS = f"{API}/projects/{PROJECT}/custom_field_settings"


def setting(gid: str, name: str, subtype: str, *options: tuple[str, str]) -> dict[str, Any]:
    field: dict[str, Any] = {"gid": gid, "name": name, "resource_subtype": subtype, "type": subtype}
    if options:
        field["enum_options"] = [
            {"gid": option_gid, "name": option, "enabled": True} for option_gid, option in options
        ]
    return {"gid": f"9{gid}", "custom_field": field}


def field_op(name: str, holds: Any, value: Any, display: str, task: str = "42") -> SetField:
    return SetField(f"asana:{task}", "asana", task, name, holds, value, display, "h")


@responses.activate
def test_fields_are_resolved_once_and_written_in_one_put() -> None:
    responses.get(
        SETTINGS,
        json=page(
            setting("501", "OKR Health", "enum", ("601", "On track"), ("602", "At risk")),
            setting("502", "KR Progress", "number"),
            setting("503", "Key Results", "text"),
        ),
    )
    responses.put(f"{TASKS}/42", json={"data": {"gid": "42"}})
    responses.put(f"{TASKS}/43", json={"data": {"gid": "43"}})
    source, _ = connect()

    first = list(
        source.apply_operations(
            [
                field_op("okr health", "health", "At risk", "At risk"),
                field_op("KR Progress", "outcome", 40.5, "40.5%"),
                field_op("Key Results", "key_results", "ONB-1, ONB-2", "ONB-1, ONB-2"),
            ]
        )
    )
    second = list(
        source.apply_operations([field_op("KR Progress", "outcome", None, "no data", task="43")])
    )

    assert calls() == [
        ("GET", f"/api/1.0/projects/{PROJECT}/custom_field_settings"),
        ("PUT", "/api/1.0/tasks/42"),
        ("PUT", "/api/1.0/tasks/43"),
    ]
    assert query(responses.calls[0]) == {
        "opt_fields": [
            "custom_field.enum_options.enabled,custom_field.enum_options.name,"
            "custom_field.name,custom_field.resource_subtype,custom_field.type"
        ],
        "limit": ["100"],
    }
    assert sent(1) == {
        "data": {"custom_fields": {"501": "602", "502": 40.5, "503": "ONB-1, ONB-2"}}
    }
    assert query(responses.calls[1]) == {"opt_fields": ["modified_at"]}
    assert sent(2) == {"data": {"custom_fields": {"502": None}}}
    assert [o.remote_id for o in first + second] == ["At risk", "40.5%", "ONB-1, ONB-2", "no data"]
    assert all(o.error is None for o in first + second)


@responses.activate
def test_a_missing_field_or_option_is_named_and_the_others_are_sent() -> None:
    responses.get(
        SETTINGS,
        json=page(
            setting("501", "OKR Health", "enum", ("601", "Green")),
            setting("502", "KR Progress", "number"),
        ),
    )
    responses.put(f"{TASKS}/42", json={"data": {"gid": "42"}})
    source, _ = connect()

    done = list(
        source.apply_operations(
            [
                field_op("OKR Health", "health", "At risk", "At risk"),
                field_op("Confidence", "outcome", 10.0, "10%"),
                field_op("KR Progress", "health", "At risk", "At risk"),
                field_op("KR Progress", "outcome", 10.0, "10%"),
            ]
        )
    )

    errors = [o.error for o in done]
    assert errors[0] == "custom field 'OKR Health' has no option 'At risk' (it has: Green)"
    assert errors[1] is not None and "no custom field named 'Confidence'" in errors[1]
    assert errors[2] is not None and "is of type number, which cannot hold health" in errors[2]
    assert errors[3] is None
    assert sent(1) == {"data": {"custom_fields": {"502": 10.0}}}


@responses.activate
def test_a_refused_put_is_an_error_for_each_of_its_fields() -> None:
    responses.get(SETTINGS, json=page(setting("502", "KR Progress", "number")))
    responses.put(
        f"{TASKS}/42",
        status=400,
        json={"errors": [{"message": "custom_fields: Unknown custom field: 502"}]},
    )
    source, _ = connect()

    (outcome,) = source.apply_operations([field_op("KR Progress", "outcome", 1.0, "1%")])

    assert outcome.error is not None and "Unknown custom field: 502" in outcome.error


# ------------------------------------------------------- pull: fewest pages, no pause


# Whatever a task listing could answer with every field asked for: more than is read.
EVERYTHING: dict[str, Any] = {
    "resource_type": "task",
    "notes": "Long text",
    "assignee": {"gid": "5", "name": "Ann", "resource_type": "user"},
    "due_on": "2026-12-01",
    "completed_at": None,
    "memberships": [{"project": {"gid": PROJECT}}],
    "tags": [{"gid": "1", "name": "okr:ONB-1", "color": "light-green"}],
    "parent": {"gid": "40", "name": "Parent", "resource_type": "task"},
    "num_subtasks": 2,
    "custom_fields": [
        {"gid": "8", "name": "Story Points", "number_value": 5, "display_value": "5"},
        {"gid": "9", "name": "Stage", "enum_value": {"name": "Beta"}, "number_value": None},
    ],
}


def opt_fields_read(source: AsanaSource, record: dict[str, Any]) -> set[str]:
    """What `work_item` reads, as `opt_fields` paths: `gid` comes unasked, and a
    compact object's gid comes with the object (`parent`, not `parent.gid`)."""
    seen: set[str] = set()
    source.work_item(Reads(record, seen))
    # A path read beneath another counts once, as the deepest one.
    deepest = {path for path in seen if not any(o.startswith(f"{path}.") for o in seen)}
    compact = {path.removesuffix(".gid") for path in deepest if path.endswith(".gid")}
    return {path for path in deepest if not path.endswith("gid")} | compact


@pytest.mark.parametrize("points_field", [None, "Story Points"])
def test_opt_fields_are_exactly_what_a_work_item_reads(points_field: str | None) -> None:
    source, _ = connect(points_field=points_field)
    full = task("42", **EVERYTHING)

    assert opt_fields_read(source, full) == set(source.opt_fields.split(","))
    assert source.opt_fields == (FIELDS_WITH_POINTS if points_field else FIELDS)


def project(record: dict[str, Any], opt_fields: str) -> dict[str, Any]:
    """The record as Asana answers `opt_fields`: the gid, and the paths asked for."""
    answer: dict[str, Any] = {"gid": record["gid"]}
    for path in opt_fields.split(","):
        top, _, inner = path.partition(".")
        if top not in record:
            continue
        value = record[top]
        if inner and isinstance(value, list):
            kept = answer.setdefault(top, [{"gid": v["gid"]} for v in value])
            for mine, theirs in zip(kept, value, strict=True):
                mine[inner] = theirs.get(inner)
        elif isinstance(value, dict):
            answer[top] = {k: value[k] for k in ("gid", "name", "resource_type") if k in value}
        else:
            answer[top] = value
    return answer


def test_a_task_with_only_the_opt_fields_makes_the_same_item() -> None:
    source, _ = connect(points_field="Story Points")
    full = task("42", **EVERYTHING)

    item = source.work_item(project(full, source.opt_fields))

    assert item == source.work_item(full)
    assert (item.points, item.parent, item.child_count, item.labels) == (
        5.0,
        "40",
        2,
        ("okr:ONB-1",),
    )


@responses.activate
def test_pages_are_asanas_largest_and_read_without_a_pause() -> None:
    """Asana's `limit` is 1 to 100: the pull and the subtask listing ask for 100 and read
    their pages one after the other, with no sleep between them."""
    first = {"project": PROJECT, "opt_fields": FIELDS, "limit": "100"}
    for at, offset in ((1, "o2"), (3, "o3"), (5, None)):
        query_now = first if at == 1 else {**first, "offset": f"o{(at + 1) // 2}"}
        responses.get(
            TASKS,
            json=page(task(str(at)), task(str(at + 1), num_subtasks=1), offset=offset),
            match=[matchers.query_param_matcher(query_now)],
        )
    subtasks = {"opt_fields": FIELDS, "limit": "100"}
    for gid in ("2", "4", "6"):
        responses.get(
            f"{TASKS}/{gid}/subtasks",
            json=page(task(f"{gid}0")),
            match=[matchers.query_param_matcher(subtasks)],
        )
    source, slept = connect()

    result = source.pull(None, started_at=STARTED)
    children = source.children(result.items, {})

    assert [item.key for item in result.items] == ["1", "2", "3", "4", "5", "6"]
    assert [item.key for item in children] == ["20", "40", "60"]
    assert len(responses.calls) == 6 and result.requests == 3
    assert slept == []  # serial, and no pause added between the pages
