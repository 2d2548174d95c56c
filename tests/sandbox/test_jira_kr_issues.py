"""KR issues end to end (`writeback.jira.kr_issues`): `okrsync sync --once` with the real
`jira` library over HTTP against the sandbox, which checks every exchange against
Atlassian's description.

Two KRs: ONB-1 carried by epic APP-1 (labelled `okr:ONB-1`, two stories, one done), and
ONB-2 with no work. Each gets one issue in project OKR, type "Key Result", created once
(found again by its `okrsync.kr` property when the store lost its key: one search of the
project's issues of that type asking for the property, no JQL on it), with the KR's
fields, a description listing its top-level work, and a "Relates" link to each mapped
Jira item.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from okrsync.cli import main
from okrsync_sandbox import JiraSandbox
from okrsync_sandbox._server import RecordedRequest
from okrsync_sandbox.jira import KR_PROGRESS_FIELD, OKR_HEALTH_FIELD

from .helpers import ONB_OBJECTIVE, jira_config_head, server_client

pytestmark = pytest.mark.integration

EMAIL, TOKEN = "bot@acme.example", "sandbox-secret-token"
CYCLES = ("2026-11-24T12:00:00Z", "2026-11-24T13:00:00Z", "2026-11-24T14:00:00Z")


@pytest.fixture(params=["cloud", "server"])
def jira(request: pytest.FixtureRequest) -> Iterator[JiraSandbox]:
    with JiraSandbox(mode=request.param, email=EMAIL, token=TOKEN) as sandbox:
        sandbox.add_project("OKR", "Objectives and key results")
        yield sandbox
        assert sandbox.violations == []  # every request and response matched the description


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKR_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("OKR_JIRA_TOKEN", TOKEN)


@pytest.fixture
def epic(jira: JiraSandbox) -> str:
    key = jira.add_issue("APP", "Setup wizard [x|y] {code}", issuetype="Epic", labels=["okr:ONB-1"])
    jira.add_issue("APP", "Step one", status="Done", parent=key)
    jira.add_issue("APP", "Step two", status="In Progress", parent=key)
    return key


def write_config(tmp_path: Path, jira: JiraSandbox, jql: str = "project = APP") -> Path:
    path = tmp_path / "okrsync.yaml"
    path.write_text(
        jira_config_head(tmp_path, jira, jql)
        + ONB_OBJECTIVE
        + """\
      - id: ONB-2
        title: Time to first value under 10 min
        kind: delivery
writeback:
  jira:
    comment: false
    fields: {OKR Health: health, KR Progress: outcome}
    kr_issues: {project: OKR, issue_type: Key Result}
"""
    )
    return path


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), "--log-format", "json", *args])


def sync(config: Path, now: str) -> int:
    return run(config, "sync", "--once", "--now", now)


def writes(jira: JiraSandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in jira.writes]


def searches(jira: JiraSandbox) -> list[RecordedRequest]:
    return [r for r in jira.requests if r.path.endswith(("/search", "/search/jql"))]


def creates(jira: JiraSandbox) -> int:
    return sum(1 for method, path in writes(jira) if method == "POST" and path.endswith("/issue"))


def kr_issues(jira: JiraSandbox) -> dict[str, str]:
    """KR id -> key of each issue carrying the `okrsync.kr` property."""
    return {
        jira.properties(key)["okrsync.kr"]["kr"]: key
        for key in jira.created_issues()
        if "okrsync.kr" in jira.properties(key)
    }


def status_items(status: Any) -> list[str]:
    """Every item key the status JSON names (its unmapped items, its problems' items)."""
    found = list(status["unmapped"]["items"])
    found += [problem["item"] for problem in status.get("problems", [])]
    return [str(ref).rpartition(":")[2] for ref in found]


def description_text(jira: JiraSandbox, key: str) -> str:
    description: Any = jira.issue(key)["description"]
    if isinstance(description, dict):  # an ADF document (Cloud)
        from okrsync.render.adf import adf_text

        return adf_text(description)
    return str(description)


@pytest.mark.usefixtures("env")
def test_three_cycles_create_each_kr_issue_once_with_fields_description_and_links(
    tmp_path: Path, jira: JiraSandbox, epic: str
) -> None:
    config = write_config(tmp_path, jira)
    assert run(config, "metric", "set", "ONB-1", "74.8", "--at", "2026-11-20T00:00:00Z") == 0

    assert sync(config, CYCLES[0]) == 0

    found = kr_issues(jira)
    assert sorted(found) == ["ONB-1", "ONB-2"]
    assert creates(jira) == 2
    one, two = jira.issue(found["ONB-1"]), jira.issue(found["ONB-2"])
    assert (one["project"], one["issuetype"]) == ("OKR", "Key Result")
    assert one["summary"] == "ONB-1: Completion from 68% to 85%"
    assert two["summary"] == "ONB-2: Time to first value under 10 min"
    # The KR's own numbers: at risk, 40% of the way; ONB-2's delivery KR has no work.
    assert one["custom_fields"][OKR_HEALTH_FIELD]["value"] == "At risk"
    assert one["custom_fields"][KR_PROGRESS_FIELD] == 40.0
    assert one["links"] == [("Relates", epic)] and two["links"] == []
    text = description_text(jira, found["ONB-1"])
    assert epic in text and "Setup wizard" in text and "Jira" in text
    assert "No work is linked" in description_text(jira, found["ONB-2"])
    if jira.mode == "server":  # wiki markup: the untrusted title inert, the key linked
        assert f"[{epic}|{jira.url}/browse/{epic}]" in text
        assert "Setup wizard \\[x\\|y\\] \\{code\\}" in text
    else:
        assert "Setup wizard [x|y] {code}" in text  # a text node: no markup can come of it
    # The pull (3), the epic's fields (editmeta, PUT); one search for every KR issue;
    # per KR the create; the OKR project's editmeta once; each KR's fields; ONB-1's link.
    assert len(jira.requests) == 3 + 2 + 1 + 2 + 1 + 2 + 1
    assert len(searches(jira)) == 2  # the pull's and the KR issues'
    jira.reset_log()

    for now in CYCLES[1:]:
        assert sync(config, now) == 0
        assert jira.writes == []  # unchanged: nothing written, nothing searched
        assert len(jira.requests) == 3  # the pull's serverInfo, field and search alone
        jira.reset_log()
    assert kr_issues(jira) == found and len(jira.created_issues()) == 2


@pytest.mark.usefixtures("env")
def test_a_lost_store_finds_the_kr_issues_by_their_property(
    tmp_path: Path, jira: JiraSandbox, epic: str
) -> None:
    """As with a plain API token on real Jira, no app declared `okrsync.kr` for indexing:
    JQL on the property finds nothing. The KR issues are found all the same."""
    jira.property_jql_indexed = False
    mine = jira.add_issue("OKR", "A person's own", issuetype="Key Result")  # no property
    config = write_config(tmp_path, jira)
    assert sync(config, CYCLES[0]) == 0
    found = kr_issues(jira)
    (tmp_path / "okrsync.db").unlink()
    jira.reset_log()

    assert sync(config, CYCLES[1]) == 0

    assert creates(jira) == 0 and kr_issues(jira) == found
    assert jira.issue(found["ONB-1"])["links"] == [("Relates", epic)]  # not linked twice
    assert jira.issue(mine)["summary"] == "A person's own"  # left alone
    (search,) = [r for r in searches(jira) if "okrsync.kr" in str(r.query)]  # one for all
    assert search.query["jql"] == ['project = "OKR" AND issuetype = "Key Result" ORDER BY key ASC']
    assert search.query["properties"] == ["okrsync.kr"]
    assert not any("issue.property" in str(r.query) + str(r.body) for r in jira.requests)


@pytest.mark.usefixtures("env")
def test_links_follow_the_mapping_and_a_persons_link_is_left_alone(
    tmp_path: Path, jira: JiraSandbox, epic: str
) -> None:
    config = write_config(tmp_path, jira)
    assert sync(config, CYCLES[0]) == 0
    kr_issue = kr_issues(jira)["ONB-1"]
    other = jira.add_issue("APP", "Docs", issuetype="Epic", labels=["okr:ONB-1"])
    unrelated = jira.add_issue("APP", "Not OKR work", issuetype="Epic")
    jira.add_link("Relates", kr_issue, unrelated)  # a person's link
    jira.reset_log()

    assert sync(config, CYCLES[1]) == 0

    assert jira.issue(kr_issue)["links"] == sorted(
        [("Relates", epic), ("Relates", other), ("Relates", unrelated)]
    )
    assert ("POST", "/rest/api/2/issueLink") in writes(jira)
    jira.set_labels(epic, [])
    jira.reset_log()

    assert sync(config, CYCLES[2]) == 0

    assert jira.issue(kr_issue)["links"] == sorted([("Relates", other), ("Relates", unrelated)])
    assert [m for m, p in writes(jira) if "issueLink" in p] == ["DELETE"]
    # For the KR issue: its description PUT, its links read once, the one DELETE.
    assert [
        (
            r.method,
            r.path.rsplit("/", 2)[-2] if "issueLink/" in r.path else r.path.rsplit("/", 1)[-1],
        )
        for r in jira.requests
        if kr_issue in r.path or "issueLink" in r.path
    ] == [("PUT", kr_issue), ("GET", kr_issue), ("DELETE", "issueLink")]
    assert other in description_text(jira, kr_issue)
    assert epic not in description_text(jira, kr_issue)


@pytest.mark.usefixtures("env")
def test_kr_issues_the_pull_sees_are_no_work(
    tmp_path: Path, jira: JiraSandbox, epic: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, jira, jql="project in (APP, OKR)")
    assert sync(config, CYCLES[0]) == 0
    jira.reset_log()

    assert sync(config, CYCLES[1]) == 0

    assert creates(jira) == 0 and jira.writes == []
    assert any(r.path.endswith(("/search", "/jql")) for r in jira.requests)
    from okrsync.store import Store

    store = Store(f"sqlite:///{tmp_path / 'okrsync.db'}")
    try:  # the search saw OKR-1 and OKR-2; the store holds the APP issues alone
        assert sorted(item.key for item in store.items("jira")) == ["APP-1", "APP-2", "APP-3"]
    finally:
        store.close()
    capsys.readouterr()
    assert run(config, "status", "--format", "json", "--now", CYCLES[1]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["unmapped"]["items"] == []  # the KR issues are not unmapped work
    assert all(not key.startswith("OKR-") for key in status_items(status))


@pytest.mark.usefixtures("env")
def test_two_issues_with_one_kr_keep_the_oldest_and_leave_the_other(
    tmp_path: Path, jira: JiraSandbox, epic: str
) -> None:
    older = jira.add_issue("OKR", "ONB-1 by hand", issuetype="Key Result")
    newer = jira.add_issue("OKR", "ONB-1 again", issuetype="Key Result")
    for key in (older, newer):
        jira.find_issue(key).properties["okrsync.kr"] = {"kr": "ONB-1"}
    config = write_config(tmp_path, jira)

    assert sync(config, CYCLES[0]) == 0

    assert jira.issue(older)["summary"] == "ONB-1: Completion from 68% to 85%"
    assert jira.issue(older)["links"] == [("Relates", epic)]
    assert jira.issue(newer)["summary"] == "ONB-1 again"  # left alone, not deleted
    assert creates(jira) == 1  # ONB-2's


@pytest.mark.usefixtures("env")
def test_two_processes_over_three_cycles_create_each_kr_issue_once(
    tmp_path: Path, jira: JiraSandbox, epic: str
) -> None:
    """Two `okrsync sync --once` processes at a time on one store, three times: the
    `pull:jira` lease lets one write while the other waits, then finds the keys stored."""
    config = write_config(tmp_path, jira)
    assert run(config, "validate") == 0
    program = "import sys; from okrsync.cli import main; sys.exit(main(sys.argv[1:]))"
    for now in CYCLES:
        command = [sys.executable, "-c", program, "--config", str(config), "sync", "--once"]
        command += ["--now", now, "--wait", "60"]
        processes = [
            subprocess.Popen(
                command, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        for process in processes:
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr.decode()[-2000:]

    assert creates(jira) == 2
    assert sorted(kr_issues(jira)) == ["ONB-1", "ONB-2"]
    assert len(jira.created_issues()) == 2
    assert jira.issue(kr_issues(jira)["ONB-1"])["links"] == [("Relates", epic)]
    link_posts = [p for m, p in writes(jira) if m == "POST" and p.endswith("/issueLink")]
    assert len(link_posts) == 1


# ------------------------------------------------------------------ the sandbox itself


@pytest.fixture
def plain(request: pytest.FixtureRequest) -> Iterator[JiraSandbox]:
    """A sandbox with the helpers' default credentials, for the `jira` library's clients."""
    with JiraSandbox(mode="server") as sandbox:
        yield sandbox
        assert sandbox.violations == []


def test_jql_finds_issues_by_an_entity_property_at_a_path(plain: JiraSandbox) -> None:

    first = plain.add_issue("APP", "One")
    second = plain.add_issue("APP", "Two")
    plain.find_issue(first).properties["okrsync.kr"] = {"kr": "ONB-1", "meta": {"n": 3}}
    plain.find_issue(second).properties["okrsync.kr"] = {"kr": ["ONB-2", "onb-3"]}
    client = server_client(plain)

    def keys(jql: str) -> list[str]:
        return [issue.key for issue in client.search_issues(jql, fields="summary")]

    assert keys('issue.property[okrsync.kr].kr = "ONB-1"') == [first]
    assert keys('issue.property[okrsync.kr].kr = "onb-3"') == [second]  # any case, lists
    assert keys("issue.property[okrsync.kr].meta.n = 3") == [first]
    assert keys('issue.property[okrsync.kr].kr in ("ONB-1", "ONB-2") ORDER BY key ASC') == [
        first,
        second,
    ]
    assert keys('issue.property[other].kr = "ONB-1"') == []
    assert keys("project = APP AND issue.property[okrsync.kr].kr is EMPTY") == []


def test_without_indexing_jql_on_a_property_finds_nothing_but_a_search_shows_it(
    plain: JiraSandbox,
) -> None:
    first = plain.add_issue("APP", "One")
    plain.add_issue("APP", "Two")
    plain.find_issue(first).properties["okrsync.kr"] = {"kr": "ONB-1"}
    client = server_client(plain)
    plain.property_jql_indexed = False

    assert client.search_issues('issue.property[okrsync.kr].kr = "ONB-1"', fields="id") == []
    page = client.search_issues(
        "project = APP ORDER BY key ASC", fields="created", properties="okrsync.kr,other"
    )
    assert [issue.raw.get("properties") for issue in page] == [
        {"okrsync.kr": {"kr": "ONB-1"}},
        {},
    ]
    assert "properties" not in client.search_issues("project = APP", fields="created")[0].raw
    from jira.exceptions import JIRAError

    with pytest.raises(JIRAError) as too_many:
        client.search_issues("project = APP", properties="a,b,c,d,e,f")
    assert too_many.value.status_code == 400


def test_issues_are_created_with_the_library_and_linked_as_okrsync_links_them(
    plain: JiraSandbox,
) -> None:
    import requests
    from jira.exceptions import JIRAError

    plain.add_project("OKR")
    epic = plain.add_issue("APP", "Epic", issuetype="Epic")
    client = server_client(plain)
    auth = {"Authorization": f"Bearer {plain.token}"}

    def link(link_type: str, inward: str, outward: str) -> int:
        body = {
            "type": {"name": link_type},
            "inwardIssue": {"key": inward},
            "outwardIssue": {"key": outward},
        }
        url = f"{plain.url}/rest/api/2/issueLink"
        return requests.post(url, json=body, headers=auth, timeout=10).status_code

    created = client.create_issue(
        fields={
            "project": {"key": "OKR"},
            "issuetype": {"name": "Key Result"},
            "summary": "ONB-1: Completion",
            "description": "h4. Jira",
        }
    )
    assert link("Relates", created.key, epic) == 201
    assert link("Relates", created.key, epic) == 201  # the same link again: still one

    assert plain.issue(created.key)["description"] == "h4. Jira"
    assert plain.issue(created.key)["links"] == [("Relates", epic)]
    (shown,) = client.issue(created.key, fields="issuelinks").fields.issuelinks
    assert shown.outwardIssue.key == epic and shown.type.name == "Relates"
    (back,) = client.issue(epic, fields="issuelinks").fields.issuelinks
    assert back.inwardIssue.key == created.key and back.id == shown.id
    client.delete_issue_link(shown.id)
    assert plain.issue(created.key)["links"] == [] and plain.issue(epic)["links"] == []
    assert link("Nope", created.key, epic) == 404
    assert link("Relates", epic, epic) == 400
    assert {t.name for t in client.issue_link_types()} >= {"Relates", "Blocks"}
    with pytest.raises(JIRAError) as no_type:
        client.create_issue(
            fields={"project": {"key": "OKR"}, "summary": "x", "issuetype": {"name": "Saga"}}
        )
    assert no_type.value.status_code == 400
