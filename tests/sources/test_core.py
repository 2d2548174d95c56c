"""The connector core (status → error, overlap arithmetic) and Jira's two paginators."""

from __future__ import annotations

from typing import Any

import pytest

from okrsync.sources import AuthError, FatalError, RetriableError
from okrsync.sources._core import since_ms, status_error
from okrsync.sources.jira import StartAtPaginator, TokenPaginator


def test_since_is_the_bookmark_minus_the_overlap_never_below_zero() -> None:
    assert since_ms(None, 120) is None
    assert since_ms(1_000_000, 120) == 880_000
    assert since_ms(5_000, 120) == 0


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_rate_limits_and_5xx_are_retriable_with_the_wait_asked_for(status: int) -> None:
    error = status_error("x", "GET /a", status, {"retry-after": "3"}, "busy")
    assert isinstance(error, RetriableError) and error.retry_after == 3.0
    assert str(error) == f"x: GET /a: HTTP {status}: busy" and error.status == status


def test_a_reset_header_is_read_against_the_given_clock() -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1030"}
    error = status_error("x", "GET /a", 403, headers, rate_limited=True, now=1000.0)
    assert isinstance(error, RetriableError) and error.retry_after == 30.0


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_auth_errors_without_the_servers_detail(status: int) -> None:
    error = status_error("x", "GET /a", status, {}, "token abc rejected")
    assert isinstance(error, AuthError)
    assert str(error) == f"x: GET /a: HTTP {status}: check the token and its permissions"


def test_other_statuses_are_fatal_with_the_detail() -> None:
    error = status_error("x", "GET /a", 400, {}, "bad jql")
    assert type(error) is FatalError and str(error) == "x: GET /a: HTTP 400: bad jql"
    assert str(status_error("x", "GET /a", 404, {})) == "x: GET /a: HTTP 404"


def test_cloud_pages_follow_the_token_until_is_last() -> None:
    pages: dict[str | None, dict[str, Any]] = {
        None: {"issues": [{"key": "A-1"}], "nextPageToken": "t2"},
        "t2": {"issues": [{"key": "A-2"}], "nextPageToken": "t3", "isLast": True},
    }
    asked: list[str | None] = []

    def fetch(token: str | None) -> dict[str, Any]:
        asked.append(token)
        return pages[token]

    assert [r["key"] for r in TokenPaginator(fetch).records()] == ["A-1", "A-2"]
    assert asked == [None, "t2"]  # isLast wins over a token


def test_cloud_pages_stop_without_a_token() -> None:
    answers = [{"issues": [{"key": "A-1"}]}]
    assert len(list(TokenPaginator(lambda token: answers.pop(0)).records())) == 1


def test_server_pages_advance_start_at_by_what_came_until_total() -> None:
    asked: list[int] = []

    def fetch(start: int) -> dict[str, Any]:
        asked.append(start)
        # The server caps pages below maxResults: the next start follows what came.
        return {"total": 5, "issues": [{"key": f"A-{start + n}"} for n in range(min(2, 5 - start))]}

    assert [r["key"] for r in StartAtPaginator(fetch).records()] == [f"A-{n}" for n in range(5)]
    assert asked == [0, 2, 4]


def test_server_pages_stop_on_an_empty_page_and_read_other_lists() -> None:
    answers = [{"total": 9, "comments": [{"id": "1"}]}, {"total": 9, "comments": []}]
    records = StartAtPaginator(lambda start: answers.pop(0), items="comments").records()
    assert [r["id"] for r in records] == ["1"]
