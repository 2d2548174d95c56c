"""Adoption against the sandboxes: okrsync adopts only the comments its own account wrote.

Someone else's comment carrying the marker (the Jira property, the GitHub HTML comment, the
Asana link) is left alone and okrsync posts its own; two or more of okrsync's own are merged
into the oldest. The account is asked for (`/myself`, `/user`, `/users/me`) once per
connection, and only when a marked comment turns up. Every exchange is checked against the
vendors' descriptions (each fixture asserts no violation at teardown).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import requests
from structlog.testing import capture_logs

from okrsync.sources import PlannedWrite
from okrsync.sources.asana import MARKER_LINK, MARKER_URL, AsanaSource, AsanaSourceConfig
from okrsync.sources.github import MARKER, GithubSource, GithubSourceConfig
from okrsync.sources.jira import MARKER_PROPERTY, JiraSource, JiraSourceConfig
from okrsync_sandbox import AsanaSandbox, GitHubSandbox, JiraSandbox

from .helpers import EMAIL, TOKEN, Clock

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Use of allowEmptyValue:DeprecationWarning"),
]

GITHUB_TOKEN = "ghp_sandboxtoken"
ASANA_TOKEN = "asana-sandbox-token"
INSTALLATION_TOKEN = "ghs_installation"
APP_ID = 424242


def no_sleep(_: float) -> None:
    pass


def events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


def paths(requests_made: list[Any], method: str) -> list[str]:
    return [r.path for r in requests_made if r.method == method]


# --------------------------------------------------------------------------- Jira


@pytest.fixture(params=["cloud", "server"])
def jira(request: pytest.FixtureRequest) -> Iterator[JiraSandbox]:
    with JiraSandbox(mode=request.param, email=EMAIL, token=TOKEN) as sandbox:
        sandbox.now = Clock()
        yield sandbox
        assert sandbox.violations == []


def jira_source(sandbox: JiraSandbox) -> JiraSource:
    cloud = sandbox.mode == "cloud"
    auth = {"email_env": "E", "token_env": "T"} if cloud else {"token_env": "T"}
    config = JiraSourceConfig.model_validate(
        {"url": sandbox.url, "jql": "project = ONB", "auth": auth}
    )
    return JiraSource(config, TOKEN, EMAIL if cloud else None, sleep=no_sleep)


def jira_write(key: str, body: str = "h3. OKR status") -> PlannedWrite:
    return PlannedWrite(f"jira:{key}", "jira", key, body, "h", None)


def test_jira_someone_elses_marked_comment_is_left_alone(jira: JiraSandbox) -> None:
    key = jira.add_issue("ONB", "Epic", issuetype="Epic")
    human = jira.add_comment(key, "copied from okrsync", {MARKER_PROPERTY: {"target": "x"}})
    source = jira_source(jira)
    jira.reset_log()

    with capture_logs() as logs:
        first = source.apply(jira_write(key))
        again = source.apply(jira_write("ONB-1", "h3. OKR status v2"))

    comments = jira.comments(key)
    assert [c["id"] for c in comments] == [human, first.remote_id]
    assert comments[0]["body"] == "copied from okrsync"  # untouched
    assert (first.action, again.action) == ("created", "edited")
    assert again.remote_id == first.remote_id
    assert paths(jira.requests, "GET").count("/rest/api/2/myself") == 1  # once a connection
    ignored = events(logs, "writeback.foreign_marker_ignored")
    assert [(e["target"], e["comment_id"]) for e in ignored] == [(f"jira:{key}", human)]


def test_jira_duplicates_by_okrsync_are_merged_into_the_oldest(jira: JiraSandbox) -> None:
    key = jira.add_issue("ONB", "Epic", issuetype="Epic")
    marker = {MARKER_PROPERTY: {"target": f"jira:{key}"}}
    oldest = jira.add_comment(key, "old 1", marker, author=jira.api_user)
    newer = jira.add_comment(key, "old 2", marker, author=jira.api_user)
    human = jira.add_comment(key, "a person's note")
    source = jira_source(jira)

    with capture_logs() as logs:
        outcome = source.apply(jira_write(key))

    assert (outcome.remote_id, outcome.action) == (oldest, "edited")
    assert [(c["id"], c["body"]) for c in jira.comments(key)] == [
        (oldest, "h3. OKR status"),
        (human, "a person's note"),
    ]
    (removed,) = events(logs, "writeback.duplicate_removed")
    assert (removed["target"], removed["kept"], removed["removed"]) == (
        f"jira:{key}",
        oldest,
        [newer],
    )
    assert paths(jira.writes, "DELETE") == [f"/rest/api/2/issue/{key}/comment/{newer}"]


def test_jira_without_a_marked_comment_the_account_is_never_asked(jira: JiraSandbox) -> None:
    key = jira.add_issue("ONB", "Epic", issuetype="Epic")
    jira.add_comment(key, "a person's note")
    source = jira_source(jira)
    jira.reset_log()

    source.apply(jira_write(key))

    assert [(r.method, r.path) for r in jira.requests] == [
        ("GET", f"/rest/api/2/issue/{key}/comment"),
        ("POST", f"/rest/api/2/issue/{key}/comment"),
    ]


# --------------------------------------------------------------------------- GitHub


@pytest.fixture
def github() -> Iterator[GitHubSandbox]:
    with GitHubSandbox(token=GITHUB_TOKEN) as sandbox:
        sandbox.now = Clock()
        sandbox.add_repo("acme/web")
        yield sandbox
        assert sandbox.violations == []


def github_config(sandbox: GitHubSandbox, **extra: Any) -> GithubSourceConfig:
    values = {
        "url": sandbox.url,
        "repos": ["acme/web"],
        "seconds_between_requests": 0,
        "seconds_between_writes": 0,
        **extra,
    }
    return GithubSourceConfig.model_validate(values)


def github_write(number: int, body: str = "### OKR status") -> PlannedWrite:
    key = f"acme/web#{number}"
    return PlannedWrite(f"github:{key}", "github", key, body, "h", None)


def test_github_someone_elses_marked_comment_is_left_alone(github: GitHubSandbox) -> None:
    number = github.add_issue("acme/web", "Epic")
    human = github.add_comment("acme/web", number, f"{MARKER}\nquoted by a person")
    source = GithubSource(github_config(github), GITHUB_TOKEN, sleep=no_sleep)

    with capture_logs() as logs:
        outcome = source.apply(github_write(number))

    comments = github.comments("acme/web", number)
    assert [(c["id"], c["user"]) for c in comments] == [
        (human, "alex"),
        (int(outcome.remote_id), "okrsync"),
    ]
    assert comments[0]["body"] == f"{MARKER}\nquoted by a person"
    assert outcome.action == "created"
    assert paths(github.requests, "GET").count("/user") == 1
    assert len(events(logs, "writeback.foreign_marker_ignored")) == 1


def test_github_duplicates_by_okrsync_are_merged_into_the_oldest(github: GitHubSandbox) -> None:
    number = github.add_issue("acme/web", "Epic")
    oldest = github.add_comment("acme/web", number, f"{MARKER}\nv1", user=github.api_login)
    newer = github.add_comment("acme/web", number, f"{MARKER}\nv1 again", user=github.api_login)
    source = GithubSource(github_config(github), GITHUB_TOKEN, sleep=no_sleep)

    with capture_logs() as logs:
        outcome = source.apply(github_write(number))

    assert (outcome.remote_id, outcome.action) == (str(oldest), "edited")
    assert [(c["id"], c["body"]) for c in github.comments("acme/web", number)] == [
        (oldest, f"{MARKER}\n### OKR status")
    ]
    (removed,) = events(logs, "writeback.duplicate_removed")
    assert (removed["kept"], removed["removed"]) == (str(oldest), [str(newer)])


def test_github_app_adopts_what_it_wrote_through_the_app_and_never_asks_for_user(
    github: GitHubSandbox, tmp_path: Any
) -> None:
    bot = github.add_app_installation(APP_ID, token=INSTALLATION_TOKEN)
    number = github.add_issue("acme/web", "Epic")
    github.add_comment("acme/web", number, f"{MARKER}\nby a person")
    config = github_config(
        github,
        token_env=None,
        app={"app_id": APP_ID, "private_key_file": str(tmp_path / "k"), "installation_id": 1},
    )
    session = requests.Session()

    def as_installation(request: requests.PreparedRequest) -> requests.Response:
        request.headers["Authorization"] = f"token {INSTALLATION_TOKEN}"
        return session.send(request, timeout=10)

    source = GithubSource(config, None, sleep=no_sleep, transport=as_installation)
    created = source.apply(github_write(number))
    edited = source.apply(github_write(number, "### OKR status v2"))
    session.close()

    comments = github.comments("acme/web", number)
    assert [c["user"] for c in comments] == ["alex", bot]
    assert comments[1]["body"] == f"{MARKER}\n### OKR status v2"
    assert (created.action, edited.action) == ("created", "edited")
    assert edited.remote_id == created.remote_id
    assert "/user" not in paths(github.requests, "GET")


def test_github_app_installation_has_no_user(github: GitHubSandbox) -> None:
    github.add_app_installation(APP_ID, token=INSTALLATION_TOKEN)
    answer = requests.get(
        f"{github.url}/user", headers={"Authorization": f"token {INSTALLATION_TOKEN}"}, timeout=10
    )
    assert answer.status_code == 403
    assert answer.json()["message"] == "Resource not accessible by integration"


# --------------------------------------------------------------------------- Asana


@pytest.fixture
def asana() -> Iterator[AsanaSandbox]:
    with AsanaSandbox(token=ASANA_TOKEN) as sandbox:
        sandbox.now = Clock()
        yield sandbox
        assert sandbox.violations == []


def asana_source(sandbox: AsanaSandbox, project: str) -> AsanaSource:
    config = AsanaSourceConfig.model_validate({"url": sandbox.url, "projects": [project]})
    return AsanaSource(config, ASANA_TOKEN, sleep=no_sleep)


def asana_write(task: str, body: str = "<body><strong>OKR</strong></body>") -> PlannedWrite:
    return PlannedWrite(f"asana:{task}", "asana", task, body, "h", None)


def test_asana_someone_elses_marked_comment_is_left_alone_not_a_403(asana: AsanaSandbox) -> None:
    project = asana.add_project("Onboarding")
    task = asana.add_task(project, "Epic")
    human = asana.add_comment(task, "", html_text=f"<body>copied {MARKER_LINK}</body>")
    source = asana_source(asana, project)

    with capture_logs() as logs:
        outcome = source.apply(asana_write(task))

    stories = asana.stories(task)
    assert [s["gid"] for s in stories] == [human, outcome.remote_id]
    assert stories[0]["html_text"] == f"<body>copied {MARKER_LINK}</body>"
    assert outcome.action == "created"
    assert all(r.status < 400 for r in asana.requests)  # no edit of someone else's story
    assert paths(asana.requests, "GET").count("/api/1.0/users/me") == 1
    assert len(events(logs, "writeback.foreign_marker_ignored")) == 1


def test_asana_duplicates_by_okrsync_are_merged_into_the_oldest(asana: AsanaSandbox) -> None:
    project = asana.add_project("Onboarding")
    task = asana.add_task(project, "Epic")
    marked = f"<body>old\n{MARKER_LINK}</body>"
    oldest = asana.add_comment(task, "", html_text=marked, author=asana.me)
    newer = asana.add_comment(task, "", html_text=marked, author=asana.me)
    source = asana_source(asana, project)

    with capture_logs() as logs:
        outcome = source.apply(asana_write(task))

    assert (outcome.remote_id, outcome.action) == (oldest, "edited")
    assert [s["gid"] for s in asana.stories(task)] == [oldest]
    (removed,) = events(logs, "writeback.duplicate_removed")
    assert (removed["kept"], removed["removed"]) == (oldest, [newer])


def test_asana_a_title_quoting_the_marker_address_still_gets_the_marker(
    asana: AsanaSandbox,
) -> None:
    project = asana.add_project("Onboarding")
    task = asana.add_task(project, "Epic")
    body = f"<body><strong>KR: see {MARKER_URL}</strong></body>"
    first = asana_source(asana, project).apply(asana_write(task, body))
    # Next cycle, the stored id forgotten: the comment is found again by its marker link.
    second = asana_source(asana, project).apply(asana_write(task, body))

    (story,) = asana.stories(task)
    assert story["html_text"].endswith(f"\n{MARKER_LINK}</body>")
    assert (first.action, second.action) == ("created", "edited")
    assert second.remote_id == first.remote_id


# --------------------------------------------------------------------------- deleted targets


def test_deleted_targets_fail_their_write_only_in_every_sandbox(
    jira: JiraSandbox, github: GitHubSandbox, asana: AsanaSandbox
) -> None:
    from okrsync.sources._errors import TargetGone

    gone, kept = jira.add_issue("ONB", "Gone"), jira.add_issue("ONB", "Kept")
    j = jira_source(jira)
    known = j.apply(jira_write(gone)).remote_id
    jira.delete_issue(gone)
    with pytest.raises(TargetGone, match="the item is gone \\(HTTP 404\\)"):
        j.apply(PlannedWrite(f"jira:{gone}", "jira", gone, "x", "h", known))
    assert j.apply(jira_write(kept)).action == "created"

    number, other = github.add_issue("acme/web", "Gone"), github.add_issue("acme/web", "Kept")
    g = GithubSource(github_config(github), GITHUB_TOKEN, sleep=no_sleep)
    known = g.apply(github_write(number)).remote_id
    github.delete_issue("acme/web", number)
    write = PlannedWrite(
        f"github:acme/web#{number}", "github", f"acme/web#{number}", "x", "h", known
    )
    with pytest.raises(TargetGone, match="the item is gone \\(HTTP 410\\)"):
        g.apply(write)
    assert g.apply(github_write(other)).action == "created"

    project = asana.add_project("Onboarding")
    task, sibling = asana.add_task(project, "Gone"), asana.add_task(project, "Kept")
    a = asana_source(asana, project)
    known = a.apply(asana_write(task)).remote_id
    asana.delete_task(task)
    with pytest.raises(TargetGone, match="the item is gone \\(HTTP 404\\)"):
        a.apply(PlannedWrite(f"asana:{task}", "asana", task, "<body>x</body>", "h", known))
    assert a.apply(asana_write(sibling)).action == "created"
