"""The Cloud sandbox as the real `jira` library sees it, over HTTP."""

from __future__ import annotations

import json
import re
from typing import Any

import jira
import pytest
import requests
from jira.exceptions import JIRAError

from okrsync_sandbox import STORY_POINTS_FIELD, JiraSandbox

from .helpers import EMAIL, START, Clock, cloud_client, epoch_ms, error_json, error_response

pytestmark = pytest.mark.integration

JIRA_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def search(client: jira.JIRA, jql: str, **kwargs: Any) -> dict[str, Any]:
    result = client.enhanced_search_issues(jql, json_result=True, **kwargs)
    assert isinstance(result, dict)
    return result


def keys(result: dict[str, Any]) -> list[str]:
    return [issue["key"] for issue in result["issues"]]


def test_pages_through_250_issues_with_next_page_token(
    cloud: JiraSandbox, cloud_jira: jira.JIRA
) -> None:
    created = {cloud.add_issue("ONB", f"Issue {n}", issuetype="Task") for n in range(250)}
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    token = None
    while True:
        page = search(cloud_jira, "project = ONB", nextPageToken=token, maxResults=100)
        pages.append(page)
        seen += keys(page)
        if page["isLast"]:
            break
        token = page["nextPageToken"]

    assert [len(p["issues"]) for p in pages] == [100, 100, 50]
    assert [p["isLast"] for p in pages] == [False, False, True]
    assert "nextPageToken" not in pages[-1]
    assert all("total" not in p for p in pages)  # enhanced search never counts
    assert sorted(seen) == sorted(created) and len(seen) == len(set(seen))


def test_library_walks_all_pages_itself_and_page_size_is_capped(
    cloud: JiraSandbox, cloud_jira: jira.JIRA
) -> None:
    for n in range(120):
        cloud.add_issue("ONB", f"Issue {n}")
    assert len(cloud_jira.enhanced_search_issues("project = ONB", maxResults=0)) == 120
    assert len(search(cloud_jira, "project = ONB", maxResults=500)["issues"]) == 100


def test_next_page_token_belongs_to_its_query(cloud: JiraSandbox, cloud_jira: jira.JIRA) -> None:
    for n in range(3):
        cloud.add_issue("ONB", f"Issue {n}")
    token = search(cloud_jira, "project = ONB", maxResults=1)["nextPageToken"]
    with pytest.raises(JIRAError) as refused:
        search(cloud_jira, "project = ONB ORDER BY key", nextPageToken=token, maxResults=1)
    assert refused.value.status_code == 400


def test_old_search_is_gone_on_cloud(cloud: JiraSandbox, cloud_jira: jira.JIRA) -> None:
    cloud.add_issue("ONB", "Anything")
    for method in ("get", "post"):
        with pytest.raises(JIRAError) as gone:
            getattr(cloud_jira._session, method)(
                f"{cloud.url}/rest/api/2/search", params={"jql": "project = ONB"}, data="{}"
            )
        assert gone.value.status_code == 410
        body = error_json(gone.value)
        assert "CHANGE-2046" in body["errorMessages"][0] and body["errors"] == {}


def test_returns_only_requested_fields(cloud: JiraSandbox, cloud_jira: jira.JIRA) -> None:
    cloud.add_issue("ONB", "Epic", issuetype="Epic", labels=["okr:ONB-1"])

    chosen = search(cloud_jira, "project = ONB", fields=["summary", "labels"])["issues"][0]
    assert set(chosen["fields"]) == {"summary", "labels"}
    everything = search(cloud_jira, "project = ONB", fields="*all")["issues"][0]["fields"]
    assert {"summary", "status", "comment", STORY_POINTS_FIELD} <= set(everything)
    navigable = search(cloud_jira, "project = ONB", fields="*navigable,-labels")["issues"][0]
    assert "comment" not in navigable["fields"] and "labels" not in navigable["fields"]
    # Without `fields`, Cloud's enhanced search returns ids only (unlike GET issue).
    bare = cloud_jira._session.get(f"{cloud.url}/rest/api/2/search/jql?jql=project=ONB").json()
    assert bare["issues"] == [{"id": "10001"}]


def test_issue_json_has_jira_shapes(cloud: JiraSandbox, cloud_jira: jira.JIRA) -> None:
    epic = cloud.add_issue("ONB", "Epic", issuetype="Epic", status="In Review")
    story = cloud.add_issue("ONB", "Story", parent=epic, story_points=5, status="Won't Do")
    plain = cloud.add_issue("ONB", "Task", issuetype="Task")

    fields = cloud_jira.issue(story).raw["fields"]
    assert fields["status"]["name"] == "Won't Do"
    assert fields["status"]["statusCategory"]["key"] == "done"
    assert fields["resolution"]["name"] == "Won't Do"
    assert fields["issuetype"] == fields["issuetype"] | {"name": "Story", "hierarchyLevel": 0}
    assert fields[STORY_POINTS_FIELD] == 5
    assert fields["parent"]["key"] == epic
    assert set(fields["parent"]["fields"]) == {"summary", "status", "priority", "issuetype"}
    assert fields["updated"] == "2026-11-24T10:00:00.000+0000"
    assert JIRA_TIMESTAMP.match(fields["created"])

    epic_fields = cloud_jira.issue(epic).raw["fields"]
    assert epic_fields["issuetype"]["hierarchyLevel"] == 1
    assert epic_fields["status"]["statusCategory"]["key"] == "indeterminate"
    assert "parent" not in epic_fields
    assert cloud_jira.issue(plain).raw["fields"][STORY_POINTS_FIELD] is None


def test_fields_describe_story_points_and_no_epic_link(cloud_jira: jira.JIRA) -> None:
    by_id = {f["id"]: f for f in cloud_jira.fields()}
    points = by_id[STORY_POINTS_FIELD]
    assert points["name"] == "Story Points" and points["custom"] is True
    assert points["schema"]["type"] == "number"
    assert "Story Points" in points["clauseNames"]
    assert "customfield_10014" not in by_id  # Cloud links epics through `parent`
    assert {"summary", "status", "labels", "parent", "updated"} <= set(by_id)


def test_jql_updated_since_epoch_ms_compares_minutes(
    cloud: JiraSandbox, cloud_jira: jira.JIRA, clock: Clock
) -> None:
    clock.advance(minutes=-60)
    cloud.add_issue("ONB", "Old")
    clock.advance(minutes=60, seconds=30)
    same_minute = cloud.add_issue("ONB", "At 10:00:30")
    clock.advance(minutes=60)
    later = cloud.add_issue("ONB", "At 11:00:30")
    cursor = epoch_ms(START.replace(second=45))

    since = search(cloud_jira, f"project = ONB AND updated >= {cursor} ORDER BY updated")
    assert keys(since) == [same_minute, later]  # 10:00:30 and 10:00:45 share a minute
    assert keys(search(cloud_jira, f"project = ONB AND updated > {cursor}")) == [later]
    after_half_past = search(cloud_jira, 'project = ONB AND updated >= "2026-11-24 10:30"')
    assert keys(after_half_past) == [later]


def test_jql_key_in_labels_and_order_by(cloud: JiraSandbox, cloud_jira: jira.JIRA) -> None:
    first = cloud.add_issue("ONB", "One", labels=["okr:ONB-1"])
    second = cloud.add_issue("ONB", "Two", labels=["OKR:onb-1", "x"])
    third = cloud.add_issue("SEC", "Three", status="Done")

    picked = search(cloud_jira, f"key in ({third}, {first}, {second}) ORDER BY key DESC")
    assert keys(picked) == [third, second, first]
    labelled = search(cloud_jira, 'labels = "okr:onb-1" ORDER BY key ASC')
    assert keys(labelled) == [first, second]
    done = search(cloud_jira, "project in (ONB, SEC) AND statusCategory = Done")
    assert keys(done) == [third]
    not_done = search(cloud_jira, 'project = ONB AND NOT status = "Done" ORDER BY created, key')
    assert keys(not_done) == [first, second]


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("project = ", "Error in the JQL Query: Expecting either a value, list or function"),
        ("project ONB", "Error in the JQL Query: Expecting operator but got 'ONB'"),
        ("summary ~ x", "Field 'summary' does not exist"),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("key = ONB-99", "An issue with key 'ONB-99' does not exist for field 'key'."),
        ("order by key", "Unbounded JQL queries are not allowed here."),
        ('"Epic Link" = ONB-1', "Field 'Epic Link' does not exist"),
    ],
)
def test_jql_errors_read_like_jira(
    cloud: JiraSandbox, cloud_jira: jira.JIRA, jql: str, message: str
) -> None:
    cloud.add_issue("ONB", "Anything")
    with pytest.raises(JIRAError) as refused:
        search(cloud_jira, jql)
    assert refused.value.status_code == 400
    body = error_json(refused.value)
    assert body["errorMessages"][0].startswith(message) and body["errors"] == {}


def test_comments_add_list_edit_through_library_and_raw_put(
    cloud: JiraSandbox, cloud_jira: jira.JIRA, clock: Clock
) -> None:
    key = cloud.add_issue("ONB", "Epic", issuetype="Epic")
    clock.advance(minutes=5)
    comment = cloud_jira.add_comment(key, "h3. Status\n*on track*")
    assert comment.body == "h3. Status\n*on track*"
    assert comment.author.emailAddress == EMAIL
    assert cloud.issue(key)["updated"] == clock.at  # a comment updates its issue

    clock.advance(minutes=5)
    comment.update(body="edited by the library")
    assert [c.body for c in cloud_jira.comments(key)] == ["edited by the library"]

    clock.advance(minutes=5)
    url = cloud_jira._get_url(f"issue/{key}/comment/{comment.id}")
    answer = cloud_jira._session.put(url, data=json.dumps({"body": "edited raw"}))
    assert answer.status_code == 200 and answer.json()["body"] == "edited raw"
    stored = cloud.comments(key)
    assert [(c["id"], c["body"]) for c in stored] == [(comment.id, "edited raw")]
    assert stored[0]["updated"] == clock.at and stored[0]["created"] == START.replace(minute=5)
    assert [(w.method, w.status) for w in cloud.writes] == [
        ("POST", 201),
        ("PUT", 200),
        ("PUT", 200),
    ]


def test_comment_properties_and_delete(cloud: JiraSandbox, cloud_jira: jira.JIRA) -> None:
    key = cloud.add_issue("ONB", "Epic", issuetype="Epic")
    cloud.add_comment(key, "a person writes")
    url = cloud_jira._get_url(f"issue/{key}/comment")
    marker = [{"key": "okrsync.managed", "value": {"target": "ONB-1"}}]
    posted = cloud_jira._session.post(url, data=json.dumps({"body": "ours", "properties": marker}))
    assert posted.status_code == 201

    page = cloud_jira._get_json(f"issue/{key}/comment", params={"expand": "properties"})
    assert page["total"] == 2
    assert [c["properties"] for c in page["comments"]] == [[], marker]
    assert "properties" not in cloud_jira._get_json(f"issue/{key}/comment")["comments"][0]

    cloud_jira.comment(key, posted.json()["id"]).delete()
    assert [c["body"] for c in cloud.comments(key)] == ["a person writes"]


def test_edits_fields_all_or_nothing(
    cloud: JiraSandbox, cloud_jira: jira.JIRA, clock: Clock
) -> None:
    key = cloud.add_issue("ONB", "Story", labels=["a"])
    clock.advance(hours=1)
    cloud_jira.issue(key).update(fields={"labels": ["a", "okr:ONB-1"], STORY_POINTS_FIELD: 8})
    assert cloud.issue(key)["labels"] == ["a", "okr:ONB-1"]
    assert cloud.issue(key)["story_points"] == 8
    assert cloud.issue(key)["updated"] == clock.at

    with pytest.raises(JIRAError) as refused:
        cloud_jira.issue(key).update(fields={"labels": ["has space"], "status": "Done"})
    assert refused.value.status_code == 400
    errors = error_json(refused.value)["errors"]
    assert set(errors) == {"labels", "status"}
    assert cloud.issue(key)["labels"] == ["a", "okr:ONB-1"]


def test_unknown_issue_is_404(cloud: JiraSandbox, cloud_jira: jira.JIRA) -> None:
    with pytest.raises(JIRAError) as missing:
        cloud_jira.issue("ONB-404")
    assert missing.value.status_code == 404
    assert error_json(missing.value)["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]


def test_v3_reads_return_atlassian_document_format(
    cloud: JiraSandbox, cloud_jira: jira.JIRA
) -> None:
    key = cloud.add_issue("ONB", "Story")
    cloud.add_comment(key, "plain text")
    page = cloud_jira._session.get(f"{cloud.url}/rest/api/3/issue/{key}/comment").json()
    assert page["comments"][0]["body"]["type"] == "doc"
    no_body = requests.post(
        f"{cloud.url}/rest/api/3/issue/{key}/comment", auth=(EMAIL, "sandbox-token"), json={}
    )
    assert no_body.status_code == 400  # v3 writes take an ADF document, and there is none
    assert no_body.json()["errors"] == {"comment": "Comment body is not valid!"}


def test_bad_or_missing_credentials_are_401(cloud: JiraSandbox) -> None:
    with pytest.raises(JIRAError) as refused:
        cloud_client(cloud, token="wrong")
    assert refused.value.status_code == 401
    assert error_json(refused.value) == {
        "errorMessages": [
            "You are not authenticated. Authentication required to perform this operation."
        ],
        "errors": {},
    }
    assert requests.get(f"{cloud.url}/rest/api/2/myself").status_code == 401
    assert requests.get(f"{cloud.url}/rest/api/2/serverInfo").status_code == 200  # anonymous


def test_fail_next_answers_429_with_retry_after(cloud: JiraSandbox, cloud_jira: jira.JIRA) -> None:
    cloud.add_issue("ONB", "Anything")
    cloud.fail_next(1, status=429, retry_after="7")
    with pytest.raises(JIRAError) as limited:
        search(cloud_jira, "project = ONB")
    assert limited.value.status_code == 429
    assert error_response(limited.value).headers["Retry-After"] == "7"
    assert len(search(cloud_jira, "project = ONB")["issues"]) == 1
    statuses = [r.status for r in cloud.requests]
    assert statuses.count(429) == 1 and statuses[-1] == 200


def test_request_breaking_the_description_is_400_and_recorded(
    cloud: JiraSandbox, cloud_jira: jira.JIRA
) -> None:
    cloud.add_issue("ONB", "Anything")
    url = f"{cloud.url}/rest/api/2/search/jql"
    with pytest.raises(JIRAError) as refused:
        cloud_jira._session.get(url, params={"jql": "project = ONB", "maxResults": "abc"})
    assert refused.value.status_code == 400
    assert cloud.requests[-1].status == 400
    assert cloud.requests[-1].query["maxResults"] == ["abc"]
    assert len(cloud.violations) == 1
    assert (
        "maxResults" in cloud.violations[0] and "GET /rest/api/2/search/jql" in cloud.violations[0]
    )
    cloud.reset_log()


def test_a_session_of_ordinary_library_calls_keeps_to_the_description(
    cloud: JiraSandbox, cloud_jira: jira.JIRA
) -> None:
    epic = cloud.add_issue("ONB", "Epic", issuetype="Epic", labels=["okr:ONB-1"])
    story = cloud.add_issue("ONB", "Story", parent=epic, story_points=3, status="In Progress")
    cloud.add_comment(epic, "a person writes")

    cloud_jira.server_info()
    cloud_jira.myself()
    cloud_jira.fields()
    search(cloud_jira, "project = ONB", fields=["summary", "Story Points", "key"])
    search(cloud_jira, "project = ONB", use_post=True, maxResults=10)
    cloud_jira.enhanced_search_issues('labels = "okr:ONB-1"', maxResults=0)
    cloud_jira.issue(story, fields="summary,status")
    cloud_jira.issue(story).update(fields={"summary": "Story, renamed"}, labels=[{"add": "x"}])
    comment = cloud_jira.add_comment(epic, "ours")
    cloud_jira.comments(epic)
    cloud_jira.comment(epic, comment.id, expand="properties")
    comment.update(body="ours, edited")
    comment.delete()
    cloud_jira._session.get(f"{cloud.url}/rest/api/3/issue/{epic}")

    assert cloud.violations == []
    assert cloud.issue(story)["labels"] == ["x"]
    assert all(r.status < 400 for r in cloud.requests)
