"""The GitHub connector's pace and conditional requests, through its transport seam.

Every wait is the injected sleep (nothing really sleeps); the clock is injected too. What
is pinned: reads go back to back, writes are exactly `seconds_between_writes` apart, a
nearly spent quota waits for its reset before the next request (by the answer's own
`Date`), the search API's quota is its own, and an incremental listing is asked with
`If-None-Match` when an ETag is stored for its URL, a 304 meaning "nothing changed".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from okrsync.sources import PlannedWrite, RetriableError, SourceError
from okrsync.sources.github import GithubSource, GithubSourceConfig

STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
NOW = 1_795_000_000.0
BOOKMARK = int(datetime(2026, 11, 24, 9, 0, tzinfo=UTC).timestamp() * 1000)
API = "https://api.github.com"
# The incremental listing's first page: the bookmark minus the 2 min overlap.
LISTING = f"{API}/repos/acme/web/issues?" + urlencode(
    {
        "state": "all",
        "sort": "updated",
        "direction": "asc",
        "per_page": 100,
        "since": "2026-11-24T08:58:00Z",
    }
)
ETAG = 'W/"abc123"'


class Clock:
    """An injected clock that moves only when the injected sleep sleeps."""

    def __init__(self, at: float = NOW) -> None:
        self.at = at
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += seconds


class Transport:
    """Answers in order (status, body, headers); every request kept."""

    def __init__(self, *answers: tuple[int, Any] | tuple[int, Any, Mapping[str, str]]):
        self.answers = list(answers)
        self.sent: list[requests.PreparedRequest] = []

    def __call__(self, request: requests.PreparedRequest) -> requests.Response:
        self.sent.append(request)
        status, body, *rest = self.answers.pop(0)
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(rest[0] if rest else {})
        response._content = b"" if body is None else json.dumps(body).encode()
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response


def source(
    transport: Transport, clock: Clock, *, sleep: Any = None, **settings: Any
) -> GithubSource:
    config = GithubSourceConfig.model_validate({"repos": ["acme/web"], **settings})
    return GithubSource(
        config, "ghp_t0ken", transport=transport, clock=clock, sleep=sleep or clock.sleep
    )


def gh_issue(number: int, updated: str = "2026-11-20T09:30:00Z") -> dict[str, Any]:
    return {
        "id": number,
        "number": number,
        "title": f"Issue {number}",
        "state": "open",
        "labels": [],
        "updated_at": updated,
        "repository_url": f"{API}/repos/acme/web",
    }


def page_link(page: int) -> dict[str, str]:
    url = f"{API}/repositories/1/issues?state=all&per_page=100&page={page}"
    return {"Link": f'<{url}>; rel="next"'}


def quota(remaining: int, reset_in: float, resource: str = "core") -> dict[str, str]:
    return {
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(int(NOW + reset_in)),
        "X-RateLimit-Resource": resource,
    }


def comment_write(number: int, known: str) -> PlannedWrite:
    return PlannedWrite(
        target=f"github:acme/web#{number}",
        source="github",
        item_key=f"acme/web#{number}",
        body="OKR",
        content_hash="h",
        known_remote_id=known,
    )


# --------------------------------------------------------------------------- spacing


def test_reads_go_back_to_back_by_default() -> None:
    clock = Clock()
    transport = Transport(
        (200, [gh_issue(1)], page_link(2)),
        (200, [gh_issue(2)], page_link(3)),
        (200, [gh_issue(3)]),
    )

    result = source(transport, clock).pull(None, started_at=STARTED)

    assert len(result.items) == 3 and len(transport.sent) == 3
    assert clock.slept == []  # seconds_between_requests defaults to 0: no pause at all
    assert GithubSourceConfig.model_validate({"repos": ["a/b"]}).seconds_between_requests == 0


def test_a_read_spacing_when_configured_is_kept_by_the_injected_sleep() -> None:
    clock = Clock()
    transport = Transport((200, [gh_issue(1)], page_link(2)), (200, [gh_issue(2)]))

    source(transport, clock, seconds_between_requests=0.5).pull(None, started_at=STARTED)

    assert clock.slept == [0.5]


@pytest.mark.parametrize("clock_moves", [True, False], ids=["clock moves", "clock fixed"])
def test_consecutive_writes_are_exactly_one_second_apart(clock_moves: bool) -> None:
    clock = Clock()
    slept: list[float] = []
    sleep = clock.sleep if clock_moves else slept.append
    comment = {"id": 7, "body": "x"}
    transport = Transport((200, comment), (200, comment), (200, comment))
    github = source(transport, clock, sleep=sleep)

    for number in (1, 2, 3):
        github.apply(comment_write(number, known="7"))

    assert [r.method for r in transport.sent] == ["PATCH"] * 3
    assert (clock.slept if clock_moves else slept) == [1.0, 1.0]


def test_time_already_passed_counts_towards_the_write_spacing_and_reads_never_wait() -> None:
    clock = Clock()
    comment = {"id": 7, "body": "x"}
    transport = Transport((200, comment), (200, [gh_issue(1)]), (200, comment))
    github = source(transport, clock)

    github.apply(comment_write(1, known="7"))
    clock.at += 0.25  # work between the writes
    github.pull(None, started_at=STARTED)  # a read right after a write: no pause
    github.apply(comment_write(2, known="7"))

    assert clock.slept == [0.75]


# --------------------------------------------------------------------------- quota


def test_a_nearly_spent_quota_waits_for_its_reset_before_the_next_request() -> None:
    clock = Clock()
    transport = Transport(
        (200, [gh_issue(1)], {**page_link(2), **quota(2, 40)}),
        (200, [gh_issue(2)], {**page_link(3), **quota(1, 30)}),  # the reserve is reached
        (200, [gh_issue(3)], quota(4999, 3600)),
    )

    result = source(transport, clock).pull(None, started_at=STARTED)

    assert len(result.items) == 3
    assert clock.slept == [30.0]  # before the third request, until the reset; none after
    assert not transport.answers


def test_the_reset_is_read_against_the_servers_date() -> None:
    clock = Clock()
    # The server's clock is 10 s behind ours: its reset, 30 s after its now, is 30 s away.
    date = format_datetime(datetime.fromtimestamp(NOW - 10, tz=UTC), usegmt=True)
    headers = {**page_link(2), **quota(0, 20), "Date": date}
    transport = Transport((200, [gh_issue(1)], headers), (200, [gh_issue(2)]))

    source(transport, clock).pull(None, started_at=STARTED)

    assert clock.slept == [30.0]


def test_a_reset_too_far_away_fails_the_pull_without_spending_the_reserve() -> None:
    clock = Clock()
    transport = Transport((200, [gh_issue(1)], {**page_link(2), **quota(1, 1800)}))
    github = source(transport, clock)

    with pytest.raises(RetriableError, match="rate limit nearly spent"):
        github.pull(None, started_at=STARTED)

    assert len(transport.sent) == 1 and clock.slept == []  # not retried, not waited


def test_the_search_quota_is_its_own() -> None:
    clock = Clock()
    found = {"total_count": 3, "incomplete_results": False, "items": []}
    transport = Transport(
        (200, [gh_issue(1)], quota(1, 3000)),  # the hour's quota nearly spent ...
        (200, found, quota(1, 20, "search")),  # ... searches are not held by it
        (200, found, quota(29, 60, "search")),  # the minute's nearly spent: wait for it
    )
    github = source(transport, clock)

    github.pull(None, started_at=STARTED)
    assert github.search_count("repo:acme/web is:open") == 3
    assert github.search_count("repo:acme/web is:closed") == 3

    assert clock.slept == [20.0]


def test_an_error_answers_own_wait_is_not_waited_twice() -> None:
    clock = Clock()
    limited = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 30)}
    transport = Transport((403, {"message": "API rate limit exceeded"}, limited), (200, []))

    source(transport, clock).pull(None, started_at=STARTED)

    assert clock.slept == [30.0]


# --------------------------------------------------------------------------- conditional


def test_an_incremental_listing_asks_with_the_stored_etag_and_a_304_changes_nothing() -> None:
    clock = Clock()
    transport = Transport((304, None, {"ETag": ETAG, **quota(4990, 3000)}))
    github = source(transport, clock)
    github.use_etags({LISTING: ETAG, f"{API}/elsewhere": 'W/"x"'})

    result = github.pull(BOOKMARK, started_at=STARTED)

    (sent,) = transport.sent
    assert sent.url == LISTING and sent.headers["If-None-Match"] == ETAG
    assert result.items == [] and result.full is False
    assert result.bookmark_ms == BOOKMARK  # nothing new: the same URL next time
    assert result.etags == {}  # nothing new to store either
    assert github.requests.by_status == {("GET", 304): 1}


def test_a_changed_listing_is_read_and_its_new_etag_handed_back() -> None:
    clock = Clock()
    date = "Tue, 24 Nov 2026 09:59:00 GMT"
    newer = gh_issue(1, updated="2026-11-24T09:30:00Z")
    transport = Transport((200, [newer], {"ETag": 'W/"new"', "Date": date}))
    github = source(transport, clock)
    github.use_etags({LISTING: ETAG})

    result = github.pull(BOOKMARK, started_at=STARTED)

    assert transport.sent[0].headers["If-None-Match"] == ETAG
    assert [item.key for item in result.items] == ["acme/web#1"]
    assert result.etags == {LISTING: 'W/"new"'}
    assert result.bookmark_ms == int(datetime(2026, 11, 24, 9, 59, tzinfo=UTC).timestamp() * 1000)


def test_a_listing_that_saw_nothing_new_keeps_the_bookmark_and_hands_its_etag_back() -> None:
    clock = Clock()
    already = gh_issue(1, updated="2026-11-24T08:59:00Z")  # in the overlap, seen before
    transport = Transport(
        (200, [already], {"ETag": 'W/"same"', "Date": "Tue, 24 Nov 2026 10:00:00 GMT"})
    )

    result = source(transport, clock).pull(BOOKMARK, started_at=STARTED)

    assert "If-None-Match" not in transport.sent[0].headers  # nothing stored yet
    assert result.bookmark_ms == BOOKMARK
    assert result.etags == {LISTING: 'W/"same"'}


@pytest.mark.parametrize(
    "answers",
    [
        [(200, [gh_issue(1)], {"ETag": 'W/"p1"', **page_link(2)}), (200, [gh_issue(2)])],
        [(200, [gh_issue(n) for n in range(1, 101)], {"ETag": 'W/"full"'})],
    ],
    ids=["two pages", "one full page"],
)
def test_no_etag_is_handed_back_when_an_unchanged_first_page_could_hide_a_change(
    answers: list[Any],
) -> None:
    """An update moves an issue to the end of the ascending listing: onto a later page,
    or onto a page after a full first one, which would then still answer 304."""
    result = source(Transport(*answers), Clock()).pull(BOOKMARK, started_at=STARTED)

    assert result.etags == {}


def test_a_longer_listing_hands_back_its_last_pages_etag_when_that_page_is_not_full() -> None:
    """Every update moves an issue to the end of the ascending listing: onto its last page
    while that page has room, so that page's ETag stands for the whole listing."""
    answers = [
        (200, [gh_issue(n) for n in range(1, 101)], {"ETag": 'W/"p1"', **page_link(2)}),
        (200, [gh_issue(101)], {"ETag": 'W/"p2"'}),
    ]
    result = source(Transport(*answers), Clock()).pull(BOOKMARK, started_at=STARTED)

    assert len(result.items) == 101
    assert result.etags == {f"{LISTING}&page=2": 'W/"p2"'}


def test_a_listing_whose_last_page_is_full_hands_back_no_etag() -> None:
    """A full last page would still answer 304 with a new issue on a page after it."""
    answers = [
        (200, [gh_issue(n) for n in range(1, 101)], {"ETag": 'W/"p1"', **page_link(2)}),
        (200, [gh_issue(n) for n in range(101, 201)], {"ETag": 'W/"p2"'}),
    ]
    result = source(Transport(*answers), Clock()).pull(BOOKMARK, started_at=STARTED)

    assert result.etags == {}


def test_the_stored_last_page_is_asked_first_and_a_304_reads_nothing() -> None:
    transport = Transport((304, None, {"ETag": 'W/"p2"'}))
    github = source(transport, Clock())
    github.use_etags({f"{LISTING}&page=2": 'W/"p2"'})

    result = github.pull(BOOKMARK, started_at=STARTED)

    (sent,) = transport.sent
    assert sent.url == f"{LISTING}&page=2" and sent.headers["If-None-Match"] == 'W/"p2"'
    assert result.items == [] and result.bookmark_ms == BOOKMARK and result.etags == {}
    assert github.requests.by_status == {("GET", 304): 1}


def test_a_changed_last_page_is_set_aside_and_the_listing_read_from_its_start() -> None:
    newer = gh_issue(102, updated="2026-11-24T09:30:00Z")
    transport = Transport(
        (200, [gh_issue(101), newer], {"ETag": 'W/"p2-new"'}),
        (200, [gh_issue(n) for n in range(1, 101)], {"ETag": 'W/"p1"', **page_link(2)}),
        (200, [gh_issue(101), newer], {"ETag": 'W/"p2-new"'}),
    )
    github = source(transport, Clock())
    github.use_etags({f"{LISTING}&page=2": 'W/"p2"'})

    result = github.pull(BOOKMARK, started_at=STARTED)

    assert [request.url for request in transport.sent][:2] == [f"{LISTING}&page=2", LISTING]
    assert "If-None-Match" not in transport.sent[1].headers
    assert len(result.items) == 102
    assert result.etags == {f"{LISTING}&page=2": 'W/"p2-new"'}


class InFlight(Transport):
    """A transport that notes how many requests it is answering at once."""

    def __init__(self, *answers: Any) -> None:
        super().__init__(*answers)
        self.now = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> requests.Response:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(0.01)  # long enough for the caller to be working on a page meanwhile
            return super().__call__(request)
        finally:
            with self.lock:
                self.now -= 1


def test_the_next_page_is_fetched_ahead_yet_never_two_requests_at_once() -> None:
    pages = [
        (200, [gh_issue(n) for n in range(k * 100 + 1, k * 100 + 101)], page_link(k + 2))
        for k in range(4)
    ]
    transport = InFlight(*pages, (200, [gh_issue(401)]))

    result = source(transport, Clock()).pull(None, started_at=STARTED)

    assert [item.key for item in result.items] == [f"acme/web#{n}" for n in range(1, 402)]
    assert transport.most == 1 and len(transport.sent) == 5


def test_a_streamed_pull_hands_its_items_to_the_sink_and_still_moves_the_bookmark() -> None:
    date = "Tue, 24 Nov 2026 09:59:00 GMT"
    newer = gh_issue(101, updated="2026-11-24T09:30:00Z")
    transport = Transport(
        (200, [gh_issue(n) for n in range(1, 101)], {"Date": date, **page_link(2)}),
        (200, [newer, gh_issue(1)]),  # an issue repeated across pages is handed twice
    )
    github = source(transport, Clock())
    batches: list[list[str]] = []
    github.stream_to(lambda items: batches.append([item.key for item in items]))

    result = github.pull(BOOKMARK, started_at=STARTED)

    assert result.items == []
    assert [key for batch in batches for key in batch][-2:] == ["acme/web#101", "acme/web#1"]
    assert sum(len(batch) for batch in batches) == 102
    assert result.bookmark_ms == int(datetime(2026, 11, 24, 9, 59, tzinfo=UTC).timestamp() * 1000)


def test_a_failure_while_fetching_ahead_fails_the_pull() -> None:
    transport = Transport((200, [gh_issue(1)], page_link(2)), (404, {"message": "Not Found"}))
    with pytest.raises(SourceError):
        source(transport, Clock()).pull(None, started_at=STARTED)


def test_a_full_pull_never_asks_conditionally() -> None:
    clock = Clock()
    first_page = LISTING.split("&since=")[0]
    transport = Transport((200, [gh_issue(1)], {"ETag": 'W/"all"'}))
    github = source(transport, clock)
    github.use_etags({first_page: 'W/"all"', LISTING: ETAG})

    result = github.pull(None, started_at=STARTED)

    assert "If-None-Match" not in transport.sent[0].headers
    assert result.full and len(result.items) == 1
    assert result.etags == {}  # a full pull's URL is never asked again incrementally


SUB_ISSUES = f"{API}/repos/acme/web/issues/1/sub_issues?per_page=100"


def parent_and_child() -> tuple[Any, Any]:
    github = source(Transport(), Clock())
    parent = github.work_item({**gh_issue(1), "sub_issues_summary": {"total": 1}})
    child = github.work_item(
        {**gh_issue(7), "repository_url": f"{API}/repos/acme/api"}, parent="acme/web#1"
    )
    return parent, child


def test_a_sub_issue_page_is_asked_conditionally_when_the_store_holds_its_children() -> None:
    parent, child = parent_and_child()
    transport = Transport((304, None, {"ETag": ETAG}))
    github = source(transport, Clock())
    github.use_etags({SUB_ISSUES: ETAG})

    found = github.children([parent], {"acme/web#1": [child]})

    (sent,) = transport.sent
    assert sent.url == SUB_ISSUES and sent.headers["If-None-Match"] == ETAG
    assert found == [child]  # the stored child, as the unchanged page still lists it
    assert github.children_etags == {}


def test_a_sub_issue_page_whose_children_are_not_all_stored_is_read_in_full() -> None:
    parent, _ = parent_and_child()
    elsewhere = {**gh_issue(7), "repository_url": f"{API}/repos/acme/api"}
    transport = Transport((200, [elsewhere], {"ETag": 'W/"subs"'}))
    github = source(transport, Clock())
    github.use_etags({SUB_ISSUES: ETAG})

    found = github.children([parent], {})  # a full pull deleted the child it did not list

    assert "If-None-Match" not in transport.sent[0].headers
    assert [item.key for item in found] == ["acme/api#7"]
    assert github.children_etags == {SUB_ISSUES: 'W/"subs"'}
