"""`jql_count` and `github_search_count` against the Jira and GitHub sandboxes (every
exchange checked against the vendors' descriptions), rate limits and failures included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from okrsync.config import GithubSearchCountMetric
from okrsync.metrics._base import ReadContext, TokenBucket, github_search_bucket
from okrsync.metrics.github import read_github_search_count
from okrsync.sources import FatalError, RetriableError
from okrsync.sources.github import GithubSource, GithubSourceConfig
from okrsync.sources.jira import JiraSource, JiraSourceConfig
from okrsync_sandbox import GitHubSandbox, JiraSandbox

from .helpers import EMAIL, TOKEN, Clock

GITHUB_TOKEN = "ghp_metrics"


@pytest.fixture(params=["cloud", "server"])
def jira(request: pytest.FixtureRequest) -> Iterator[JiraSandbox]:
    with JiraSandbox(mode=request.param, email=EMAIL, token=TOKEN) as sandbox:
        sandbox.now = Clock()
        sandbox.add_project("SUP")
        sandbox.add_project("ONB")
        for n in range(7):
            sandbox.add_issue("SUP", f"bug {n}", labels=["new-user"] if n % 2 else [])
        sandbox.add_issue("ONB", "other")
        yield sandbox
        assert sandbox.violations == []


def _jira_source(sandbox: JiraSandbox) -> JiraSource:
    cloud = sandbox.mode == "cloud"
    auth = {"email_env": "E", "token_env": "T"} if cloud else {"token_env": "T"}
    config = JiraSourceConfig.model_validate(
        {"url": sandbox.url, "jql": "project = SUP", "auth": auth}
    )
    return JiraSource(config, TOKEN, EMAIL if cloud else None, sleep=lambda s: None)


def test_jql_count_one_request_per_reading(jira: JiraSandbox) -> None:
    source = _jira_source(jira)
    before = source.requests.total  # the connect: serverInfo and the field list
    assert source.count("project = SUP") == 7
    assert source.count("project = SUP AND labels = new-user") == 3
    assert source.count("project = ONB AND labels = new-user") == 0
    assert source.requests.total - before == 3
    expected = {("GET", 200): 2, ("POST", 200): 3} if jira.mode == "cloud" else {("GET", 200): 5}
    assert source.requests.by_status == expected
    source.close()


def test_jql_count_bad_jql_is_fatal(jira: JiraSandbox) -> None:
    source = _jira_source(jira)
    with pytest.raises(FatalError, match="HTTP 400"):
        source.count("project = NOPE")
    source.close()


def test_jql_count_unbounded_is_refused_on_cloud() -> None:
    with JiraSandbox(mode="cloud", email=EMAIL, token=TOKEN) as sandbox:
        source = _jira_source(sandbox)
        with pytest.raises(FatalError, match="Unbounded JQL"):
            source.count("order by key")
        source.close()
        assert sandbox.violations == []


def test_jql_count_5xx_is_retried_then_fails(jira: JiraSandbox) -> None:
    from okrsync_sandbox._server import Fault

    source = _jira_source(jira)
    jira.inject_faults(5, Fault(500))
    with pytest.raises(RetriableError, match="HTTP 500"):
        source.count("project = SUP")
    jira.inject_faults(1, Fault(503))
    assert source.count("project = SUP") == 7  # one retry, then the answer
    source.close()


# --- GitHub issue search ----------------------------------------------------------


@pytest.fixture
def github() -> Iterator[tuple[GitHubSandbox, Clock]]:
    clock = Clock()
    with GitHubSandbox(token=GITHUB_TOKEN) as sandbox:
        sandbox.now = clock
        sandbox.add_issue("acme/web", "Crash on login", labels=["bug"])
        sandbox.add_issue("acme/web", "Slow page", labels=["bug", "perf"])
        sandbox.add_issue("acme/web", "Docs", labels=["docs"])
        closed = sandbox.add_issue("acme/web", "Old bug", labels=["bug"])
        sandbox.close_issue("acme/web", closed)
        sandbox.add_issue("acme/api", "API bug", labels=["bug"])
        yield sandbox, clock
        assert sandbox.violations == []


def _github_source(sandbox: GitHubSandbox, clock: Clock, sleeps: list[float]) -> GithubSource:
    config = GithubSourceConfig(url=sandbox.url, repos=["acme/web"], seconds_between_requests=0)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds=seconds)

    return GithubSource(config, GITHUB_TOKEN, sleep=sleep, clock=lambda: clock().timestamp())


def test_search_count_totals(github: tuple[GitHubSandbox, Clock]) -> None:
    sandbox, clock = github
    source = _github_source(sandbox, clock, [])
    assert source.search_count("repo:acme/web is:issue is:open label:bug") == 2
    assert source.search_count("repo:acme/web is:issue label:bug") == 3
    assert source.search_count("is:issue is:open label:bug") == 3
    assert source.search_count("repo:acme/web -label:bug") == 1
    assert source.search_count("repo:acme/web crash") == 1
    assert source.requests.by_status == {("GET", 200): 5}
    # Searches spend the search minute, not the hour's core requests.
    assert sandbox.search_remaining == 25
    assert sandbox.rate_limit_remaining == 5000
    source.close()


@pytest.mark.parametrize("status", [403, 429])
def test_search_limit_answer_is_waited_out_and_retried(
    github: tuple[GitHubSandbox, Clock], status: int
) -> None:
    sandbox, clock = github
    sandbox.search_limit_status = status
    sleeps: list[float] = []
    source = _github_source(sandbox, clock, sleeps)
    for _ in range(29):
        source.search_count("repo:acme/web label:bug")
    assert sleeps == []
    # The 30th would spend the minute's last search: it waits for the reset first (the
    # answers' X-RateLimit-Remaining said 1 left), and nothing is refused.
    assert source.search_count("repo:acme/web label:bug") == 3
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 60
    assert set(source.requests.by_status) == {("GET", 200)}
    # Someone else spent the minute behind the connector's back: GitHub's answer names
    # the reset, and the retry waits for it.
    sandbox.search_remaining = 0
    assert source.search_count("repo:acme/web label:bug") == 3
    assert len(sleeps) == 2 and 0 < sleeps[1] <= 60
    assert source.requests.by_status[("GET", status)] == 1
    source.close()


def test_search_bucket_keeps_readings_under_30_a_minute(
    github: tuple[GitHubSandbox, Clock],
) -> None:
    sandbox, clock = github
    connector_sleeps: list[float] = []
    source = _github_source(sandbox, clock, connector_sleeps)
    start = clock()
    bucket = github_search_bucket(
        clock=lambda: (clock() - start).total_seconds(),
        sleep=lambda seconds: None if clock.advance(seconds=seconds) else None,
    )
    context = ReadContext(clock(), {}, Path("."), lambda name: source, search_bucket=bucket)
    metric = GithubSearchCountMetric(type="github_search_count", query="repo:acme/web label:bug")
    for _ in range(70):
        assert read_github_search_count(metric, context) == 3.0
    # Never refused: 10 at once, then one every 3 s; 70 readings take 3 minutes.
    assert source.requests.by_status == {("GET", 200): 70}
    assert connector_sleeps == []
    assert clock() - start == timedelta(seconds=180)
    source.close()


def test_token_bucket_spacing() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(2, 30, clock=lambda: now[0], sleep=sleep)
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 2.0, 2.0]
    now[0] += 10  # refills to capacity, not beyond
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 2.0]


def test_search_without_q_is_a_422(github: tuple[GitHubSandbox, Clock]) -> None:
    sandbox, clock = github
    source = _github_source(sandbox, clock, [])
    with pytest.raises(FatalError, match="HTTP 422"):
        source.search_count(" ")
    source.close()
