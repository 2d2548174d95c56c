"""Every fault kind, for every connector, through the transport seam.

A fault must end in a completed cycle (the retry got through) or in one clear per-source
failure: a `SourceError` with a one-line message naming no token and chaining nothing. The
waits are the injected sleeps, never wall time; none is over `MAX_WAIT_SECONDS`, so one call
sleeps at most (attempts - 1) x 120 s = 480 s in all (`BOUND`).

Decisions pinned here (see okrsync/sources/_core.py):
- a 2xx that is not JSON (an HTML page, JSON cut short) is retried like a 5xx, then fails
  the source for the cycle with "the answer is not JSON";
- a record the connector cannot read (a 200 issue without `updated`) fails the pull with a
  `FatalError` naming the record, unretried: skipping it would make a full pull delete it;
- a 401 ends the connection: later calls of the cycle fail at once, without a request;
- a wait asked for beyond `MAX_WAIT_SECONDS` is not waited for this cycle;
- a target item deleted under a write (404, GitHub's 410) fails that write only, with
  `TargetGone`; the write-back record stays as it was (the pipeline saves nothing for a
  failed write) and the item leaves the store with the next full pull.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from okrsync.sources import (
    AuthError,
    FatalError,
    PlannedWrite,
    RetriableError,
    SourceError,
)
from okrsync.sources._core import Connector
from okrsync.sources._errors import TargetGone
from okrsync.sources._retry import MAX_WAIT_SECONDS
from okrsync.sources.asana import AsanaSource, AsanaSourceConfig
from okrsync.sources.github import SECONDARY_WAIT, GithubSource, GithubSourceConfig
from okrsync.sources.jira import JiraSource, JiraSourceConfig

STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
NOW = 1_795_000_000.0  # the injected clock
ATTEMPTS = 5
BOUND = (ATTEMPTS - 1) * MAX_WAIT_SECONDS
HTTP_DATE_20S = "Wed, 18 Nov 2026 11:07:00 GMT"  # NOW + 20 s
SECONDARY = "You have exceeded a secondary rate limit."
POINTS = {"id": "customfield_10026", "name": "Story Points", "clauseNames": ["Story Points"]}

Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]] | Exception


class Transport:
    """A transport double: answers (or raises) in order; a bytes body is sent as is."""

    def __init__(self, *answers: Answer):
        self.answers = list(answers)
        self.sent: list[requests.PreparedRequest] = []

    def add(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def __call__(self, request: requests.PreparedRequest) -> requests.Response:
        self.sent.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body, *rest = answer
        headers = dict(rest[0]) if rest else {}
        response = requests.Response()
        response.status_code = status
        if isinstance(body, bytes):
            response._content = body
            headers.setdefault("Content-Type", "text/html; charset=utf-8")
        else:
            response._content = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        response.headers = CaseInsensitiveDict(headers)
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass(frozen=True)
class Kind:
    """One connector, as these tests drive it."""

    name: str
    token: str
    make: Callable[[Transport, Sleeps], Connector]
    connect: tuple[Answer, ...]  # what the constructor reads
    page: Callable[[dict[str, Any]], Any]  # a last page holding one raw record
    record: Callable[[str], dict[str, Any]]
    no_updated: str  # the record's field that says when it changed
    comments: Any  # an empty comment list
    created: tuple[int, Any]  # a created comment
    gone: int  # how the system answers for a deleted item


JIRA_TOKEN = "jira-s3cr3t-token"
GITHUB_TOKEN = "ghp_s3cr3tt0ken"
ASANA_TOKEN = "2/1/2:asana-s3cr3t"


def make_jira(transport: Transport, sleep: Sleeps) -> Connector:
    config = JiraSourceConfig.model_validate(
        {"url": "https://acme.atlassian.net", "jql": "project = ONB", "auth": {"token_env": "T"}}
    )
    return JiraSource(config, JIRA_TOKEN, transport=transport, sleep=sleep, clock=lambda: NOW)


def make_github(transport: Transport, sleep: Sleeps) -> Connector:
    # The sleeps here are retries' only: the 1 s between writes is pinned in
    # test_github_pacing.py.
    config = GithubSourceConfig.model_validate({"repos": ["acme/web"], "seconds_between_writes": 0})
    return GithubSource(config, GITHUB_TOKEN, transport=transport, sleep=sleep, clock=lambda: NOW)


def make_asana(transport: Transport, sleep: Sleeps) -> Connector:
    config = AsanaSourceConfig.model_validate({"projects": ["11"]})
    return AsanaSource(config, ASANA_TOKEN, transport=transport, sleep=sleep, clock=lambda: NOW)


def jira_issue(key: str) -> dict[str, Any]:
    fields = {
        "summary": "One",
        "status": {"name": "To Do", "statusCategory": {"key": "new"}},
        "issuetype": {"name": "Story"},
        "updated": "2026-11-20T09:30:00.000+0000",
    }
    return {"id": "10001", "key": key, "fields": fields}


def github_issue(key: str) -> dict[str, Any]:
    number = int(key)
    return {
        "id": number,
        "number": number,
        "title": "One",
        "state": "open",
        "updated_at": "2026-11-20T09:30:00Z",
        "repository_url": "https://api.github.com/repos/acme/web",
    }


def asana_task(key: str) -> dict[str, Any]:
    return {"gid": key, "name": "One", "completed": False, "modified_at": "2026-11-20T09:30:00Z"}


JIRA = Kind(
    name="jira",
    token=JIRA_TOKEN,
    make=make_jira,
    connect=(
        (200, {"deploymentType": "Cloud", "serverTime": "2026-11-24T09:58:00.000+0000"}),
        (
            200,
            [POINTS],
        ),
    ),
    page=lambda raw: {"issues": [raw], "isLast": True},
    record=jira_issue,
    no_updated="updated",
    comments={"startAt": 0, "maxResults": 100, "total": 0, "comments": []},
    created=(201, {"id": "10"}),
    gone=404,
)
GITHUB = Kind(
    name="github",
    token=GITHUB_TOKEN,
    make=make_github,
    connect=(),
    page=lambda raw: [raw],
    record=github_issue,
    no_updated="updated_at",
    comments=[],
    created=(201, {"id": 10}),
    gone=410,
)
ASANA = Kind(
    name="asana",
    token=ASANA_TOKEN,
    make=make_asana,
    connect=(),
    page=lambda raw: {"data": [raw], "next_page": None},
    record=asana_task,
    no_updated="modified_at",
    comments={"data": [], "next_page": None},
    created=(201, {"data": {"gid": "10"}}),
    gone=404,
)
KINDS = [JIRA, GITHUB, ASANA]
KEY = {"jira": "ONB-1", "github": "1", "asana": "1"}
TARGET_KEY = {"jira": "ONB-1", "github": "acme/web#1", "asana": "1"}


def kind_id(kind: Kind) -> str:
    return kind.name


def source_for(kind: Kind, *answers: Answer) -> tuple[Connector, Transport, Sleeps]:
    transport = Transport(*kind.connect, *answers)
    sleeps = Sleeps()
    return kind.make(transport, sleeps), transport, sleeps


def ok_page(kind: Kind) -> tuple[int, Any]:
    return (200, kind.page(kind.record(KEY[kind.name])))


def pull(source: Connector) -> list[str]:
    result = source.pull(None, started_at=STARTED)  # type: ignore[attr-defined]
    return [item.key for item in result.items]


def write(kind: Kind, key: str | None = None, known: str | None = None) -> PlannedWrite:
    key = key or TARGET_KEY[kind.name]
    return PlannedWrite(f"{kind.name}:{key}", kind.name, key, "<body>OKR</body>", "h", known)


def apply(source: Connector, planned: PlannedWrite) -> Any:
    return source.apply(planned)  # type: ignore[attr-defined]


def assert_clean(error: SourceError, kind: Kind) -> None:
    """One line, no token, nothing chained: what the cycle's report shows."""
    text = str(error)
    assert "\n" not in text and kind.token not in text and "Traceback" not in text
    assert text.startswith(f"{kind.name}: ")
    assert error.__cause__ is None


# --------------------------------------------------------------------------- retried, then done

RETRIED_THEN_DONE: list[tuple[str, Answer, list[float]]] = [
    ("429 Retry-After seconds", (429, {"message": "slow down"}, {"Retry-After": "7"}), [7.0]),
    ("429 Retry-After date", (429, {"message": "slow"}, {"Retry-After": HTTP_DATE_20S}), [20.0]),
    ("500", (500, {"message": "oops"}), [0.5]),
    ("502", (502, {"message": "bad gateway"}), [0.5]),
    ("503", (503, {"message": "unavailable"}), [0.5]),
    ("502 HTML page", (502, b"<html><body>Bad Gateway</body></html>"), [0.5]),
    ("200 HTML page", (200, b"<html><body>Please log in</body></html>"), [0.5]),
    ("truncated JSON", (200, b'{"issues": [{"key": "ONB-1", "fie'), [0.5]),
    ("connection reset", requests.ConnectionError(ConnectionResetError(104, "reset")), [0.5]),
    ("read timeout", requests.ReadTimeout("read timed out"), [0.5]),
]


@pytest.mark.parametrize("kind", KINDS, ids=kind_id)
@pytest.mark.parametrize(
    ("fault", "expected_sleeps"),
    [(fault, sleeps) for _, fault, sleeps in RETRIED_THEN_DONE],
    ids=[name for name, _, _ in RETRIED_THEN_DONE],
)
def test_a_transient_fault_is_retried_and_the_pull_completes(
    kind: Kind, fault: Answer, expected_sleeps: list[float]
) -> None:
    source, transport, sleeps = source_for(kind, fault, ok_page(kind))

    assert pull(source) == [TARGET_KEY[kind.name]]
    assert sleeps == expected_sleeps and not transport.answers


FAILING_EVERY_TIME: list[tuple[str, Answer, str]] = [
    ("503", (503, {"message": "unavailable"}), "HTTP 503"),
    ("502 HTML page", (502, b"<html><body>Bad Gateway</body></html>"), "HTTP 502"),
    ("200 HTML page", (200, b"<html><body>Please log in</body></html>"), "not JSON"),
    ("truncated JSON", (200, b'{"data": [{"gid": "1", "na'), "not JSON"),
    ("connection reset", requests.ConnectionError(ConnectionResetError(104, "reset")), "connect"),
    ("read timeout", requests.ReadTimeout("read timed out"), "timed out"),
]


@pytest.mark.parametrize("kind", KINDS, ids=kind_id)
@pytest.mark.parametrize(
    ("fault", "says"),
    [(fault, says) for _, fault, says in FAILING_EVERY_TIME],
    ids=[name for name, _, _ in FAILING_EVERY_TIME],
)
def test_a_fault_that_persists_is_one_clean_retriable_error_after_bounded_waits(
    kind: Kind, fault: Answer, says: str
) -> None:
    source, transport, sleeps = source_for(kind, *[fault] * ATTEMPTS)

    with pytest.raises(RetriableError) as raised:
        pull(source)

    assert says in str(raised.value)
    assert_clean(raised.value, kind)
    assert len(sleeps) == ATTEMPTS - 1 and sum(sleeps) <= BOUND
    assert sleeps == [0.5, 1.0, 2.0, 4.0] and not transport.answers


@pytest.mark.parametrize("kind", KINDS, ids=kind_id)
def test_rate_limited_every_time_waits_as_told_within_the_bound(kind: Kind) -> None:
    limited: Answer = (429, {"message": "slow down"}, {"Retry-After": str(int(MAX_WAIT_SECONDS))})
    source, _, sleeps = source_for(kind, *[limited] * ATTEMPTS)

    with pytest.raises(RetriableError) as raised:
        pull(source)

    assert_clean(raised.value, kind)
    assert sleeps == [MAX_WAIT_SECONDS] * (ATTEMPTS - 1) and sum(sleeps) == BOUND


@pytest.mark.parametrize("kind", KINDS, ids=kind_id)
def test_a_wait_longer_than_the_cap_is_not_waited_for_this_cycle(kind: Kind) -> None:
    source, transport, sleeps = source_for(
        kind, (429, {"message": "slow down"}, {"Retry-After": "3600"})
    )

    with pytest.raises(RetriableError) as raised:
        pull(source)

    assert_clean(raised.value, kind)
    assert raised.value.retry_after == 3600.0
    assert sleeps == [] and len(transport.sent) == len(kind.connect) + 1


# --------------------------------------------------------------------------- answers not as asked


@pytest.mark.parametrize("kind", KINDS, ids=kind_id)
def test_a_record_without_its_updated_field_fails_the_pull_naming_it(kind: Kind) -> None:
    raw = kind.record(KEY[kind.name])
    if kind.name == "jira":
        del raw["fields"][kind.no_updated]
    else:
        del raw[kind.no_updated]
    source, _, sleeps = source_for(kind, (200, kind.page(raw)))

    with pytest.raises(FatalError) as raised:
        pull(source)

    assert str(raised.value) == (
        f"{kind.name}: pull: record {KEY[kind.name]} has no '{kind.no_updated}'"
    )
    assert_clean(raised.value, kind)
    assert sleeps == []


@pytest.mark.parametrize("kind", KINDS, ids=kind_id)
def test_a_record_with_an_unreadable_timestamp_fails_the_pull_naming_it(kind: Kind) -> None:
    raw = kind.record(KEY[kind.name])
    holder = raw["fields"] if kind.name == "jira" else raw
    holder[kind.no_updated] = "yesterday"
    source, _, _ = source_for(kind, (200, kind.page(raw)))

    with pytest.raises(FatalError) as raised:
        pull(source)

    assert str(raised.value) == f"{kind.name}: pull: record {KEY[kind.name]} is not readable"


def test_github_a_list_answered_with_an_object_is_not_read_as_an_empty_page() -> None:
    source, _, _ = source_for(GITHUB, (200, {"message": "Moved"}))
    with pytest.raises(FatalError) as raised:
        pull(source)
    assert str(raised.value) == "github: GET /repos/acme/web/issues: the answer is not a list"


# --------------------------------------------------------------------------- token revoked


@pytest.mark.parametrize("kind", KINDS, ids=kind_id)
def test_a_token_revoked_mid_cycle_fails_the_source_once_and_sends_nothing_more(
    kind: Kind,
) -> None:
    source, transport, sleeps = source_for(kind, ok_page(kind), (401, {"message": "revoked"}))
    assert pull(source) == [TARGET_KEY[kind.name]]  # the pull went through; then revoked

    with pytest.raises(AuthError) as raised:
        apply(source, write(kind))
    sent = len(transport.sent)
    with pytest.raises(AuthError) as again:
        apply(source, write(kind, key=TARGET_KEY[kind.name].replace("1", "2")))

    assert "HTTP 401: check the token and its permissions" in str(raised.value)
    assert_clean(raised.value, kind)
    assert again.value is raised.value and len(transport.sent) == sent  # nothing sent
    assert sleeps == []


# --------------------------------------------------------------------------- deleted target


@pytest.mark.parametrize("kind", KINDS, ids=kind_id)
def test_a_target_deleted_before_its_write_fails_that_write_only(kind: Kind) -> None:
    gone: Answer = (kind.gone, {"message": "gone"})
    source, transport, sleeps = source_for(
        kind,
        (404, {"message": "comment gone"}),  # the known comment: edited, not there
        gone,  # its comments: the item itself is gone
        (200, kind.comments),  # the next target: no managed comment yet
        kind.created,
    )
    other = TARGET_KEY[kind.name].replace("1", "2")

    with pytest.raises(TargetGone) as raised:
        apply(source, write(kind, known="555"))
    outcome = apply(source, write(kind, key=other))

    key = TARGET_KEY[kind.name]
    assert str(raised.value) == (
        f"{kind.name}: write comment on {key}: the item is gone (HTTP {kind.gone})"
    )
    assert_clean(raised.value, kind)
    assert isinstance(raised.value, FatalError) and sleeps == []
    assert (outcome.remote_id, outcome.action) == ("10", "created")
    assert not transport.answers


# --------------------------------------------------------------------------- GitHub's limits

PRIMARY = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 30)}


@pytest.mark.parametrize(
    ("fault", "expected_sleep"),
    [
        ((403, {"message": "API rate limit exceeded for user ID 1."}, PRIMARY), 30.0),
        ((429, {"message": "API rate limit exceeded for user ID 1."}, PRIMARY), 30.0),
        (
            (403, {"message": SECONDARY}, {"Retry-After": "9"}),
            9.0,
        ),
        (
            (429, {"message": SECONDARY}, {"Retry-After": "9"}),
            9.0,
        ),
        ((403, {"message": "You have exceeded a secondary rate limit. Please wait."}), 60.0),
        ((403, {"message": "You have triggered an abuse detection mechanism."}), 60.0),
        ((429, {"message": "Too many requests"}), 60.0),
        ((403, {"message": "limited"}, {"X-RateLimit-Remaining": "0"}), 60.0),
    ],
    ids=[
        "primary 403 reset",
        "primary 429 reset",
        "secondary 403 Retry-After",
        "secondary 429 Retry-After",
        "secondary 403 message only",
        "abuse detection message only",
        "bare 429",
        "primary without reset",
    ],
)
def test_github_rate_limits_wait_as_documented(fault: Answer, expected_sleep: float) -> None:
    source, _, sleeps = source_for(GITHUB, fault, ok_page(GITHUB))

    assert pull(source) == ["acme/web#1"]
    assert sleeps == [expected_sleep]


def test_github_secondary_limit_without_headers_backs_off_a_minute_each_time_then_fails() -> None:
    limited: Answer = (403, {"message": "You have exceeded a secondary rate limit."})
    source, _, sleeps = source_for(GITHUB, *[limited] * ATTEMPTS)

    with pytest.raises(RetriableError) as raised:
        pull(source)

    assert sleeps == [SECONDARY_WAIT] * (ATTEMPTS - 1) and sum(sleeps) <= BOUND
    assert SECONDARY_WAIT >= 60 and SECONDARY_WAIT <= MAX_WAIT_SECONDS
    assert str(raised.value) == (
        "github: GET /repos/acme/web/issues: HTTP 403: You have exceeded a secondary rate limit."
    )


def test_github_a_403_that_is_no_rate_limit_is_a_permission_error_at_once() -> None:
    source, _, sleeps = source_for(
        GITHUB, (403, {"message": "Resource not accessible by personal access token"})
    )
    with pytest.raises(AuthError) as raised:
        pull(source)
    assert_clean(raised.value, GITHUB)
    assert sleeps == []
