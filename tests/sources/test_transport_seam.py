"""Each connector through its transport seam: a double records the requests and answers.

No `responses`, nothing patched: the double is the connector's `transport=` argument, the
clock and sleep are its `clock=` and `sleep=`. What is pinned is what the connector (and,
for Jira, the `jira` library under it) puts on the wire, and how answers become errors.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from okrsync.sources import AuthError, PlannedWrite
from okrsync.sources.asana import AsanaSource, AsanaSourceConfig
from okrsync.sources.github import GithubSource, GithubSourceConfig
from okrsync.sources.jira import MARKER_PROPERTY, JiraSource, JiraSourceConfig

STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
NOW = 1_795_000_000.0  # the injected clock: what "now" is for rate-limit resets


class Transport:
    """A transport double: answers in order, every request kept."""

    def __init__(self, *answers: tuple[int, Any] | tuple[int, Any, Mapping[str, str]]):
        self.answers = list(answers)
        self.sent: list[requests.PreparedRequest] = []

    def __call__(self, request: requests.PreparedRequest) -> requests.Response:
        self.sent.append(request)
        status, body, *rest = self.answers.pop(0)
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(rest[0] if rest else {})
        response._content = json.dumps(body).encode()
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response

    def shapes(self) -> list[tuple[str, str, dict[str, list[str]], Any]]:
        """(method, path, query, JSON body) of every request sent."""
        shaped = []
        for request in self.sent:
            url = urlsplit(request.url or "")
            body = json.loads(request.body) if request.body else None
            shaped.append((request.method or "", url.path, parse_qs(url.query), body))
        return shaped


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --------------------------------------------------------------------------- Jira

JIRA_URL = "https://acme.atlassian.net"
JIRA_TOKEN = "jira-s3cr3t-token"
SERVER_INFO = {
    "versionNumbers": [1001, 0, 0],
    "deploymentType": "Cloud",
    "serverTime": "2026-11-24T09:58:00.000+0000",
}
JIRA_FIELDS = [
    {"id": "summary", "name": "Summary", "clauseNames": ["summary"]},
    {"id": "customfield_10026", "name": "Story Points", "clauseNames": ["Story Points"]},
]


def jira_issue(key: str) -> dict[str, Any]:
    return {
        "id": "10001",
        "key": key,
        "fields": {
            "summary": "One",
            "status": {"name": "To Do", "statusCategory": {"key": "new"}},
            "issuetype": {"name": "Story"},
            "labels": [],
            "updated": "2026-11-20T09:30:00.000+0000",
            "customfield_10026": 2,
        },
    }


def jira(transport: Transport, sleep: Sleeps, email: str | None = "bot@acme.example") -> JiraSource:
    auth = {"email_env": "E", "token_env": "T"} if email else {"token_env": "T"}
    config = JiraSourceConfig.model_validate(
        {"url": JIRA_URL, "jql": "project = ONB", "auth": auth}
    )
    return JiraSource(
        config, JIRA_TOKEN, email, transport=transport, sleep=sleep, clock=lambda: NOW
    )


def test_jira_search_request_and_a_429_waited_as_told_through_the_seam() -> None:
    transport = Transport(
        (200, SERVER_INFO),
        (200, JIRA_FIELDS),
        (429, {"errorMessages": ["slow down"]}, {"Retry-After": "7"}),
        (200, {"issues": [jira_issue("ONB-1")], "isLast": True}),
    )
    slept = Sleeps()
    source = jira(transport, slept)

    result = source.pull(1_764_000_000_000, started_at=STARTED)

    search = (
        "GET",
        "/rest/api/2/search/jql",
        {
            "jql": ["(project = ONB) AND updated >= 1763999880000 ORDER BY key ASC"],
            "fields": [
                "summary",
                "status",
                "issuetype",
                "labels",
                "parent",
                "updated",
                "customfield_10026",
            ],
            "maxResults": ["100"],
        },
        None,
    )
    assert transport.shapes() == [
        ("GET", "/rest/api/2/serverInfo", {}, None),
        ("GET", "/rest/api/2/field", {}, None),  # once: the library's own lookup reuses it
        search,
        search,
    ]
    assert slept == [7.0]
    assert [item.key for item in result.items] == ["ONB-1"] and result.items[0].points == 2.0
    assert result.requests == 2 and source.requests.by_status[("GET", 429)] == 1
    assert result.bookmark_ms == int(datetime(2026, 11, 24, 9, 58, tzinfo=UTC).timestamp() * 1000)
    basic = base64.b64encode(f"bot@acme.example:{JIRA_TOKEN}".encode()).decode()
    assert all(r.headers["Authorization"] == f"Basic {basic}" for r in transport.sent)


def test_jira_401_is_an_auth_error_without_the_token_and_not_retried() -> None:
    transport = Transport((401, {"errorMessages": ["Unauthorized"]}))
    slept = Sleeps()
    with pytest.raises(AuthError) as raised:
        jira(transport, slept, email=None)
    text = str(raised.value)
    assert text == "jira: connect: HTTP 401: check the token and its permissions"
    assert JIRA_TOKEN not in text and raised.value.__cause__ is None
    assert len(transport.sent) == 1 and slept == []
    assert transport.sent[0].headers["Authorization"] == f"Bearer {JIRA_TOKEN}"


def test_jira_comment_requests_are_the_librarys_shape_with_the_marker_property() -> None:
    transport = Transport(
        (200, SERVER_INFO),
        (200, JIRA_FIELDS),
        (404, {"errorMessages": ["Comment gone"]}),  # the known comment was deleted
        (200, {"startAt": 0, "maxResults": 100, "total": 1, "comments": [{"id": "9"}]}),
        (201, {"id": "10"}),
    )
    source = jira(transport, Sleeps())
    write = PlannedWrite("jira:ONB-1", "jira", "ONB-1", "h3. OKR", "hash", "555")

    outcome = source.apply(write)

    marker = [{"key": MARKER_PROPERTY, "value": {"target": "jira:ONB-1"}}]
    assert transport.shapes()[2:] == [
        # an edit notifies no one (Cloud)
        (
            "PUT",
            "/rest/api/2/issue/ONB-1/comment/555",
            {"notifyUsers": ["false"]},
            {"body": "h3. OKR"},
        ),
        (
            "GET",
            "/rest/api/2/issue/ONB-1/comment",
            {"startAt": ["0"], "maxResults": ["100"], "expand": ["properties"]},
            None,
        ),
        (
            "POST",
            "/rest/api/2/issue/ONB-1/comment",
            {},
            {"body": "h3. OKR", "properties": marker},
        ),
    ]
    post = transport.sent[-1]
    assert post.headers["Content-Type"] == "application/json"
    assert post.headers["X-Atlassian-Token"] == "no-check"
    assert (outcome.remote_id, outcome.action) == ("10", "created")


# --------------------------------------------------------------------------- GitHub

GITHUB_TOKEN = "ghp_s3cr3t"


def github(transport: Transport, sleep: Sleeps) -> GithubSource:
    config = GithubSourceConfig.model_validate({"repos": ["acme/web"]})
    return GithubSource(config, GITHUB_TOKEN, transport=transport, sleep=sleep, clock=lambda: NOW)


def gh_issue(number: int) -> dict[str, Any]:
    return {
        "id": number,
        "number": number,
        "title": f"Issue {number}",
        "state": "open",
        "labels": [],
        "updated_at": "2026-11-20T09:30:00Z",
        "repository_url": "https://api.github.com/repos/acme/web",
    }


def test_github_list_request_follows_link_and_waits_out_the_primary_rate_limit() -> None:
    next_url = "https://api.github.com/repositories/1/issues?state=all&per_page=100&page=2"
    limited = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 30)}
    transport = Transport(
        (403, {"message": "API rate limit exceeded"}, limited),
        (200, [gh_issue(1)], {"Link": f'<{next_url}>; rel="next"'}),
        (429, {"message": "slow down"}, {"Retry-After": "4"}),
        (200, [gh_issue(2), {**gh_issue(3), "pull_request": {}}]),
    )
    slept = Sleeps()
    source = github(transport, slept)
    bookmark = int(datetime(2026, 11, 24, 9, 0, tzinfo=UTC).timestamp() * 1000)

    result = source.pull(bookmark, started_at=STARTED)

    first = (
        "GET",
        "/repos/acme/web/issues",
        {
            "state": ["all"],
            "sort": ["updated"],
            "direction": ["asc"],
            "per_page": ["100"],
            "since": ["2026-11-24T08:58:00Z"],
        },
        None,
    )
    second = ("GET", "/repositories/1/issues", parse_qs(urlsplit(next_url).query), None)
    assert transport.shapes() == [first, first, second, second]
    assert slept == [30.0, 4.0]  # the reset by the injected clock, then Retry-After
    assert [item.key for item in result.items] == ["acme/web#1", "acme/web#2"]


def test_github_401_is_an_auth_error_without_the_token() -> None:
    transport = Transport((401, {"message": "Bad credentials"}))
    slept = Sleeps()
    with pytest.raises(AuthError) as raised:
        github(transport, slept).pull(None, started_at=STARTED)
    assert str(raised.value) == (
        "github: GET /repos/acme/web/issues: HTTP 401: check the token and its permissions"
    )
    assert GITHUB_TOKEN not in str(raised.value) and slept == [] and len(transport.sent) == 1


def test_github_comment_is_posted_once_with_the_marker() -> None:
    transport = Transport(
        (200, [{"id": 9, "body": "a human"}]),
        (201, {"id": 77}),
    )
    source = github(transport, Sleeps())
    write = PlannedWrite("github:acme/web#2", "github", "acme/web#2", "### OKR", "h", None)

    outcome = source.apply(write)

    assert transport.shapes() == [
        ("GET", "/repos/acme/web/issues/2/comments", {"per_page": ["100"]}, None),
        (
            "POST",
            "/repos/acme/web/issues/2/comments",
            {},
            {"body": "<!-- okrsync:managed -->\n### OKR"},
        ),
    ]
    assert (outcome.remote_id, outcome.action) == ("77", "created")
    assert source.requests.by_status == {("GET", 200): 1, ("POST", 201): 1}


# --------------------------------------------------------------------------- Asana

ASANA_TOKEN = "2/1/2:asana-s3cr3t"


def asana(transport: Transport, sleep: Sleeps) -> AsanaSource:
    config = AsanaSourceConfig.model_validate({"projects": ["11"]})
    return AsanaSource(config, ASANA_TOKEN, transport=transport, sleep=sleep, clock=lambda: NOW)


def test_asana_task_request_and_an_http_date_retry_after_by_the_injected_clock() -> None:
    later = "Wed, 18 Nov 2026 11:07:00 GMT"  # 20 s after NOW
    assert datetime(2026, 11, 18, 11, 7, tzinfo=UTC).timestamp() == NOW + 20
    task = {"gid": "1", "name": "T", "completed": False, "modified_at": "2026-11-20T09:30:00Z"}
    transport = Transport(
        (429, {"errors": [{"message": "slow down"}]}, {"Retry-After": later}),
        (200, {"data": [{**task, "parent": {"gid": "40"}}], "next_page": None}),
    )
    slept = Sleeps()

    result = asana(transport, slept).pull(None, started_at=STARTED)

    query = {
        "project": ["11"],
        "opt_fields": [
            "completed,modified_at,name,num_subtasks,parent,permalink_url,resource_subtype,tags.name"
        ],
        "limit": ["100"],
    }
    assert transport.shapes() == [("GET", "/api/1.0/tasks", query, None)] * 2
    assert slept == [20.0]
    assert [(item.key, item.parent) for item in result.items] == [("1", "40")]
    assert transport.sent[0].headers["Authorization"] == f"Bearer {ASANA_TOKEN}"


def test_asana_401_is_an_auth_error_without_the_token() -> None:
    transport = Transport((401, {"errors": [{"message": "Not Authorized"}]}))
    slept = Sleeps()
    with pytest.raises(AuthError) as raised:
        asana(transport, slept).pull(None, started_at=STARTED)
    assert str(raised.value) == "asana: GET /tasks: HTTP 401: check the token and its permissions"
    assert ASANA_TOKEN not in str(raised.value) and slept == [] and len(transport.sent) == 1


# --------------------------------------------------------------------------- labels in use
# `okrsync validate --check-labels`: one cheap listing per source, pinned request by request.


def labelled(key: str, *labels: str) -> dict[str, Any]:
    return {"id": "1", "key": key, "fields": {"labels": list(labels)}}


def test_jira_cloud_labels_are_one_search_of_labelled_issues_asking_labels_only() -> None:
    transport = Transport(
        (200, SERVER_INFO),
        (200, JIRA_FIELDS),
        (200, {"issues": [labelled("ONB-1", "okr:ONB-1")], "nextPageToken": "t2"}),
        (200, {"issues": [labelled("ONB-2", "okr:ONB-9", "okr:ONB-1")], "isLast": True}),
    )
    source = jira(transport, Sleeps())

    assert source.labels_in_use() == {"okr:ONB-1", "okr:ONB-9"}

    query = {
        "jql": ["(project = ONB) AND labels is not EMPTY ORDER BY key ASC"],
        "fields": ["labels"],
        "maxResults": ["100"],
    }
    assert transport.shapes() == [
        ("GET", "/rest/api/2/serverInfo", {}, None),
        ("GET", "/rest/api/2/field", {}, None),
        ("GET", "/rest/api/2/search/jql", query, None),
        ("GET", "/rest/api/2/search/jql", {**query, "nextPageToken": ["t2"]}, None),
    ]
    assert source.requests.total == 4  # the connect's two, then one per 100 labelled issues


def test_jira_server_labels_page_by_start_at() -> None:
    transport = Transport(
        (200, {**SERVER_INFO, "deploymentType": "Server"}),
        (200, [*JIRA_FIELDS, {"id": "customfield_10008", "clauseNames": ["Epic Link"]}]),
        (200, {"startAt": 0, "total": 2, "issues": [labelled("ONB-1", "kr:ONB-2")]}),
        (200, {"startAt": 1, "total": 2, "issues": [labelled("ONB-2")]}),
    )
    source = jira(transport, Sleeps(), email=None)

    assert source.labels_in_use() == {"kr:ONB-2"}

    def search(start: int) -> tuple[str, str, dict[str, list[str]], None]:
        query = {
            "jql": ["(project = ONB) AND labels is not EMPTY ORDER BY key ASC"],
            "startAt": [str(start)],
            "validateQuery": ["True"],
            "fields": ["labels"],
            "maxResults": ["1000"],  # Server's most a page; it answered fewer
        }
        return ("GET", "/rest/api/2/search", query, None)

    assert transport.shapes()[2:] == [search(0), search(1)]
    assert source.requests.total == 4


def gh_label(name: str) -> dict[str, Any]:
    return {"id": 1, "name": name, "color": "ededed", "default": False, "description": None}


def test_github_labels_are_each_repositorys_label_list_following_link() -> None:
    next_url = "https://api.github.com/repositories/1/labels?per_page=100&page=2"
    transport = Transport(
        (200, [gh_label("okr:SEC2"), gh_label("bug")], {"Link": f'<{next_url}>; rel="next"'}),
        (200, [gh_label("okr:ONB-1")]),
        (200, [gh_label("kr/onb-2")]),
    )
    config = GithubSourceConfig.model_validate({"repos": ["acme/web", "acme/api"]})
    source = GithubSource(config, GITHUB_TOKEN, transport=transport, sleep=Sleeps())

    assert source.labels_in_use() == {"okr:SEC2", "bug", "okr:ONB-1", "kr/onb-2"}

    assert transport.shapes() == [
        ("GET", "/repos/acme/web/labels", {"per_page": ["100"]}, None),
        ("GET", "/repositories/1/labels", {"per_page": ["100"], "page": ["2"]}, None),
        ("GET", "/repos/acme/api/labels", {"per_page": ["100"]}, None),
    ]
    assert source.requests.by_status == {("GET", 200): 3}


def test_asana_tags_are_each_projects_task_listing_asking_tag_names_only() -> None:
    transport = Transport(
        (
            200,
            {
                "data": [{"gid": "1", "tags": [{"gid": "7", "name": "okr:ONB-1"}]}],
                "next_page": {"offset": "abc", "path": "/tasks?offset=abc", "uri": "u"},
            },
        ),
        (200, {"data": [{"gid": "2", "tags": []}], "next_page": None}),
    )
    source = asana(transport, Sleeps())

    assert source.labels_in_use() == {"okr:ONB-1"}

    query = {"project": ["11"], "opt_fields": ["tags.name"], "limit": ["100"]}
    assert transport.shapes() == [
        ("GET", "/api/1.0/tasks", query, None),
        ("GET", "/api/1.0/tasks", {**query, "offset": ["abc"]}, None),
    ]
    assert source.requests.total == 2


def test_a_401_on_the_label_listing_is_an_auth_error_without_the_token() -> None:
    transport = Transport((401, {"message": "Bad credentials"}))
    with pytest.raises(AuthError) as raised:
        github(transport, Sleeps()).labels_in_use()
    assert str(raised.value) == (
        "github: GET /repos/acme/web/labels: HTTP 401: check the token and its permissions"
    )
    assert GITHUB_TOKEN not in str(raised.value) and len(transport.sent) == 1
