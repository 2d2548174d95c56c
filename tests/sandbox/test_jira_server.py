"""The Server/Data Center sandbox as the real `jira` library sees it, over HTTP."""

from __future__ import annotations

from typing import Any

import jira
import pytest
import requests
from jira.exceptions import JIRAError

from okrsync_sandbox import EPIC_LINK_FIELD, STORY_POINTS_FIELD, JiraSandbox

from .helpers import EMAIL, TOKEN, server_client

pytestmark = pytest.mark.integration


def search(client: jira.JIRA, jql: str, **kwargs: Any) -> dict[str, Any]:
    result = client.search_issues(jql, json_result=True, **kwargs)
    assert isinstance(result, dict)
    return result


def test_pages_with_start_at_and_total(server: JiraSandbox, server_jira: jira.JIRA) -> None:
    created = {server.add_issue("ONB", f"Issue {n}", issuetype="Task") for n in range(250)}
    seen: list[str] = []
    totals = set()
    for start in range(0, 300, 100):
        page = search(server_jira, "project = ONB", startAt=start, maxResults=100)
        assert page["startAt"] == start and page["maxResults"] == 100
        totals.add(page["total"])
        seen += [issue["key"] for issue in page["issues"]]
    assert totals == {250}
    assert sorted(seen) == sorted(created) and len(seen) == len(set(seen))
    # `validateQuery=True` is what the library sends: accepted, not a violation.
    assert server.requests[-1].query["validateQuery"] == ["True"]


def test_library_pages_by_itself_with_get_and_post(
    server: JiraSandbox, server_jira: jira.JIRA
) -> None:
    for n in range(60):
        server.add_issue("ONB", f"Issue {n}")
    assert len(server_jira.search_issues("project = ONB", maxResults=False)) == 60
    posted = search(server_jira, "project = ONB", maxResults=10, use_post=True, fields="summary")
    assert posted["total"] == 60 and set(posted["issues"][0]["fields"]) == {"summary"}


def test_has_no_enhanced_search(server: JiraSandbox, server_jira: jira.JIRA) -> None:
    with pytest.raises(JIRAError) as missing:
        server_jira._session.get(f"{server.url}/rest/api/2/search/jql", params={"jql": "x"})
    assert missing.value.status_code == 404


def test_stories_link_epics_through_epic_link(server: JiraSandbox, server_jira: jira.JIRA) -> None:
    epic = server.add_issue("ONB", "Epic", issuetype="Epic")
    story = server.add_issue("ONB", "Story", parent=epic, story_points=2)

    fields = server_jira.issue(story).raw["fields"]
    assert fields[EPIC_LINK_FIELD] == epic
    assert fields[STORY_POINTS_FIELD] == 2
    assert "parent" not in fields
    assert "hierarchyLevel" not in fields["issuetype"]  # a Cloud-only attribute
    epic_link = next(f for f in server_jira.fields() if f["id"] == EPIC_LINK_FIELD)
    assert epic_link["schema"]["custom"] == "com.pyxis.greenhopper.jira:gh-epic-link"
    for jql in (f'"Epic Link" = {epic}', f"cf[10014] = {epic}"):
        assert [i["key"] for i in search(server_jira, jql)["issues"]] == [story]
    assert search(server_jira, f"parent = {epic}")["issues"] == []  # sub-tasks only on Server


def test_epic_link_must_name_an_epic(server: JiraSandbox) -> None:
    story = server.add_issue("ONB", "Story")
    with pytest.raises(ValueError, match="not an Epic"):
        server.add_issue("ONB", "Another", parent=story)


def test_validate_query_warn_turns_unknown_values_into_warnings(
    server: JiraSandbox, server_jira: jira.JIRA
) -> None:
    server.add_issue("ONB", "Anything")
    warned = search(server_jira, "project in (ONB, NOPE)", validate_query="warn")
    assert [i["key"] for i in warned["issues"]] == ["ONB-1"]
    assert warned["warningMessages"] == ["The value 'NOPE' does not exist for the field 'project'."]
    with pytest.raises(JIRAError) as refused:
        search(server_jira, "project in (ONB, NOPE)")
    assert refused.value.status_code == 400


def test_authenticates_with_a_bearer_token_only(server: JiraSandbox) -> None:
    with pytest.raises(JIRAError) as refused:
        server_client(server, token="wrong").myself()
    assert refused.value.status_code == 401
    basic = requests.get(f"{server.url}/rest/api/2/myself", auth=(EMAIL, TOKEN))
    assert basic.status_code == 401
    assert basic.json()["errorMessages"][0].startswith("You are not authenticated")


def test_server_info_says_server(server_jira: jira.JIRA) -> None:
    info = server_jira.server_info()
    assert info["deploymentType"] == "Server"
    assert server_jira._is_cloud is False
    assert server_jira.myself()["name"] == "okrsync"
