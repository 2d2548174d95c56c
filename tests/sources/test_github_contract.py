"""Exact request shapes of the GitHub connector, pinned with `responses` (its own session
with a token)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from okrsync.domain import Bucket
from okrsync.sources import AuthError, PlannedWrite, SetField, SetLabels
from okrsync.sources.github import MARKER, GithubSource, GithubSourceConfig

API = "https://api.github.com"
TOKEN = "ghp_s3cr3tt0ken"
STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
DATE = "Tue, 24 Nov 2026 09:58:00 GMT"


def issue(repo: str, number: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": 1000 + number,
        "number": number,
        "title": f"Issue {number}",
        "state": "open",
        "state_reason": None,
        "labels": [{"id": 1, "name": "okr:ONB-1"}],
        "updated_at": "2026-11-20T09:30:00Z",
        "html_url": f"https://github.com/{repo}/issues/{number}",
        "repository_url": f"{API}/repos/{repo}",
        "parent_issue_url": None,
        "sub_issues_summary": {"total": 0, "completed": 0, "percent_completed": 0},
    }
    body.update(extra)
    return body


def config(**overrides: Any) -> GithubSourceConfig:
    values: dict[str, Any] = {
        "repos": ["acme/web"],
        "seconds_between_requests": 0,
        "seconds_between_writes": 0,
    }
    values.update(overrides)
    return GithubSourceConfig.model_validate(values)


def connect(**overrides: Any) -> tuple[GithubSource, list[float]]:
    slept: list[float] = []
    return GithubSource(config(**overrides), TOKEN, sleep=slept.append), slept


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(call.request.url)).query)


@responses.activate
def test_full_pull_lists_every_state_by_update_in_pages_of_100_and_follows_link() -> None:
    first = f"{API}/repos/acme/web/issues"
    second = "/repositories/1/issues?state=all&sort=updated&direction=asc&per_page=100&page=2"
    link = f"https://api.github.com{second}"
    responses.get(
        first,
        json=[issue("acme/web", 1), issue("acme/web", 2, pull_request={"url": "x"})],
        headers={"Link": f'<{link}>; rel="next", <{link}>; rel="last"', "Date": DATE},
    )
    responses.get(f"{API}{second}", json=[issue("acme/web", 3)])
    source, _ = connect()

    result = source.pull(None, started_at=STARTED)

    assert len(responses.calls) == 2  # two pages, nothing per issue
    assert query(responses.calls[0]) == {
        "state": ["all"],
        "sort": ["updated"],
        "direction": ["asc"],
        "per_page": ["100"],
    }
    assert query(responses.calls[1])["page"] == ["2"]
    assert [item.key for item in result.items] == ["acme/web#1", "acme/web#3"]  # the PR is skipped
    assert responses.calls[0].request.headers["Authorization"] == f"token {TOKEN}"
    assert result.bookmark_ms == int(datetime(2026, 11, 24, 9, 58, tzinfo=UTC).timestamp() * 1000)


@responses.activate
def test_incremental_pull_sends_since_as_the_bookmark_minus_overlap() -> None:
    for repo in ("acme/web", "acme/api"):
        responses.get(f"{API}/repos/{repo}/issues", json=[], headers={"Date": DATE})
    source, _ = connect(repos=["acme/web", "acme/api"], overlap="2m")
    bookmark = int(datetime(2026, 11, 24, 9, 0, tzinfo=UTC).timestamp() * 1000)

    source.pull(bookmark, started_at=STARTED)

    assert [urlsplit(c.request.url).path for c in responses.calls] == [
        "/repos/acme/web/issues",
        "/repos/acme/api/issues",
    ]
    assert all(query(c)["since"] == ["2026-11-24T08:58:00Z"] for c in responses.calls)


@responses.activate
def test_the_stored_etag_goes_on_the_wire_and_a_304_reads_nothing() -> None:
    """Through the default transport (the connector's session, with a token)."""
    responses.get(f"{API}/repos/acme/web/issues", status=304, headers={"ETag": 'W/"e1"'})
    source, slept = connect(seconds_between_requests=0.0)
    bookmark = int(datetime(2026, 11, 24, 9, 0, tzinfo=UTC).timestamp() * 1000)
    params = "state=all&sort=updated&direction=asc&per_page=100&since=2026-11-24T08%3A58%3A00Z"
    source.use_etags({f"https://api.github.com/repos/acme/web/issues?{params}": 'W/"e1"'})

    result = source.pull(bookmark, started_at=STARTED)

    (call,) = responses.calls
    assert call.request.headers["If-None-Match"] == 'W/"e1"'
    assert result.items == [] and result.bookmark_ms == bookmark and result.etags == {}
    assert slept == []


@responses.activate
def test_issue_fields_become_a_work_item_without_extra_requests() -> None:
    raw = [
        issue(
            "acme/web",
            7,
            state="closed",
            state_reason="completed",
            labels=[{"name": "okr:ONB-1"}, {"name": "points:5"}],
            parent_issue_url=f"{API}/repos/acme/web/issues/2",
        ),
        issue("acme/web", 8, state="closed", state_reason="not_planned"),
        issue(
            "acme/web", 2, sub_issues_summary={"total": 3, "completed": 1, "percent_completed": 33}
        ),
    ]
    responses.get(f"{API}/repos/acme/web/issues", json=raw)
    source, _ = connect()

    items = {item.key: item for item in source.pull(None, started_at=STARTED).items}

    done, dropped, parent = items["acme/web#7"], items["acme/web#8"], items["acme/web#2"]
    assert (done.bucket, done.points, done.parent) == (Bucket.DONE, 5.0, "acme/web#2")
    assert done.updated == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert dropped.bucket is Bucket.EXCLUDED
    assert parent.child_count == 3 and parent.points is None
    assert len(responses.calls) == 1


@responses.activate
def test_sub_issues_are_looked_up_only_where_the_listing_cannot_have_them() -> None:
    responses.get(
        f"{API}/repos/acme/web/issues/2/sub_issues",
        json=[issue("acme/api", 9, state="closed", state_reason="completed")],
    )
    source, _ = connect()
    parent = source.work_item(issue("acme/web", 2, sub_issues_summary={"total": 2}))
    complete = source.work_item(issue("acme/web", 5, sub_issues_summary={"total": 1}))
    child = source.work_item(
        issue("acme/web", 6, parent_issue_url=f"{API}/repos/acme/web/issues/5")
    )
    listed_child = source.work_item(
        issue("acme/web", 3, parent_issue_url=f"{API}/repos/acme/web/issues/2")
    )

    found = source.children(
        [parent, complete], {"acme/web#2": [listed_child], "acme/web#5": [child]}
    )

    assert [str(c.request.url).split("?")[0] for c in responses.calls] == [
        f"{API}/repos/acme/web/issues/2/sub_issues"
    ]
    assert [(item.key, item.parent, item.bucket) for item in found] == [
        ("acme/api#9", "acme/web#2", Bucket.DONE)
    ]


@responses.activate
def test_primary_rate_limit_waits_until_the_reset_time() -> None:
    reset = int(time.time()) + 30
    responses.get(
        f"{API}/repos/acme/web/issues",
        status=403,
        json={"message": "API rate limit exceeded"},
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
    )
    responses.get(f"{API}/repos/acme/web/issues", json=[issue("acme/web", 1)])
    source, slept = connect()

    result = source.pull(None, started_at=STARTED)

    assert len(result.items) == 1
    assert len(slept) == 1 and 25 <= slept[0] <= 30


@responses.activate
def test_secondary_rate_limit_honours_retry_after() -> None:
    responses.get(
        f"{API}/repos/acme/web/issues",
        status=429,
        json={"message": "slow down"},
        headers={"Retry-After": "4"},
    )
    responses.get(f"{API}/repos/acme/web/issues", json=[])
    source, slept = connect()
    source.pull(None, started_at=STARTED)
    assert slept == [4.0]


@responses.activate
def test_bad_token_is_fatal_and_never_printed() -> None:
    responses.get(f"{API}/repos/acme/web/issues", status=401, json={"message": "Bad credentials"})
    source, slept = connect()
    with pytest.raises(AuthError) as raised:
        source.pull(None, started_at=STARTED)
    assert "401" in str(raised.value) and TOKEN not in str(raised.value)
    assert slept == [] and len(responses.calls) == 1


def write(known: str | None = None) -> PlannedWrite:
    return PlannedWrite(
        target="github:acme/web#2",
        source="github",
        item_key="acme/web#2",
        body="### OKR status",
        content_hash="h",
        known_remote_id=known,
    )


@responses.activate
def test_known_comment_is_patched_in_place_with_the_marker() -> None:
    responses.patch(f"{API}/repos/acme/web/issues/comments/55", json={"id": 55, "body": "x"})
    source, _ = connect()

    outcome = source.apply(write(known="55"))

    (call,) = responses.calls
    assert call.request.method == "PATCH"
    assert json.loads(call.request.body or b"") == {"body": f"{MARKER}\n### OKR status"}
    assert (outcome.remote_id, outcome.action) == ("55", "edited")


@responses.activate
def test_deleted_comment_is_found_by_marker_or_posted_once() -> None:
    responses.patch(
        f"{API}/repos/acme/web/issues/comments/55", status=404, json={"message": "Not Found"}
    )
    responses.get(f"{API}/repos/acme/web/issues/2/comments", json=[{"id": 9, "body": "human"}])
    responses.post(
        f"{API}/repos/acme/web/issues/2/comments", status=201, json={"id": 77, "body": "x"}
    )
    source, _ = connect()

    outcome = source.apply(write(known="55"))

    assert [c.request.method for c in responses.calls] == ["PATCH", "GET", "POST"]
    assert query(responses.calls[1])["per_page"] == ["100"]
    assert (outcome.remote_id, outcome.action) == ("77", "created")


@responses.activate
def test_a_comment_with_the_marker_is_adopted_instead_of_posting_a_second() -> None:
    responses.get(
        f"{API}/repos/acme/web/issues/2/comments",
        json=[
            {"id": 9, "body": "human", "user": {"login": "alex", "id": 7}},
            {"id": 31, "body": f"{MARKER}\nold", "user": {"login": "okrsync", "id": 1001}},
        ],
    )
    responses.get(f"{API}/user", json={"login": "okrsync", "id": 1001})
    responses.patch(f"{API}/repos/acme/web/issues/comments/31", json={"id": 31, "body": "x"})
    source, _ = connect()

    outcome = source.apply(write())

    assert [c.request.method for c in responses.calls] == ["GET", "GET", "PATCH"]
    assert (outcome.remote_id, outcome.action) == ("31", "edited")


# -- health labels (writeback.github.labels) -----------------------------------------------


def health_labels(wanted: str, present: tuple[str, ...] = ()) -> SetLabels:
    remove = tuple(label for label in present if label != wanted)
    return SetLabels("github:acme/web#2", "github", "acme/web#2", (wanted,), remove, "h", present)


class PacedClock:
    """An injected clock that moves only when the injected sleep sleeps."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@responses.activate
def test_a_health_change_removes_the_old_label_and_adds_the_new_spaced_a_second_apart() -> None:
    responses.get(
        f"{API}/repos/acme/web/labels",
        json=[{"id": 1, "name": "okr:ONB-1"}, {"id": 2, "name": "okr-health:at-risk"}],
    )
    responses.post(f"{API}/repos/acme/web/labels", status=201, json={"id": 3})
    responses.delete(f"{API}/repos/acme/web/issues/2/labels/okr-health%3Aat-risk", json=[])
    responses.post(f"{API}/repos/acme/web/issues/2/labels", json=[])
    clock = PacedClock()
    source = GithubSource(config(seconds_between_writes=1.0), TOKEN, sleep=clock.sleep, clock=clock)

    (outcome,) = source.apply_operations(
        [health_labels("okr-health:on-track", ("okr-health:at-risk",))]
    )

    calls = [(c.request.method, urlsplit(str(c.request.url)).path) for c in responses.calls]
    assert calls == [
        ("GET", "/repos/acme/web/labels"),
        ("POST", "/repos/acme/web/labels"),
        ("DELETE", "/repos/acme/web/issues/2/labels/okr-health%3Aat-risk"),
        ("POST", "/repos/acme/web/issues/2/labels"),
    ]
    assert query(responses.calls[0])["per_page"] == ["100"]
    assert json.loads(responses.calls[1].request.body or b"") == {
        "name": "okr-health:on-track",
        "color": "2da44e",
        "description": "OKR health, kept by okrsync",
    }
    assert json.loads(responses.calls[3].request.body or b"") == {"labels": ["okr-health:on-track"]}
    assert (outcome.error, outcome.remote_id) == (None, "okr-health:on-track")
    assert sum(clock.slept) == pytest.approx(2.0)  # three writes, a second apart


@responses.activate
def test_labels_are_read_once_a_cycle_and_a_label_the_issue_has_is_not_added() -> None:
    responses.get(f"{API}/repos/acme/web/labels", json=[{"id": 2, "name": "okr-health:at-risk"}])
    responses.post(f"{API}/repos/acme/web/issues/2/labels", json=[])
    responses.delete(
        f"{API}/repos/acme/web/issues/2/labels/okr-health%3Ano-data",
        status=404,
        json={"message": "Label does not exist"},
    )
    source, _ = connect()

    list(source.apply_operations([health_labels("okr-health:at-risk")]))
    list(source.apply_operations([health_labels("okr-health:at-risk")]))
    # Already on the issue (as pulled): a stale label gone already is no error.
    (done,) = source.apply_operations(
        [health_labels("okr-health:at-risk", ("okr-health:at-risk", "okr-health:no-data"))]
    )

    assert [c.request.method for c in responses.calls] == ["GET", "POST", "POST", "DELETE"]
    assert done.error is None


@responses.activate
def test_github_writes_no_fields() -> None:
    source, _ = connect()
    field = SetField("github:acme/web#2", "github", "acme/web#2", "X", "health", "At risk", "", "h")

    (outcome,) = source.apply_operations([field])

    assert outcome.error == "okrsync writes no field:X to GitHub"
    assert len(responses.calls) == 0
