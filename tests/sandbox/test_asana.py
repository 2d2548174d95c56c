"""The Asana sandbox as a plain `requests` client sees it, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from okrsync_sandbox import AsanaSandbox

from .helpers import START, Clock

pytestmark = [
    pytest.mark.integration,
    # openapi-core warns on every check of an operation with Asana's `opt_pretty`, which
    # uses the (deprecated, yet valid) `allowEmptyValue`.
    pytest.mark.filterwarnings("ignore:Use of allowEmptyValue:DeprecationWarning"),
]

TOKEN = "asana-sandbox-token"
# What okrsync's connector asks for, plus gids inside objects.
CONNECTOR_FIELDS = (
    "completed,custom_fields.name,custom_fields.number_value,modified_at,name,num_subtasks,"
    "parent,permalink_url,resource_subtype,tags.name"
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def asana(clock: Clock) -> Iterator[AsanaSandbox]:
    """A sandbox whose test must leave no contract violation behind (clear the log after
    provoking one on purpose)."""
    with AsanaSandbox(token=TOKEN) as sandbox:
        sandbox.now = clock
        yield sandbox
        assert sandbox.violations == []


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        yield session


@pytest.fixture
def project(asana: AsanaSandbox) -> str:
    gid = asana.add_project("Onboarding")
    asana.add_number_field("Story Points")
    return gid


def get(http: requests.Session, asana: AsanaSandbox, path: str, **params: str) -> Any:
    response = http.get(asana.url + path, params=params, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def errors(response: requests.Response) -> list[str]:
    return [error["message"] for error in response.json()["errors"]]


# --- paging ----------------------------------------------------------------------------


def test_pages_through_250_tasks_by_offset(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    created = [asana.add_task(project, f"Task {n}") for n in range(250)]
    asana.reset_log()
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    params = {"project": project, "limit": "100"}
    while True:
        page = get(http, asana, "/tasks", **params)
        pages.append(page)
        seen += [task["gid"] for task in page["data"]]
        if page["next_page"] is None:
            break
        params = {**params, "offset": page["next_page"]["offset"]}

    assert [len(p["data"]) for p in pages] == [100, 100, 50]
    assert len(asana.requests) == 3
    assert seen == created  # each once, in project order
    next_page = pages[0]["next_page"]
    assert next_page["path"].startswith(f"/tasks?project={project}&limit=100&offset=")
    assert next_page["uri"] == asana.url + next_page["path"]
    assert http.get(next_page["uri"], timeout=5).json()["data"] == pages[1]["data"]


def test_without_limit_the_whole_list_comes_at_once(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    for n in range(120):
        asana.add_task(project, f"Task {n}")
    body = get(http, asana, f"/projects/{project}/tasks")
    assert len(body["data"]) == 120
    assert "next_page" not in body  # only paged answers carry it


@pytest.mark.parametrize("limit", ["0", "101"])
def test_limit_outside_1_to_100_is_refused(
    asana: AsanaSandbox, http: requests.Session, project: str, limit: str
) -> None:
    response = http.get(f"{asana.url}/tasks", params={"project": project, "limit": limit})
    assert response.status_code == 400
    # It breaks the description too: recorded, and answered 400 before any handler runs.
    (problem,) = asana.violations
    assert "limit" in problem
    asana.reset_log()


def test_limit_outside_1_to_100_is_asanas_400_when_not_strict(
    http: requests.Session, clock: Clock
) -> None:
    with AsanaSandbox(token=TOKEN, strict=False) as lenient:
        project = lenient.add_project("Onboarding")
        response = http.get(f"{lenient.url}/tasks", params={"project": project, "limit": "500"})
        assert response.status_code == 400
        assert errors(response) == ["limit: Must be between 1 and 100 inclusive."]
        assert len(lenient.violations) == 1


def test_expired_offset_is_a_400_and_the_first_page_still_works(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    for n in range(3):
        asana.add_task(project, f"Task {n}")
    first = get(http, asana, "/tasks", project=project, limit="2")
    asana.expire_offsets()

    stale = {"project": project, "limit": "2", "offset": first["next_page"]["offset"]}
    response = http.get(f"{asana.url}/tasks", params=stale)

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "offset: Your pagination token has expired.",
                "help": response.json()["errors"][0]["help"],
            }
        ]
    }
    again = get(http, asana, "/tasks", project=project, limit="2")
    second = get(http, asana, "/tasks", project=project, limit="2", **_offset(again))
    assert [t["name"] for t in again["data"] + second["data"]] == ["Task 0", "Task 1", "Task 2"]


def test_an_offset_belongs_to_its_list(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    other = asana.add_project("Other")
    for n in range(3):
        asana.add_task(project, f"Task {n}")
    offset = get(http, asana, "/tasks", project=project, limit="1")["next_page"]["offset"]
    response = http.get(
        f"{asana.url}/tasks", params={"project": other, "limit": "1", "offset": offset}
    )
    assert response.status_code == 400
    assert errors(response) == ["offset: Your pagination token is invalid."]


def _offset(page: dict[str, Any]) -> dict[str, str]:
    return {"offset": page["next_page"]["offset"]}


# --- records and opt_fields ------------------------------------------------------------


def test_lists_are_compact_without_opt_fields(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    gid = asana.add_task(project, "Write the guide", tags=["okr:ONB-1"], points=3)
    (task,) = get(http, asana, "/tasks", project=project)["data"]
    assert task == {
        "gid": gid,
        "resource_type": "task",
        "name": "Write the guide",
        "resource_subtype": "default_task",
    }


def test_opt_fields_pick_dotted_properties(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    points = next(iter(asana.number_fields))
    gid = asana.add_task(project, "Write the guide", tags=["okr:ONB-1", "docs"], points=3)
    fields = CONNECTOR_FIELDS + ",memberships.project.name,parent.name,completed_at"

    (task,) = get(http, asana, "/tasks", project=project, opt_fields=fields)["data"]

    assert task == {
        "gid": gid,
        "completed": False,
        "completed_at": None,
        "custom_fields": [{"gid": points, "name": "Story Points", "number_value": 3}],
        "modified_at": "2026-11-24T10:00:00.000Z",
        "name": "Write the guide",
        "num_subtasks": 0,
        "parent": None,
        "permalink_url": f"{asana.origin}/0/{project}/{gid}",
        "resource_subtype": "default_task",
        "tags": [
            {"gid": task["tags"][0]["gid"], "name": "okr:ONB-1"},
            {"gid": task["tags"][1]["gid"], "name": "docs"},
        ],
        "memberships": [{"project": {"gid": project, "name": "Onboarding"}}],
    }


def test_an_object_named_alone_is_a_reference(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    parent = asana.add_task(project, "Parent")
    child = asana.add_task(None, "Child", parent=parent)
    task = get(http, asana, f"/tasks/{child}", opt_fields="parent,projects")["data"]
    assert task == {
        "gid": child,
        "parent": {"gid": parent, "resource_type": "task"},
        "projects": [],
    }


def test_a_single_task_is_the_full_record(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    gid = asana.add_task(project, "Write the guide", completed=True, points=2, notes="a & b")
    task = get(http, asana, f"/tasks/{gid}")["data"]
    assert task["completed"] is True
    assert task["completed_at"] == "2026-11-24T10:00:00.000Z"
    assert task["notes"] == "a & b" and task["html_notes"] == "<body>a &amp; b</body>"
    assert task["projects"] == [{"gid": project, "resource_type": "project", "name": "Onboarding"}]
    assert task["custom_fields"][0]["display_value"] == "2"
    assert task["workspace"]["resource_type"] == "workspace"


def test_modified_since_keeps_tasks_modified_at_or_after(
    asana: AsanaSandbox, http: requests.Session, project: str, clock: Clock
) -> None:
    asana.add_task(project, "Old", modified_at=START.replace(hour=8))
    at_the_mark = asana.add_task(project, "Exactly", modified_at=START.replace(hour=9))
    late = asana.add_task(project, "New")
    touched = asana.add_task(project, "Touched", modified_at=START.replace(hour=7))
    clock.advance(minutes=5)
    asana.set_tags(touched, ["okr:ONB-2"])

    body = get(http, asana, "/tasks", project=project, modified_since="2026-11-24T09:00:00.000Z")

    assert [t["gid"] for t in body["data"]] == [at_the_mark, late, touched]


def test_completed_since_now_keeps_incomplete_tasks(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    open_task = asana.add_task(project, "Open")
    asana.add_task(project, "Done", completed=True)
    body = get(http, asana, f"/projects/{project}/tasks", completed_since="now")
    assert [t["gid"] for t in body["data"]] == [open_task]


# --- subtasks --------------------------------------------------------------------------


def test_subtasks_are_listed_under_their_parent_only(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    parent = asana.add_task(project, "Parent")
    children = [asana.add_task(None, f"Child {n}", parent=parent) for n in range(2)]

    listed = get(http, asana, "/tasks", project=project, opt_fields="num_subtasks")["data"]
    subtasks = get(http, asana, f"/tasks/{parent}/subtasks", opt_fields="parent")["data"]

    assert listed == [{"gid": parent, "num_subtasks": 2}]
    reference = {"gid": parent, "resource_type": "task"}
    assert subtasks == [{"gid": gid, "parent": reference} for gid in children]


def test_completing_a_subtask_does_not_modify_its_parent(
    asana: AsanaSandbox, http: requests.Session, project: str, clock: Clock
) -> None:
    parent = asana.add_task(project, "Parent")
    child = asana.add_task(None, "Child", parent=parent)
    before = asana.task(parent)["modified_at"]
    clock.advance(hours=1)

    asana.complete_task(child)

    assert asana.task(parent)["modified_at"] == before
    assert asana.task(child)["modified_at"] == clock.at
    since = "2026-11-24T10:30:00.000Z"
    assert get(http, asana, "/tasks", project=project, modified_since=since)["data"] == []


# --- stories ---------------------------------------------------------------------------


def test_comment_is_created_in_rich_text_and_edited_in_place(
    asana: AsanaSandbox, http: requests.Session, project: str, clock: Clock
) -> None:
    task = asana.add_task(project, "Write the guide")
    clock.advance(minutes=1)
    html_text = '<body><strong>KR</strong> on track <a href="https://example.com">link</a></body>'

    created = http.post(
        f"{asana.url}/tasks/{task}/stories", json={"data": {"html_text": html_text}}
    )

    assert created.status_code == 201
    story = created.json()["data"]
    assert story["type"] == "comment" and story["resource_subtype"] == "comment_added"
    assert story["html_text"] == html_text and story["text"] == "KR on track link"
    assert story["created_by"]["gid"] == asana.me.gid
    assert asana.task(task)["modified_at"] == clock.at  # a new story modifies its task

    clock.advance(minutes=1)
    edited = http.put(
        f"{asana.url}/stories/{story['gid']}", json={"data": {"html_text": "<body>new</body>"}}
    )

    assert edited.status_code == 200
    assert edited.json()["data"]["is_edited"] is True
    (comment,) = asana.stories(task)
    assert comment["gid"] == story["gid"] and comment["html_text"] == "<body>new</body>"
    assert asana.task(task)["modified_at"] == START.replace(minute=1)  # an edit does not
    assert [(r.method, r.status) for r in asana.writes] == [("POST", 201), ("PUT", 200)]


def test_stories_list_has_system_stories_and_comments(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    task = asana.add_task(project, "Write the guide")
    asana.add_comment(task, "Looks good <3")
    listed = get(http, asana, f"/tasks/{task}/stories", opt_fields="html_text,type,text")["data"]
    assert [s["type"] for s in listed] == ["system", "comment"]
    assert listed[0]["text"] == "added to Onboarding" and "html_text" not in listed[0]
    assert listed[1]["html_text"] == "<body>Looks good &lt;3</body>"


def test_plain_text_comment_gets_escaped_rich_text(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    task = asana.add_task(project, "Write the guide")
    created = http.post(f"{asana.url}/tasks/{task}/stories", json={"data": {"text": "a<b & c"}})
    assert created.json()["data"]["html_text"] == "<body>a&lt;b &amp; c</body>"


@pytest.mark.parametrize(
    "html_text",
    [
        "<body><strong>unclosed</body>",
        "plain words",
        "<p>not body</p>",
        "<body><table><tr><td>1</td></tr></table></body>",
        '<body><strong class="x">styled</strong></body>',
        "<body>&nbsp;</body>",
    ],
)
def test_rich_text_outside_asanas_xml_subset_is_a_400(
    asana: AsanaSandbox, http: requests.Session, project: str, html_text: str
) -> None:
    task = asana.add_task(project, "Write the guide")
    response = http.post(
        f"{asana.url}/tasks/{task}/stories", json={"data": {"html_text": html_text}}
    )
    assert response.status_code == 400
    assert errors(response)[0].startswith("XML is invalid")
    assert asana.stories(task) == []


def test_only_the_author_may_change_a_comment(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    task = asana.add_task(project, "Write the guide")
    theirs = asana.add_comment(task, "Mine, says the human")
    (system,) = [
        s["gid"] for s in get(http, asana, f"/tasks/{task}/stories")["data"] if s["gid"] != theirs
    ]
    body = {"data": {"text": "overwritten"}}
    assert http.put(f"{asana.url}/stories/{theirs}", json=body).status_code == 403
    assert http.delete(f"{asana.url}/stories/{theirs}").status_code == 403
    assert http.put(f"{asana.url}/stories/{system}", json=body).status_code == 400


def test_a_deleted_comment_is_gone(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    task = asana.add_task(project, "Write the guide")
    created = http.post(f"{asana.url}/tasks/{task}/stories", json={"data": {"text": "hi"}})
    gid = created.json()["data"]["gid"]

    deleted = http.delete(f"{asana.url}/stories/{gid}")

    assert (deleted.status_code, deleted.json()) == (200, {"data": {}})
    missing = http.get(f"{asana.url}/stories/{gid}")
    assert missing.status_code == 404
    assert errors(missing) == [f"story: Unknown object: {gid}"]


# --- errors, faults, headers -----------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}"])
def test_a_bad_token_is_401(asana: AsanaSandbox, project: str, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = requests.get(f"{asana.url}/tasks", params={"project": project}, headers=headers)
    assert response.status_code == 401
    (error,) = response.json()["errors"]
    assert error["message"] == "Not Authorized" and "developers.asana.com" in error["help"]


def test_fail_next_answers_429_with_retry_after(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    asana.fail_next(2, retry_after="30")
    statuses = [http.get(f"{asana.url}/projects/{project}") for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "30"
    assert "be chill" in errors(statuses[0])[0]
    assert [r.status for r in asana.requests] == [429, 429, 200]


def test_unknown_objects_are_404s(asana: AsanaSandbox, http: requests.Session) -> None:
    for path, message in [
        ("/tasks/123", "task: Unknown object: 123"),
        ("/projects/456/tasks", "project: Unknown object: 456"),
        ("/users/789", "user: Unknown object: 789"),
    ]:
        response = http.get(asana.url + path)
        assert (response.status_code, errors(response)) == (404, [message])


def test_tasks_need_a_project(asana: AsanaSandbox, http: requests.Session) -> None:
    response = http.get(f"{asana.url}/tasks")
    assert response.status_code == 400
    assert errors(response)[0].startswith("Must specify exactly one of project")


def test_headers_are_asanas_and_date_follows_the_clock(
    asana: AsanaSandbox, http: requests.Session, clock: Clock
) -> None:
    clock.advance(minutes=2)
    response = http.get(f"{asana.url}/users/me")
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert response.headers["Date"] == "Tue, 24 Nov 2026 10:02:00 GMT"
    assert response.json()["data"]["name"] == "okrsync"


def test_a_request_outside_the_description_is_recorded(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    response = http.get(f"{asana.url}/projects/{project}", params={"opt_fields": "bogus"})
    assert response.status_code == 400  # strict: refused, not served
    (problem,) = asana.violations
    assert problem.startswith(f"request GET /api/1.0/projects/{project}: ")
    assert "opt_fields" in problem
    asana.reset_log()


@pytest.mark.parametrize(
    "fields", ["parent.gid", "name,parent.gid", "gid", "memberships.project.gid", "tags.gid"]
)
def test_opt_fields_the_description_does_not_list_are_refused(
    asana: AsanaSandbox, http: requests.Session, project: str, fields: str
) -> None:
    """No relaxation: Asana's description lists `parent`, never `parent.gid` nor `gid`."""
    task = asana.add_task(project, "Task")
    for path, query in (
        ("/tasks", {"project": project}),
        (f"/tasks/{task}", {}),
        (f"/tasks/{task}/subtasks", {}),
    ):
        response = http.get(f"{asana.url}{path}", params={**query, "opt_fields": fields})
        assert response.status_code == 400, path
        (problem,) = asana.violations
        assert "opt_fields" in problem
        asana.reset_log()


def test_a_normal_session_breaks_nothing(
    asana: AsanaSandbox, http: requests.Session, project: str
) -> None:
    parent = asana.add_task(project, "Parent", tags=["okr:ONB-1"], points=5)
    asana.add_task(None, "Child", parent=parent, completed=True)
    get(http, asana, "/users/me")
    get(http, asana, f"/projects/{project}")
    get(http, asana, "/tasks", project=project, opt_fields=CONNECTOR_FIELDS, limit="100")
    get(http, asana, f"/tasks/{parent}")
    get(http, asana, f"/tasks/{parent}/subtasks", opt_fields=CONNECTOR_FIELDS, limit="100")
    get(http, asana, f"/tasks/{parent}/stories", opt_fields="html_text,resource_subtype,type")
    created = http.post(
        f"{asana.url}/tasks/{parent}/stories", json={"data": {"html_text": "<body>x</body>"}}
    )
    get(http, asana, f"/stories/{created.json()['data']['gid']}")
    assert asana.violations == []
