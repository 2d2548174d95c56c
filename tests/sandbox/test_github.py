"""The GitHub sandbox through the real PyGithub over HTTP: paging, filters, sub-issues,
comments, labels, auth, throttling, and the contract checks.

Every sandbox fixture checks at teardown that nothing the test did broke GitHub's
description: a test that provokes a violation on purpose clears the log after asserting.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests
from github import (
    Auth,
    BadCredentialsException,
    Github,
    GithubException,
    RateLimitExceededException,
    UnknownObjectException,
)

from okrsync_sandbox import GitHubSandbox

from .helpers import START, Clock

TOKEN = "ghp_sandboxtoken"
Json = Any


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gh(clock: Clock) -> Iterator[GitHubSandbox]:
    with GitHubSandbox(token=TOKEN) as sandbox:
        sandbox.now = clock
        sandbox.add_repo("acme/web")
        sandbox.add_repo("acme/api")
        yield sandbox
        assert sandbox.violations == []


def client(sandbox: GitHubSandbox, token: str = TOKEN) -> Github:
    return Github(
        auth=Auth.Token(token),
        base_url=sandbox.url,
        per_page=100,
        seconds_between_requests=0,
        seconds_between_writes=0,
        retry=None,
        timeout=10,
    )


@pytest.fixture
def g(gh: GitHubSandbox) -> Iterator[Github]:
    github = client(gh)
    yield github
    github.close()


def get(g: Github, path: str, **parameters: Any) -> tuple[dict[str, Any], Json]:
    """The low-level call the connector makes: headers (lower-case names) and JSON."""
    return g.requester.requestJsonAndCheck("GET", path, parameters=parameters or None)


def raw(sandbox: GitHubSandbox, path: str, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.get(sandbox.url + path, headers=headers, timeout=10)


def links(header: str) -> dict[str, str]:
    """rel -> URL of a Link header, split the way PyGithub splits it."""
    parts = (entry.split("; ") for entry in header.split(", "))
    return {rel.removeprefix('rel="').removesuffix('"'): url.strip("<>") for url, rel in parts}


# --- paging ----------------------------------------------------------------------------


def test_250_issues_come_in_3_pages_each_issue_once(gh: GitHubSandbox, g: Github) -> None:
    for i in range(250):
        gh.add_issue("acme/web", f"Issue {i}", labels=["okr:ONB-1"])
    repo = g.get_repo("acme/web")
    gh.reset_log()

    issues = list(repo.get_issues(state="all"))

    assert sorted(i.number for i in issues) == list(range(1, 251))
    assert [(r.method, r.status) for r in gh.requests] == [("GET", 200)] * 3
    first, *following = gh.requests
    assert first.path == "/repos/acme/web/issues"
    by_id = f"/repositories/{gh.repository_id('acme/web')}/issues"  # as GitHub's Link says
    assert [r.path for r in following] == [by_id] * 2
    assert [r.query["page"] for r in following] == [["2"], ["3"]]
    assert all(r.query["state"] == ["all"] and r.query["per_page"] == ["100"] for r in following)


def test_link_header_is_githubs_absolute_prev_next_last_first(gh: GitHubSandbox, g: Github) -> None:
    for i in range(250):
        gh.add_issue("acme/web", f"Issue {i}")
    base = f"{gh.url}/repositories/{gh.repository_id('acme/web')}/issues?per_page=100&state=all"

    first, _ = get(g, "/repos/acme/web/issues", state="all", per_page=100)
    middle, _ = get(g, "/repos/acme/web/issues", state="all", per_page=100, page=2)
    last, page = get(g, "/repos/acme/web/issues", state="all", per_page=100, page=3)

    assert first["link"] == (f'<{base}&page=2>; rel="next", <{base}&page=3>; rel="last"')
    assert links(middle["link"]) == {
        "prev": f"{base}&page=1",
        "next": f"{base}&page=3",
        "last": f"{base}&page=3",
        "first": f"{base}&page=1",
    }
    assert list(links(middle["link"])) == ["prev", "next", "last", "first"]
    assert links(last["link"]) == {"prev": f"{base}&page=2", "first": f"{base}&page=1"}
    assert len(page) == 50


def test_one_page_has_no_link_and_per_page_defaults_to_30_capped_at_100(
    gh: GitHubSandbox, g: Github
) -> None:
    for i in range(120):
        gh.add_issue("acme/web", f"Issue {i}")

    headers, default_page = get(g, "/repos/acme/web/issues")
    _, capped = get(g, "/repos/acme/web/issues", per_page=500)
    single, everything = get(g, "/repos/acme/api/issues")

    assert len(default_page) == 30 and "page=2" in headers["link"]
    assert len(capped) == 100
    assert everything == [] and "link" not in single


def test_connector_style_paging_follows_next_until_none(gh: GitHubSandbox, g: Github) -> None:
    for i in range(150):
        gh.add_issue("acme/web", f"Issue {i}")
    url: str | None = "/repos/acme/web/issues"
    parameters: dict[str, Any] | None = {"state": "all", "per_page": 100}
    seen: list[int] = []
    while url is not None:
        headers, page = g.requester.requestJsonAndCheck("GET", url, parameters=parameters)
        seen += [issue["number"] for issue in page]
        # The next URL is absolute and carries every parameter: send none of our own.
        url, parameters = links(headers["link"]).get("next") if "link" in headers else None, None

    assert sorted(seen) == list(range(1, 151))


# --- filters and shapes ----------------------------------------------------------------


def test_state_sort_direction_since_and_labels(gh: GitHubSandbox, g: Github, clock: Clock) -> None:
    opened = gh.add_issue("acme/web", "Open", labels=["okr:ONB-1", "points:3"])
    clock.advance(minutes=5)
    closed = gh.add_issue("acme/web", "Closed", state="closed")
    clock.advance(minutes=5)
    gh.set_labels("acme/web", opened, ["okr:ONB-1", "points:5"])  # now the latest update
    repo = g.get_repo("acme/web")

    assert [i.number for i in repo.get_issues()] == [opened]  # open only, by default
    assert [i.number for i in repo.get_issues(state="closed")] == [closed]
    by_update = repo.get_issues(state="all", sort="updated", direction="asc")
    assert [i.number for i in by_update] == [closed, opened]
    assert [i.number for i in repo.get_issues(state="all")] == [closed, opened]  # created desc
    since = START + timedelta(minutes=10)  # exactly the label change: kept (at or after)
    assert [i.number for i in repo.get_issues(state="all", since=since)] == [opened]
    later = since + timedelta(seconds=1)
    assert list(repo.get_issues(state="all", since=later)) == []
    assert [i.number for i in repo.get_issues(state="all", labels=["POINTS:5"])] == [opened]


def test_issue_json_has_githubs_shape(gh: GitHubSandbox, g: Github, clock: Clock) -> None:
    number = gh.add_issue("acme/web", "Shape", labels=["okr:ONB-1"], body="Why")
    _, (listed,) = get(g, "/repos/acme/web/issues")
    _, single = get(g, f"/repos/acme/web/issues/{number}")

    url = f"{gh.url}/repos/acme/web/issues/{number}"
    assert listed["url"] == url
    assert listed["repository_url"] == f"{gh.url}/repos/acme/web"
    assert listed["comments_url"] == f"{url}/comments"
    assert listed["html_url"] == f"{gh.url}/acme/web/issues/{number}"
    assert listed["created_at"] == listed["updated_at"] == "2026-11-24T10:00:00Z"
    assert listed["closed_at"] is None and listed["state_reason"] is None
    assert listed["user"]["login"] == "alex" and listed["node_id"]
    (label,) = listed["labels"]
    assert label["name"] == "okr:ONB-1" and {"id", "color", "url"} <= set(label)
    assert listed["sub_issues_summary"] == {"total": 0, "completed": 0, "percent_completed": 0}
    assert listed["parent_issue_url"] is None and listed["body"] == "Why"
    assert "closed_by" not in listed and single["closed_by"] is None  # only a single GET has it


def test_pull_requests_are_listed_as_issues_with_pull_request(gh: GitHubSandbox, g: Github) -> None:
    issue = gh.add_issue("acme/web", "Issue")
    pull = gh.add_pull_request("acme/web", "Pull", labels=["okr:ONB-1"])

    listed = {i.number: i for i in g.get_repo("acme/web").get_issues()}

    assert (issue, pull) == (1, 2)  # one sequence of numbers
    assert listed[issue].pull_request is None
    links_of_pull = listed[pull].pull_request
    assert links_of_pull is not None
    assert links_of_pull.html_url == f"{gh.url}/acme/web/pull/2"


def test_closed_as_not_planned_then_reopened(gh: GitHubSandbox, g: Github, clock: Clock) -> None:
    number = gh.add_issue("acme/web", "Maybe")
    clock.advance(hours=1)
    gh.close_issue("acme/web", number, reason="not_planned")
    issue = g.get_repo("acme/web").get_issue(number)
    assert (issue.state, issue.state_reason) == ("closed", "not_planned")
    assert issue.closed_at == issue.updated_at == clock.at
    assert issue.closed_by is not None and issue.closed_by.login == "alex"

    gh.reopen_issue("acme/web", number)
    _, again = get(g, f"/repos/acme/web/issues/{number}")
    assert (again["state"], again["state_reason"], again["closed_at"]) == ("open", "reopened", None)


def test_get_repo_and_user(gh: GitHubSandbox, g: Github) -> None:
    repo = g.get_repo("ACME/Web")  # names are not case sensitive
    assert (repo.full_name, repo.owner.login, repo.private) == ("acme/web", "acme", True)
    assert g.get_user().login == "okrsync"


# --- sub-issues ------------------------------------------------------------------------


def test_sub_issues_across_repositories(gh: GitHubSandbox, g: Github, clock: Clock) -> None:
    parent = gh.add_issue("acme/web", "Epic")
    local = gh.add_issue("acme/web", "Local child")
    remote = gh.add_issue("acme/api", "Remote child")
    gh.add_sub_issue("acme/web", parent, "acme/web", local)
    gh.add_sub_issue("acme/web", parent, "acme/api", remote)
    gh.close_issue("acme/api", remote)

    epic = g.get_repo("acme/web").get_issue(parent)
    children = list(epic.get_sub_issues())
    _, child = get(g, f"/repos/acme/api/issues/{remote}")
    _, parent_of_child = get(g, f"/repos/acme/api/issues/{remote}/parent")

    assert epic.sub_issues_summary.total == 2
    assert (epic.sub_issues_summary.completed, epic.sub_issues_summary.percent_completed) == (1, 50)
    assert [(c.repository_url, c.number) for c in children] == [
        (f"{gh.url}/repos/acme/web", local),
        (f"{gh.url}/repos/acme/api", remote),
    ]
    assert child["parent_issue_url"] == f"{gh.url}/repos/acme/web/issues/{parent}"
    assert parent_of_child["number"] == parent
    with pytest.raises(UnknownObjectException):
        get(g, f"/repos/acme/web/issues/{parent}/parent")


def test_sub_issue_rules(gh: GitHubSandbox) -> None:
    parent = gh.add_issue("acme/web", "Epic")
    child = gh.add_issue("acme/web", "Child")
    stranger = gh.add_issue("other/web", "Elsewhere")
    gh.add_sub_issue("acme/web", parent, "acme/web", child)

    with pytest.raises(ValueError, match="same owner"):
        gh.add_sub_issue("acme/web", parent, "other/web", stranger)
    with pytest.raises(ValueError, match="already has a parent"):
        gh.add_sub_issue("acme/web", child, "acme/web", child)
    with pytest.raises(ValueError, match="descendant"):
        gh.add_sub_issue("acme/web", child, "acme/web", parent)


# --- comments and labels ---------------------------------------------------------------


def test_comments_create_list_edit_bump_the_issue(
    gh: GitHubSandbox, g: Github, clock: Clock
) -> None:
    number = gh.add_issue("acme/web", "Talk")
    gh.add_comment("acme/web", number, "First!")
    clock.advance(minutes=1)
    issue = g.get_repo("acme/web").get_issue(number)

    created = issue.create_comment("<!-- okrsync:managed -->\nProgress 10%")
    clock.advance(minutes=1)
    created.edit("<!-- okrsync:managed -->\nProgress 20%")

    assert created.user.login == "okrsync"
    assert created.url == f"{gh.url}/repos/acme/web/issues/comments/{created.id}"
    stored = gh.comments("acme/web", number)
    assert [c["body"] for c in stored] == ["First!", "<!-- okrsync:managed -->\nProgress 20%"]
    assert stored[1]["updated_at"] == clock.at and stored[1]["user"] == "okrsync"
    _, fresh = get(g, f"/repos/acme/web/issues/{number}")
    assert fresh["updated_at"] == "2026-11-24T10:02:00Z" and fresh["comments"] == 2
    listed = [c.body for c in issue.get_comments()]
    assert listed == [c["body"] for c in stored]
    since = START + timedelta(minutes=2)
    assert [c.id for c in issue.get_comments(since=since)] == [created.id]
    assert gh.writes[0].status == 201 and gh.writes[1].method == "PATCH"


def test_deleted_comment_is_404_afterwards(gh: GitHubSandbox, g: Github) -> None:
    number = gh.add_issue("acme/web", "Talk")
    comment = g.get_repo("acme/web").get_issue(number).create_comment("bye")
    comment.delete()
    with pytest.raises(UnknownObjectException):
        comment.edit("again")
    assert [r.status for r in gh.writes] == [201, 204, 404]
    assert gh.comments("acme/web", number) == []


def test_add_to_labels_posts_a_bare_array(gh: GitHubSandbox, g: Github, clock: Clock) -> None:
    number = gh.add_issue("acme/web", "Label me", labels=["okr:ONB-1"])
    clock.advance(minutes=3)
    issue = g.get_repo("acme/web").get_issue(number)

    issue.add_to_labels("points:3", "okr:ONB-1")
    issue.remove_from_labels("okr:ONB-1")  # PyGithub percent-encodes the colon

    assert gh.writes[0].body == ["points:3", "okr:ONB-1"]
    assert gh.writes[1].path == "/repos/acme/web/issues/1/labels/okr%3AONB-1"
    snapshot = gh.issue("acme/web", number)
    assert snapshot["labels"] == ["points:3"] and snapshot["updated_at"] == clock.at
    with pytest.raises(GithubException) as caught:  # not UnknownObject: no "not found"
        issue.remove_from_labels("never-there")
    assert (caught.value.status, caught.value.message) == (404, "Label does not exist")


# --- auth, errors, throttling ----------------------------------------------------------


def test_bad_or_missing_token_is_401_bad_credentials(gh: GitHubSandbox) -> None:
    github = client(gh, token="ghp_wrong")
    with pytest.raises(BadCredentialsException) as caught:
        github.get_repo("acme/web")
    github.close()
    assert caught.value.status == 401
    assert caught.value.data == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }
    assert raw(gh, "/repos/acme/web", token=None).status_code == 401
    bearer = requests.get(
        f"{gh.url}/repos/acme/web", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert bearer.status_code == 200


def test_unknown_repository_or_issue_is_404_in_githubs_shape(gh: GitHubSandbox) -> None:
    for path in ("/repos/acme/nope/issues", "/repos/acme/web/issues/99", "/nothing/here"):
        answer = raw(gh, path)
        assert answer.status_code == 404
        assert answer.json() == {
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest",
            "status": "404",
        }


def test_every_response_carries_githubs_headers(gh: GitHubSandbox, clock: Clock) -> None:
    for answer in (raw(gh, "/repos/acme/web"), raw(gh, "/repos/acme/web/issues/9")):
        headers = answer.headers
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert headers["X-GitHub-Api-Version-Selected"] == "2022-11-28"
        assert headers["X-GitHub-Request-Id"]
        assert headers["X-RateLimit-Limit"] == "5000"
        assert headers["X-RateLimit-Resource"] == "core"
        assert int(headers["X-RateLimit-Reset"]) == int((clock.at + timedelta(hours=1)).timestamp())
        assert parsedate_to_datetime(headers["Date"]) == clock.at  # the sandbox's clock
    assert raw(gh, "/repos/acme/web").headers["ETag"].startswith('W/"')


def test_rate_limit_is_spent_reported_and_runs_out(
    gh: GitHubSandbox, g: Github, clock: Clock
) -> None:
    get(g, "/repos/acme/web")
    headers, _ = get(g, "/repos/acme/web")
    assert (headers["x-ratelimit-remaining"], headers["x-ratelimit-used"]) == ("4998", "2")
    assert g.get_rate_limit().resources.core.remaining == 4998  # /rate_limit costs nothing

    gh.rate_limit_remaining = 0
    with pytest.raises(RateLimitExceededException) as caught:
        get(g, "/repos/acme/web")
    assert caught.value.status == 403
    assert caught.value.headers is not None and caught.value.headers["x-ratelimit-remaining"] == "0"
    clock.advance(hours=1)  # a new window
    headers, _ = get(g, "/repos/acme/web")
    assert headers["x-ratelimit-remaining"] == "4999"


def test_fail_next_403_is_a_primary_rate_limit(gh: GitHubSandbox, g: Github, clock: Clock) -> None:
    reset = clock.at + timedelta(minutes=7)
    gh.fail_next(1, status=403, rate_limit_reset=reset)

    with pytest.raises(RateLimitExceededException) as caught:
        get(g, "/repos/acme/web/issues")

    error = caught.value
    assert error.status == 403 and error.headers is not None
    assert error.headers["x-ratelimit-remaining"] == "0"
    assert error.headers["x-ratelimit-reset"] == str(int(reset.timestamp()))
    assert "retry-after" not in error.headers
    assert str(error.data["message"]).startswith("API rate limit exceeded")
    assert error.data["status"] == "403"
    get(g, "/repos/acme/web/issues")  # one fault only


@pytest.mark.parametrize("status", [429, 403])
def test_fail_next_with_retry_after_is_a_secondary_rate_limit(
    gh: GitHubSandbox, g: Github, status: int
) -> None:
    gh.fail_next(1, status=status, retry_after="1")

    with pytest.raises(GithubException) as caught:
        get(g, "/repos/acme/web/issues")

    error = caught.value
    # PyGithub makes a RateLimitExceededException of a 403 only; a 429 stays generic.
    assert isinstance(error, RateLimitExceededException) == (status == 403)
    assert error.status == status and error.headers is not None
    assert error.headers["retry-after"] == "1"
    assert error.headers["x-ratelimit-remaining"] != "0"
    assert str(error.data["message"]).startswith("You have exceeded a secondary rate limit")


# --- the contract ----------------------------------------------------------------------


def test_a_request_breaking_the_description_is_refused_and_recorded(gh: GitHubSandbox) -> None:
    answer = raw(gh, "/repos/acme/web/issues?per_page=abc")

    assert answer.status_code == 422
    assert answer.json()["message"] == "Validation Failed"
    (violation,) = gh.violations
    assert violation.startswith("request GET /repos/acme/web/issues: ")
    assert "abc" in violation
    assert gh.requests[-1].status == 422
    gh.reset_log()


def test_bad_state_is_422_strict_or_not(clock: Clock) -> None:
    with GitHubSandbox(token=TOKEN, strict=False) as lenient:
        lenient.add_repo("acme/web")
        answer = raw(lenient, "/repos/acme/web/issues?state=bad")
        assert answer.status_code == 422
        assert answer.json()["errors"] == [
            {"resource": "Issue", "field": "state", "code": "invalid"}
        ]
        served = raw(lenient, "/repos/acme/web/issues?per_page=abc")
        assert served.status_code == 200  # served with the default, and still recorded
        assert len(lenient.violations) == 2


def test_a_normal_session_breaks_nothing(gh: GitHubSandbox, g: Github) -> None:
    parent = gh.add_issue("acme/web", "Epic", labels=["okr:ONB-1"])
    child = gh.add_issue("acme/api", "Child", labels=["points:3"])
    gh.add_sub_issue("acme/web", parent, "acme/api", child)
    gh.add_pull_request("acme/web", "Pull")
    repo = g.get_repo("acme/web")
    for issue in repo.get_issues(state="all", sort="updated", direction="asc"):
        list(issue.get_comments())
    epic = repo.get_issue(parent)
    list(epic.get_sub_issues())
    epic.create_comment("hi").edit("hello")
    epic.add_to_labels("status:on-track")
    g.get_rate_limit()
    g.get_user().login  # noqa: B018  (PyGithub loads the user lazily)

    assert gh.violations == []
    assert {r.status for r in gh.requests} <= {200, 201}
