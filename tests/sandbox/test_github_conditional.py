"""The GitHub sandbox's conditional requests and rate-limit headers, over HTTP.

A GET naming the current ETag in `If-None-Match` is answered 304 with no body, its ETag
and the rate-limit headers, and spends nothing (GitHub: a 304 does not count against the
primary rate limit). Every exchange is checked against GitHub's description (with the
relaxation declaring 304 on every GET); the fixture fails on any violation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from okrsync_sandbox import GitHubSandbox

from .helpers import Clock

TOKEN = "ghp_sandboxtoken"
LIST = "/repos/acme/web/issues?state=all&sort=updated&direction=asc&per_page=100"


@pytest.fixture
def gh() -> Iterator[GitHubSandbox]:
    with GitHubSandbox(token=TOKEN) as sandbox:
        sandbox.now = Clock()
        sandbox.add_repo("acme/web")
        sandbox.add_issue("acme/web", "First", labels=["okr:ONB-1"])
        sandbox.add_issue("acme/web", "Second")
        yield sandbox
        assert sandbox.violations == []


def get(sandbox: GitHubSandbox, path: str, etag: str | None = None) -> requests.Response:
    headers = {"Authorization": f"token {TOKEN}"}
    if etag is not None:
        headers["If-None-Match"] = etag
    return requests.get(sandbox.url + path, headers=headers, timeout=10)


def remaining(response: requests.Response) -> int:
    return int(response.headers["X-RateLimit-Remaining"])


def test_every_answer_has_the_rate_limit_headers_counting_down(gh: GitHubSandbox) -> None:
    answers = [get(gh, LIST), get(gh, "/repos/acme/web/labels"), get(gh, "/nothing/here")]

    for answer in answers:
        assert {"X-RateLimit-Limit", "X-RateLimit-Reset", "X-RateLimit-Used"} <= set(answer.headers)
    assert [remaining(a) for a in answers[:2]] == [4999, 4998]


def test_a_matching_if_none_match_is_a_free_304_without_a_body(gh: GitHubSandbox) -> None:
    first = get(gh, LIST)
    etag = first.headers["ETag"]

    again = get(gh, LIST, etag)

    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    assert remaining(again) == remaining(first)  # nothing spent
    assert again.headers["X-RateLimit-Reset"] == first.headers["X-RateLimit-Reset"]
    assert gh.not_modified_count == 1
    # Weak comparison, and one of several tags, match too.
    assert get(gh, LIST, f'"other", {etag.removeprefix("W/")}').status_code == 304
    assert remaining(get(gh, LIST)) == remaining(first) - 1


def test_a_changed_list_or_another_etag_is_answered_in_full(gh: GitHubSandbox) -> None:
    etag = get(gh, LIST).headers["ETag"]
    gh.set_labels("acme/web", 2, ["okr:ONB-1"])

    changed = get(gh, LIST, etag)

    assert changed.status_code == 200 and len(changed.json()) == 2
    assert changed.headers["ETag"] != etag
    assert get(gh, LIST, 'W/"stale"').status_code == 200


def test_every_list_the_connector_reads_can_answer_304(gh: GitHubSandbox) -> None:
    gh.add_repo("acme/api")
    child = gh.add_issue("acme/api", "Elsewhere")
    gh.add_sub_issue("acme/web", 1, "acme/api", child)
    gh.add_comment("acme/web", 1, "hello")
    lists = [
        LIST,
        "/repos/acme/web/issues/1/sub_issues?per_page=100",
        "/repos/acme/web/issues/1/comments?per_page=100",
        "/repos/acme/web/labels?per_page=100",
    ]
    for path in lists:
        etag = get(gh, path).headers["ETag"]
        assert get(gh, path, etag).status_code == 304, path
