"""Comments stored as ADF, as Jira Cloud stores them: v3 writes and reads ADF, checked
against Atlassian's ADF JSON schema; v2 writes wiki markup and reads a wiki-ish rendering;
and okrsync's managed comment written through either, found again by its marker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import requests
from factories import Q4, key_result, work_item

from okrsync.domain import Health, ItemCounts, KRStatus, Target
from okrsync.render import render_jira_comment
from okrsync.sources import PlannedWrite
from okrsync.sources.jira import MARKER_PROPERTY, JiraSource, JiraSourceConfig
from okrsync_sandbox import JiraSandbox
from okrsync_sandbox._jira_model import adf_to_wiki, wiki_to_adf
from okrsync_sandbox.jira import adf_problems

from .helpers import EMAIL, TOKEN, Clock

DOC: dict[str, Any] = {
    "version": 1,
    "type": "doc",
    "content": [
        {"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": "OKR"}]},
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {
                            "type": "tableHeader",
                            "content": [
                                {"type": "paragraph", "content": [{"type": "text", "text": h}]}
                            ],
                        }
                        for h in ("Key result", "Health")
                    ],
                },
                {
                    "type": "tableRow",
                    "content": [
                        {
                            "type": "tableCell",
                            "content": [
                                {
                                    "type": "paragraph",
                                    "content": [{"type": "text", "text": "CS-2 *not bold*"}],
                                }
                            ],
                        },
                        {
                            "type": "tableCell",
                            "content": [
                                {
                                    "type": "paragraph",
                                    "content": [
                                        {
                                            "type": "status",
                                            "attrs": {"text": "At risk", "color": "yellow"},
                                        }
                                    ],
                                }
                            ],
                        },
                    ],
                },
            ],
        },
        {"type": "rule"},
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "one"},
                {"type": "hardBreak"},
                {"type": "text", "text": "two"},
            ],
        },
    ],
}


def no_sleep(_: float) -> None:
    return None


@pytest.fixture
def cloud_session(cloud: JiraSandbox) -> Iterator[requests.Session]:
    session = requests.Session()
    session.auth = (EMAIL, TOKEN)
    yield session
    session.close()


def test_the_vendored_schema_takes_a_document_and_refuses_broken_ones() -> None:
    assert adf_problems(DOC) == []
    assert adf_problems({"type": "doc", "content": []}) != []  # no version
    empty_text = {"type": "text", "text": ""}
    assert adf_problems({**DOC, "content": [{"type": "paragraph", "content": [empty_text]}]})
    no_colour = {"type": "status", "attrs": {"text": "x"}}
    assert adf_problems({**DOC, "content": [{"type": "paragraph", "content": [no_colour]}]})
    assert adf_problems({**DOC, "content": [{"type": "script"}]})


def test_v3_stores_adf_and_v2_reads_it_as_wiki_ish_text(
    cloud: JiraSandbox, cloud_session: requests.Session
) -> None:
    key = cloud.add_issue("ONB", "Story")
    api = f"{cloud.url}/rest/api/3/issue/{key}/comment"

    created = cloud_session.post(api, json={"body": DOC}, timeout=5)

    assert created.status_code == 201 and created.json()["body"] == DOC
    comment_id = created.json()["id"]
    assert cloud_session.get(f"{api}/{comment_id}", timeout=5).json()["body"] == DOC
    v2 = cloud_session.get(f"{cloud.url}/rest/api/2/issue/{key}/comment/{comment_id}", timeout=5)
    assert v2.json()["body"] == (
        "h3. OKR\n||Key result||Health||\n|CS-2 *not bold*|At risk|\n----\none\ntwo"
    )
    assert cloud.comments(key)[0]["adf"] == DOC


def test_v2_wiki_is_stored_as_paragraphs_and_reads_back_as_written(
    cloud: JiraSandbox, cloud_session: requests.Session
) -> None:
    key = cloud.add_issue("ONB", "Story")
    wiki = "h3. OKR status\n||a||b||\n\n_x_"
    v2 = f"{cloud.url}/rest/api/2/issue/{key}/comment"

    created = cloud_session.post(v2, json={"body": wiki}, timeout=5).json()

    assert created["body"] == wiki
    v3 = cloud_session.get(f"{cloud.url}/rest/api/3/issue/{key}/comment", timeout=5).json()
    document = v3["comments"][0]["body"]
    assert document == wiki_to_adf(wiki) and adf_problems(document) == []
    assert [len(p.get("content", [])) for p in document["content"]] == [1, 1, 0, 1]


@pytest.mark.parametrize(
    "body",
    [
        "h3. wiki on v3",
        {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": "x"}]},
        {"type": "doc", "version": 2, "content": []},
        {"type": "doc", "version": 1, "content": [{"type": "mention"}]},
    ],
    ids=["string", "content not a list", "version 2", "mention without attrs"],
)
def test_v3_refuses_what_is_not_an_adf_document_with_a_400(
    cloud: JiraSandbox, cloud_session: requests.Session, body: Any
) -> None:
    key = cloud.add_issue("ONB", "Story")
    api = f"{cloud.url}/rest/api/3/issue/{key}/comment"

    refused = cloud_session.post(api, json={"body": body}, timeout=5)

    assert refused.status_code == 400
    assert refused.json()["errors"] == {"comment": "Comment body is not valid!"}
    assert cloud.comments(key) == []


def test_server_has_no_v3_comment_writes(server: JiraSandbox) -> None:
    key = server.add_issue("ONB", "Story")
    answer = requests.post(
        f"{server.url}/rest/api/3/issue/{key}/comment",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"body": DOC},
        timeout=5,
    )
    assert answer.status_code in (404, 405)
    server.violations.clear()


def test_adf_to_wiki_shows_status_lozenges_and_table_rows() -> None:
    assert adf_to_wiki(wiki_to_adf("a\n\nb")) == "a\n\nb"
    assert adf_to_wiki({"type": "doc", "version": 1, "content": []}) == ""


# --------------------------------------------------------------------------- okrsync's comment


@pytest.fixture(params=["cloud", "server"])
def jira(request: pytest.FixtureRequest) -> Iterator[JiraSandbox]:
    with JiraSandbox(mode=request.param, email=EMAIL, token=TOKEN) as sandbox:
        sandbox.now = Clock()
        yield sandbox
        assert sandbox.violations == []


def connect(sandbox: JiraSandbox) -> JiraSource:
    cloud = sandbox.mode == "cloud"
    auth = {"email_env": "E", "token_env": "T"} if cloud else {"token_env": "T"}
    config = JiraSourceConfig.model_validate(
        {"url": sandbox.url, "jql": "project = ONB", "auth": auth}
    )
    return JiraSource(config, TOKEN, EMAIL if cloud else None, sleep=no_sleep)


def planned_body(kr_title: str = "Cut time to value") -> str:
    """What planning gives the connector: the wiki markup, then the ADF document."""
    kr = replace(key_result("CS-2", baseline=30, target=20), title=kr_title, unit="min")
    status = KRStatus(
        kr=kr,
        current=21.44,
        outcome_progress=0.5,
        delivery_progress=0.25,
        expected_progress=0.55,
        health=Health.AT_RISK,
        forecast=21.44,
        flags=(),
        items=ItemCounts(),
    )
    item = work_item("ONB-1")
    return render_jira_comment(Target(item, ("CS-2",), ItemCounts()), [status], Q4)


def test_the_managed_comment_is_adf_on_cloud_and_wiki_on_server_and_readable_on_v2(
    jira: JiraSandbox,
) -> None:
    key = jira.add_issue("ONB", "Epic", issuetype="Epic")
    source = connect(jira)
    body = planned_body("[~accountid:557058:f00] *bold* {code}x{code}")
    jira.reset_log()

    outcome = source.apply(PlannedWrite(f"jira:{key}", "jira", key, body, "h", None))

    (comment,) = jira.comments(key)
    assert comment["id"] == outcome.remote_id
    assert comment["properties"][MARKER_PROPERTY] == {"target": f"jira:{key}"}
    posted = [r for r in jira.writes if r.method == "POST"]
    if jira.mode == "cloud":
        assert [r.path for r in posted] == [f"/rest/api/3/issue/{key}/comment"]
        assert comment["adf"] == json.loads(body.rpartition("\n")[2])
        # Raw text in text nodes: the id as written, the hostile title inert but as typed.
        assert "CS-2 [~accountid:557058:f00] *bold* {code}x{code}" in comment["body"]
    else:
        assert [r.path for r in posted] == [f"/rest/api/2/issue/{key}/comment"]
        assert (
            "*CS-2* \\[\\~accountid:557058:f00\\] \\*bold\\* \\{code\\}x\\{code\\}"
            in (comment["body"])
        )
    # A v2 reader (Jira's own v2 rendering of an ADF comment) sees the ids and numbers.
    assert "CS-2" in comment["body"] and "21.44 min" in comment["body"]
    assert "At risk" in comment["body"]


def test_a_lost_store_adopts_the_adf_comment_by_its_marker_and_edits_it(
    jira: JiraSandbox,
) -> None:
    key = jira.add_issue("ONB", "Epic", issuetype="Epic")
    source = connect(jira)
    first = source.apply(PlannedWrite(f"jira:{key}", "jira", key, planned_body(), "h", None))

    again = source.apply(
        PlannedWrite(f"jira:{key}", "jira", key, planned_body("New title"), "h2", None)
    )

    assert (again.remote_id, again.action) == (first.remote_id, "edited")
    (comment,) = jira.comments(key)
    assert "New title" in comment["body"]
    if jira.mode == "cloud":
        assert adf_problems(comment["adf"]) == []


def test_the_marker_survives_reading_the_adf_comment_through_v3_and_v2(
    cloud: JiraSandbox, cloud_session: requests.Session
) -> None:
    key = cloud.add_issue("ONB", "Epic", issuetype="Epic")
    written = connect(cloud).apply(
        PlannedWrite(f"jira:{key}", "jira", key, planned_body(), "h", None)
    )

    for version in ("3", "2"):
        page = cloud_session.get(
            f"{cloud.url}/rest/api/{version}/issue/{key}/comment",
            params={"expand": "properties"},
            timeout=5,
        ).json()
        [comment] = page["comments"]
        assert comment["id"] == written.remote_id
        assert comment["properties"] == [
            {"key": MARKER_PROPERTY, "value": {"target": f"jira:{key}"}}
        ]
        body = comment["body"]
        text = body if version == "2" else json.dumps(body)
        assert "CS-2" in text and "Kept up to date by okrsync" in text
