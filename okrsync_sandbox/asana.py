"""A stateful, local Asana for integration tests and the demo.

Clients talk to it with plain `requests` at `AsanaSandbox.url` (`.../api/1.0`). Requests and
responses are checked against Asana's published description (trimmed copy in
specs/asana.json); where Asana knowingly differs from it, `ASANA_RELAXATIONS` says so.

Behaviour copied from Asana on purpose, because clients must cope with it:
- Lists are compact (`gid`, `resource_type`, `name`, `resource_subtype` for tasks) unless
  `opt_fields` names properties, dotted paths included; a single GET is the full record.
- Paging: `limit` 1..100 and an opaque `offset` from `next_page`; without `limit` the whole
  list comes in one answer with no `next_page`. Offsets expire (`expire_offsets()`), after
  which Asana answers 400 on the next page.
- A subtask is not in its project's task list (only in `/tasks/{parent}/subtasks`), and
  changing it does not change its parent's `modified_at`: `modified_since` misses it.
- Custom fields (number and enum) are attached to every project: its
  `/custom_field_settings` list them; a task shows their values in `custom_fields`, and
  `PUT /tasks/{gid}` with `{"data": {"custom_fields": {field_gid: value}}}` sets them (a
  number or null; an enum's option gid or null). An unknown field gid, an option that is
  not the field's, or a value of the wrong kind is a 400, and nothing is written.
- Completing a task, changing its tags or custom field values and adding a comment bump the
  task's `modified_at`; editing or deleting a comment does not (see `_put_story`).
- Comments take `html_text`: well-formed XML, rooted at `<body>`, in Asana's tag set; anything
  else is a 400. Only their author may edit or delete them, and system stories not at all.
- Answers are `application/json; charset=UTF-8`; errors are `{"errors": [{"message", "help"}]}`;
  a 429 says "Please, be chill" and carries `Retry-After`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import itertools
import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from okrsync_sandbox._asana_model import (
    AsanaView,
    EnumField,
    EnumOption,
    NumberField,
    Project,
    Resource,
    Selection,
    Story,
    StoryType,
    Tag,
    Task,
    User,
    parse_opt_fields,
    render,
)
from okrsync_sandbox._openapi import Relaxation, SpecValidator
from okrsync_sandbox._server import ApiError, HttpRequest, HttpResponse, SandboxServer

SPEC_PATH = Path(__file__).with_name("specs") / "asana.json"
API_PREFIX = "/api/1.0"
DEFAULT_TOKEN = "asana-sandbox-token"
FIRST_GID = 1204000000000001  # Asana's gids: 16-digit numbers, handed out in order

ASANA_JSON = "application/json; charset=UTF-8"
ERRORS_HELP = (
    "For more information on API status codes and how to handle them, "
    "read the docs on errors: https://developers.asana.com/docs/errors"
)
NOT_AUTHORIZED = "Not Authorized"


RATE_LIMITED = "You have made too many requests recently. Please, be chill."
OFFSET_EXPIRED = "offset: Your pagination token has expired."
OFFSET_INVALID = "offset: Your pagination token is invalid."
LIMIT_OUT_OF_RANGE = "limit: Must be between 1 and 100 inclusive."
MISSING_FILTER = (
    "Must specify exactly one of project, tag, section, user task list, or assignee + workspace"
)
XML_INVALID = "XML is invalid"

# The tags Asana's rich text accepts in a comment, and the attributes each may carry
# (`data-asana-*` make @-mentions).
_PLAIN_TAGS = ("body", "strong", "em", "u", "s", "code", "ol", "ul", "li")
_BLOCK_TAGS = ("blockquote", "pre", "h1", "h2", "hr")
RICH_TEXT_TAGS: dict[str, frozenset[str]] = {
    **dict.fromkeys(_PLAIN_TAGS + _BLOCK_TAGS, frozenset()),
    "a": frozenset({"href", "data-asana-gid", "data-asana-project", "data-asana-type"}),
}

# --- where the description and Asana disagree ------------------------------------------


def _honour_nullable_in_all_of(node: Any) -> None:
    """Rewrite `{"allOf": [ref, {"nullable": true}]}` in place, everywhere below `node`,
    as `{"anyOf": [{"allOf": [ref]}, {"enum": [null]}]}`: the object, or null."""
    if isinstance(node, list):
        for item in node:
            _honour_nullable_in_all_of(item)
        return
    if not isinstance(node, dict):
        return
    members = node.get("allOf")
    if isinstance(members, list) and any(m.get("nullable") for m in members):
        kept = [{k: v for k, v in m.items() if k != "nullable"} for m in members]
        del node["allOf"]
        node["anyOf"] = [{"allOf": kept}, {"enum": [None]}]
    for value in node.values():
        _honour_nullable_in_all_of(value)


# No relaxation for `opt_fields`: its enums list the optional properties only, never `gid`,
# `resource_type` or a dotted `.gid` (`parent.gid`), and the sandbox refuses those with a 400
# as the description says; `parent` alone already shows the parent's gid.
def _custom_field_values_of_any_kind(spec: dict[str, Any]) -> None:
    base = spec["components"]["schemas"]["TaskRequestBase"]
    for member in base.get("allOf", [base]):
        values = member.get("properties", {}).get("custom_fields")
        if values is not None:
            values["additionalProperties"] = {
                "anyOf": [{"type": "string"}, {"type": "number"}, {"enum": [None]}]
            }


ASANA_RELAXATIONS: tuple[Relaxation, ...] = (
    Relaxation(
        why="A task's `custom_fields` write maps field gids to values typed string only, "
        "while its own text says a value 'can be text, enum GID, a number': Asana takes a "
        "JSON number for a number field, and null to clear any field (custom fields guide).",
        patch=_custom_field_values_of_any_kind,
    ),
    Relaxation(
        why="The description marks a referenced object nullable with a `nullable: true` "
        "sibling inside allOf (assignee, parent, completed_by, current_status...), which "
        "OpenAPI 3.0.3 says does not admit null; Asana sends null there.",
        patch=_honour_nullable_in_all_of,
    ),
)


@functools.cache
def asana_spec_validator() -> SpecValidator:
    """The validator for every Asana sandbox of the process: the description loads once."""
    return SpecValidator(SPEC_PATH, relax=ASANA_RELAXATIONS)


# --- the sandbox -----------------------------------------------------------------------


class AsanaSandbox(SandboxServer):
    """A local Asana with one workspace. See the module docstring for what it copies.

    Callers authenticate with `Authorization: Bearer <token>` and act as `me` ("okrsync");
    the test-facing methods act as `human`, a person working in Asana.
    """

    json_media_type = ASANA_JSON
    rate_limit_message = RATE_LIMITED

    def __init__(self, token: str = DEFAULT_TOKEN, *, strict: bool = True, port: int = 0) -> None:
        super().__init__(validator=asana_spec_validator(), strict=strict, port=port)
        self.token = token
        self._gids = itertools.count(FIRST_GID)
        self.workspace: tuple[str, str] = (self._new_gid(), "Sandbox Workspace")
        self.me = User(self._new_gid(), "okrsync", "okrsync@example.com")
        self.human = User(self._new_gid(), "Alex Human", "alex@example.com")
        self.projects: dict[str, Project] = {}
        self.number_fields: dict[str, NumberField] = {}
        self.enum_fields: dict[str, EnumField] = {}
        self._settings: dict[tuple[str, str], str] = {}  # (project, field) -> setting gid
        self._tasks: dict[str, Task] = {}
        self._stories: dict[str, Story] = {}
        self._tags: dict[str, Tag] = {}  # by name
        self._offset_epoch = 0  # offsets carry it; expire_offsets() moves it on
        self._view = AsanaView(self)
        self._register_routes()

    @property
    def origin(self) -> str:
        """Where the server listens: http://127.0.0.1:PORT."""
        return super().url

    @property
    def url(self) -> str:
        """The API base URL, as clients configure it: http://127.0.0.1:PORT/api/1.0."""
        return self.origin + API_PREFIX

    # --- test-facing API ----------------------------------------------------------------

    def add_project(self, name: str) -> str:
        """Create a project (with every number field attached); returns its gid."""
        with self._lock:
            project = Project(self._new_gid(), name, self._new_gid(), self._stamp(), self.human)
            self.projects[project.gid] = project
            return project.gid

    def add_number_field(self, name: str) -> str:
        """Create a number custom field, attached to every project; returns its gid."""
        with self._lock:
            definition = NumberField(self._new_gid(), name)
            self.number_fields[definition.gid] = definition
            return definition.gid

    def add_enum_field(self, name: str, options: Sequence[str]) -> str:
        """Create an enum custom field with these options, attached to every project;
        returns its gid (`enum_option_gid` gives an option's)."""
        with self._lock:
            gid = self._new_gid()
            choices = tuple(EnumOption(self._new_gid(), option) for option in options)
            self.enum_fields[gid] = EnumField(gid, name, choices)
            return gid

    def enum_option_gid(self, field_gid: str, name: str) -> str:
        with self._lock:
            options = self.enum_fields[field_gid].options
            return next(o.gid for o in options if o.name == name)

    def custom_field_values(self, gid: str) -> dict[str, Any]:
        """The task's custom field values by field name: a number, an option's name, or
        None when unset."""
        with self._lock:
            task = self.find_task(gid)
            values: dict[str, Any] = {
                f.name: task.numbers.get(f.gid) for f in self.number_fields.values()
            }
            for definition in self.enum_fields.values():
                chosen = task.enums.get(definition.gid)
                names = {o.gid: o.name for o in definition.options}
                values[definition.name] = None if chosen is None else names[chosen]
            return values

    def set_custom_field(self, gid: str, field_name: str, value: float | str | None) -> None:
        """Set a value as a person would: a number, or an enum option by name."""
        with self._lock:
            task = self.find_task(gid)
            for number in self.number_fields.values():
                if number.name == field_name:
                    task.numbers[number.gid] = None if value is None else float(value)
            for definition in self.enum_fields.values():
                if definition.name == field_name:
                    names = {o.name: o.gid for o in definition.options}
                    task.enums[definition.gid] = None if value is None else names[str(value)]
            task.modified_at = self._stamp()

    def add_task(
        self,
        project: str | None,
        name: str,
        *,
        completed: bool = False,
        tags: Iterable[str] = (),
        parent: str | None = None,
        points: float | None = None,
        modified_at: datetime | None = None,
        notes: str = "",
    ) -> str:
        """Create a task as a person would; returns its gid.

        With `parent` it is a subtask: in no project (`project` may then be None), listed
        only under its parent. `modified_at` backdates it (its creation too).
        """
        if modified_at is not None and modified_at.tzinfo is None:
            raise ValueError("modified_at must be an aware datetime (Asana stores instants)")
        with self._lock:
            if project is not None:
                self._known_project(project)
            if parent is not None:
                self.find_task(parent)
            elif project is None:
                raise ValueError("a task needs a project or a parent")
            points_gid = self._points_field_gid() if points is not None else None
            moment = _to_millisecond(modified_at) if modified_at else self._stamp()
            task = Task(
                gid=self._new_gid(),
                name=name,
                notes=notes,
                project_gids=[project] if project is not None and parent is None else [],
                parent_gid=parent,
                created_at=moment,
                modified_at=moment,
                created_by=self.human,
            )
            self._tasks[task.gid] = task
            task.tags = self._tags_named(tags)
            if points_gid is not None and points is not None:
                task.numbers[points_gid] = float(points)
            if completed:
                self._complete(task, True, moment)
            for project_gid in task.project_gids:
                name_shown = self.projects[project_gid].name
                self._add_system_story(task, "added_to_project", f"added to {name_shown}", moment)
            return task.gid

    def complete_task(self, gid: str, completed: bool = True) -> None:
        """Mark a task (in)complete. Only its own modified_at moves, never its parent's."""
        with self._lock:
            task = self.find_task(gid)
            if task.completed != completed:
                moment = self._stamp()
                self._complete(task, completed, moment)
                task.modified_at = moment

    def set_tags(self, gid: str, names: Iterable[str]) -> None:
        with self._lock:
            task = self.find_task(gid)
            task.tags = self._tags_named(names)
            task.modified_at = self._stamp()

    def set_points(self, gid: str, value: float | None) -> None:
        """Set the number field's value (the first one added: "Story Points")."""
        with self._lock:
            task = self.find_task(gid)
            task.numbers[self._points_field_gid()] = None if value is None else float(value)
            task.modified_at = self._stamp()

    def add_comment(
        self,
        task_gid: str,
        text: str,
        *,
        html_text: str | None = None,
        author: User | None = None,
    ) -> str:
        """A comment written by `author` (default `human`, a person; `me` for one the API
        user wrote, e.g. a duplicate left by an older okrsync), as plain `text` or as rich
        `html_text` (checked as Asana would); returns the story's gid."""
        with self._lock:
            task = self.find_task(task_gid)
            if html_text is not None:
                try:
                    text = rich_text_plain(html_text)
                except ApiError as error:
                    raise ValueError(f"html_text: {error}") from None
            rich = html_text if html_text is not None else _as_rich_text(text)
            story = self._add_comment(task, text, rich, author or self.human)
            return story.gid

    def edit_comment(self, story_gid: str, html_text: str) -> None:
        """Edit a comment's rich text as a person would (Asana lets only its author edit a
        comment: the sandbox's person stands for the API user's session in the browser)."""
        with self._lock:
            story = self._stories[story_gid]
            try:
                story.text = rich_text_plain(html_text)
            except ApiError as error:
                raise ValueError(f"html_text: {error}") from None
            story.html_text = html_text
            story.is_edited = True

    def delete_comment(self, story_gid: str) -> None:
        """Delete a comment as its author would in the browser."""
        with self._lock:
            del self._stories[story_gid]

    def delete_task(self, gid: str) -> None:
        """Delete a task and its stories as a person would: it answers 404 from then on."""
        with self._lock:
            self.find_task(gid)
            del self._tasks[gid]
            for story in self._stories_of(gid):
                del self._stories[story.gid]

    def revoke_token(self) -> None:
        """Revoke the API token: every request answers 401 from now on."""
        with self._lock:
            self.token = f"revoked-{self.token}"

    def stories(self, task_gid: str) -> list[dict[str, Any]]:
        """The task's comments, oldest first (system stories left out)."""
        with self._lock:
            self.find_task(task_gid)
            return [
                {
                    "gid": s.gid,
                    "text": s.text,
                    "html_text": s.html_text,
                    "created_at": s.created_at,
                    "created_by": {"gid": s.created_by.gid, "name": s.created_by.name},
                    "type": s.type,
                    "resource_subtype": s.resource_subtype,
                    "is_edited": s.is_edited,
                }
                for s in self._stories_of(task_gid)
                if s.type == "comment"
            ]

    def task(self, gid: str) -> dict[str, Any]:
        """A snapshot of the stored task (plain values, not Asana JSON)."""
        with self._lock:
            task = self.find_task(gid)
            return {
                "gid": task.gid,
                "name": task.name,
                "projects": list(task.project_gids),
                "parent": task.parent_gid,
                "completed": task.completed,
                "completed_at": task.completed_at,
                "tags": [tag.name for tag in task.tags],
                "points": task.numbers.get(next(iter(self.number_fields), "")),
                "created_at": task.created_at,
                "modified_at": task.modified_at,
                "num_subtasks": len(self.subtasks_of(gid)),
            }

    def expire_offsets(self) -> None:
        """Invalidate every offset handed out so far, as Asana does when data changes."""
        with self._lock:
            self._offset_epoch += 1

    # --- state helpers ------------------------------------------------------------------

    def find_task(self, gid: str) -> Task:
        """The task with `gid`; KeyError when there is none."""
        with self._lock:
            return self._tasks[gid]

    def subtasks_of(self, gid: str) -> list[Task]:
        with self._lock:
            return sorted((t for t in self._tasks.values() if t.parent_gid == gid), key=_gid_order)

    def _new_gid(self) -> str:
        return str(next(self._gids))

    def _stamp(self) -> datetime:
        """Now, at Asana's precision (milliseconds), so stored and shown times agree."""
        return _to_millisecond(self.now())

    def _known_project(self, gid: str) -> Project:
        if gid not in self.projects:
            raise ValueError(f"unknown project {gid!r}; add_project() returns the gid")
        return self.projects[gid]

    def _points_field_gid(self) -> str:
        if not self.number_fields:
            raise ValueError("no number field: call add_number_field('Story Points') first")
        return next(iter(self.number_fields))

    def _tags_named(self, names: Iterable[str]) -> list[Tag]:
        tags: list[Tag] = []
        for name in dict.fromkeys(names):  # a tag is on a task once
            if name not in self._tags:
                self._tags[name] = Tag(self._new_gid(), name)
            tags.append(self._tags[name])
        return tags

    def _complete(self, task: Task, completed: bool, moment: datetime) -> None:
        task.completed = completed
        task.completed_at = moment if completed else None
        task.completed_by = self.human if completed else None
        subtype, text = (
            ("marked_complete", "completed this task")
            if completed
            else ("marked_incomplete", "marked this task incomplete")
        )
        self._add_system_story(task, subtype, text, moment)

    def _stories_of(self, task_gid: str) -> list[Story]:
        return sorted((s for s in self._stories.values() if s.task_gid == task_gid), key=_gid_order)

    def _add_story(
        self,
        task: Task,
        kind: StoryType,
        subtype: str,
        text: str,
        html_text: str | None,
        author: User,
        moment: datetime,
    ) -> Story:
        story = Story(self._new_gid(), task.gid, kind, subtype, text, html_text, moment, author)
        self._stories[story.gid] = story
        return story

    def _add_system_story(self, task: Task, subtype: str, text: str, moment: datetime) -> None:
        self._add_story(task, "system", subtype, text, None, self.human, moment)

    def _add_comment(self, task: Task, text: str, html_text: str, author: User) -> Story:
        moment = self._stamp()
        story = self._add_story(task, "comment", "comment_added", text, html_text, author, moment)
        task.modified_at = moment  # Asana: adding a story modifies the task
        return story

    # --- HTTP: routes, auth, errors -----------------------------------------------------

    def _register_routes(self) -> None:
        add = self.router.add
        api = API_PREFIX
        add("GET", f"{api}/users/{{user_gid}}", self._get_user)
        add("GET", f"{api}/projects/{{project_gid}}", self._get_project)
        add("GET", f"{api}/projects/{{project_gid}}/tasks", self._get_project_tasks)
        add("GET", f"{api}/tasks", self._get_tasks)
        add("GET", f"{api}/tasks/{{task_gid}}", self._get_task)
        add("PUT", f"{api}/tasks/{{task_gid}}", self._put_task)
        add("GET", f"{api}/projects/{{project_gid}}/custom_field_settings", self._get_settings)
        add("GET", f"{api}/tasks/{{task_gid}}/subtasks", self._get_subtasks)
        add("GET", f"{api}/tasks/{{task_gid}}/stories", self._get_stories)
        add("POST", f"{api}/tasks/{{task_gid}}/stories", self._post_story)
        add("GET", f"{api}/stories/{{story_gid}}", self._get_story)
        add("PUT", f"{api}/stories/{{story_gid}}", self._put_story)
        add("DELETE", f"{api}/stories/{{story_gid}}", self._delete_story)

    def authenticate(self, request: HttpRequest) -> None:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.token:
            raise ApiError(HTTPStatus.UNAUTHORIZED, NOT_AUTHORIZED)

    def error_body(self, error: ApiError) -> Any:
        messages = error.messages + [f"{k}: {v}" for k, v in error.field_errors.items()]
        errors: list[dict[str, str]] = [
            {"message": message, "help": ERRORS_HELP}
            for message in messages or [HTTPStatus(error.status).phrase]
        ]
        if error.status >= 500:  # Asana names each server error with a phrase for support
            for entry in errors:
                entry["phrase"] = "6 sad squid snuggle softly"
        return {"errors": errors}

    def _task_for(self, request: HttpRequest) -> Task:
        gid = request.path_params["task_gid"]
        if gid not in self._tasks:
            raise ApiError(HTTPStatus.NOT_FOUND, f"task: Unknown object: {gid}")
        return self._tasks[gid]

    def _story_for(self, request: HttpRequest) -> Story:
        gid = request.path_params["story_gid"]
        if gid not in self._stories:
            raise ApiError(HTTPStatus.NOT_FOUND, f"story: Unknown object: {gid}")
        return self._stories[gid]

    def _project_named(self, gid: str) -> Project:
        if gid not in self.projects:
            raise ApiError(HTTPStatus.NOT_FOUND, f"project: Unknown object: {gid}")
        return self.projects[gid]

    def _one(self, request: HttpRequest, resource: Resource, status: int = 200) -> HttpResponse:
        """`{"data": record}`: the full record, or what `opt_fields` names."""
        selection = _selection(request)
        return HttpResponse(status, {"data": render(resource, selection, full=True)})

    # --- HTTP: users and projects -------------------------------------------------------

    def _get_user(self, request: HttpRequest) -> HttpResponse:
        gid = request.path_params["user_gid"]
        user = self.me if gid == "me" else _by_gid((self.me, self.human), gid)
        if user is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"user: Unknown object: {gid}")
        return self._one(request, self._view.user(user))

    def _get_project(self, request: HttpRequest) -> HttpResponse:
        project = self._project_named(request.path_params["project_gid"])
        return self._one(request, self._view.project(project))

    # --- HTTP: tasks --------------------------------------------------------------------

    def _get_tasks(self, request: HttpRequest) -> HttpResponse:
        project_gid = request.first("project")
        if not project_gid:
            raise ApiError(HTTPStatus.BAD_REQUEST, MISSING_FILTER)
        for unsupported in ("section", "assignee", "workspace"):
            if request.first(unsupported):
                raise ApiError(HTTPStatus.BAD_REQUEST, f"{unsupported}: not served by the sandbox")
        tasks = self._project_tasks(self._project_named(project_gid), request)
        since = _instant(request, "modified_since")
        if since is not None:
            tasks = [t for t in tasks if t.modified_at >= since]
        return self._listing(request, tasks, self._view.task)

    def _get_project_tasks(self, request: HttpRequest) -> HttpResponse:
        project = self._project_named(request.path_params["project_gid"])
        tasks = self._project_tasks(project, request)
        return self._listing(request, tasks, self._view.task)

    def _project_tasks(self, project: Project, request: HttpRequest) -> list[Task]:
        """The project's top-level tasks in project order, after `completed_since`."""
        tasks = sorted(
            (t for t in self._tasks.values() if project.gid in t.project_gids), key=_gid_order
        )
        completed_since = request.first("completed_since")
        if completed_since == "now":
            return [t for t in tasks if not t.completed]
        since = _instant(request, "completed_since")
        if since is not None:
            return [t for t in tasks if t.completed_at is None or t.completed_at >= since]
        return tasks

    def _get_task(self, request: HttpRequest) -> HttpResponse:
        return self._one(request, self._view.task(self._task_for(request)))

    def _put_task(self, request: HttpRequest) -> HttpResponse:
        """`PUT /tasks/{gid}`: custom field values only (other changes are not served)."""
        task = self._task_for(request)
        body = request.json()
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "data: Missing input")
        unserved = sorted(set(data) - {"custom_fields"})
        if unserved:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"{unserved[0]}: not served by the sandbox")
        values = data.get("custom_fields") or {}
        numbers, enums = self._custom_field_input(values)  # all checked before any is set
        changed = any(task.numbers.get(g) != v for g, v in numbers.items()) or any(
            task.enums.get(g) != v for g, v in enums.items()
        )
        task.numbers.update(numbers)
        task.enums.update(enums)
        if changed:
            task.modified_at = self._stamp()
        return self._one(request, self._view.task(task))

    def _custom_field_input(
        self, values: dict[str, Any]
    ) -> tuple[dict[str, float | None], dict[str, str | None]]:
        numbers: dict[str, float | None] = {}
        enums: dict[str, str | None] = {}
        for gid, value in values.items():
            if gid in self.number_fields:
                if value is None:
                    numbers[gid] = None
                    continue
                try:
                    numbers[gid] = float(value)
                except (TypeError, ValueError):
                    raise ApiError(
                        HTTPStatus.BAD_REQUEST,
                        f"custom_fields: Custom field value for {gid} must be a number",
                    ) from None
            elif gid in self.enum_fields:
                options = {o.gid for o in self.enum_fields[gid].options if o.enabled}
                if value is not None and str(value) not in options:
                    raise ApiError(
                        HTTPStatus.BAD_REQUEST,
                        f"custom_fields: enum_value: Unknown object: {value}",
                    )
                enums[gid] = None if value is None else str(value)
            else:
                raise ApiError(
                    HTTPStatus.BAD_REQUEST, f"custom_fields: Unknown custom field: {gid}"
                )
        return numbers, enums

    def _get_settings(self, request: HttpRequest) -> HttpResponse:
        """A project's custom field settings: every custom field, in creation order."""
        project = self._project_named(request.path_params["project_gid"])
        fields = [self._view.custom_field(f, None) for f in self.number_fields.values()]
        fields += [self._view.enum_field(f, None) for f in self.enum_fields.values()]
        fields.sort(key=_gid_number)
        settings = [
            self._view.custom_field_setting(self._setting_gid(project.gid, str(f.gid)), project, f)
            for f in fields
        ]
        return self._listing(request, sorted(settings, key=_gid_number))

    def _setting_gid(self, project_gid: str, field_gid: str) -> str:
        key = (project_gid, field_gid)
        if key not in self._settings:
            self._settings[key] = self._new_gid()
        return self._settings[key]

    def _get_subtasks(self, request: HttpRequest) -> HttpResponse:
        parent = self._task_for(request)
        subtasks = self.subtasks_of(parent.gid)
        return self._listing(request, subtasks, self._view.task)

    # --- HTTP: stories ------------------------------------------------------------------

    def _get_stories(self, request: HttpRequest) -> HttpResponse:
        task = self._task_for(request)
        stories = [self._view.story(s, self.me) for s in self._stories_of(task.gid)]
        return self._listing(request, stories)

    def _get_story(self, request: HttpRequest) -> HttpResponse:
        return self._one(request, self._view.story(self._story_for(request), self.me))

    def _post_story(self, request: HttpRequest) -> HttpResponse:
        task = self._task_for(request)
        text, html_text = _comment_input(request)
        story = self._add_comment(task, text, html_text, self.me)
        return self._one(request, self._view.story(story, self.me), status=201)

    def _put_story(self, request: HttpRequest) -> HttpResponse:
        story = self._editable_story(request)
        story.text, story.html_text = _comment_input(request)
        story.is_edited = True
        # The task's modified_at stays: Asana names adding stories among the changes
        # that modify a task, not editing them. A client must not rely on seeing edits.
        return self._one(request, self._view.story(story, self.me))

    def _delete_story(self, request: HttpRequest) -> HttpResponse:
        story = self._editable_story(request)
        del self._stories[story.gid]
        return HttpResponse(200, {"data": {}})

    def _editable_story(self, request: HttpRequest) -> Story:
        story = self._story_for(request)
        if story.type != "comment":
            raise ApiError(HTTPStatus.BAD_REQUEST, "story: Only comments can be changed.")
        if story.created_by != self.me:
            raise ApiError(
                HTTPStatus.FORBIDDEN, "story: Only the author of a comment can change it."
            )
        return story

    # --- HTTP: paging -------------------------------------------------------------------

    def _listing(
        self,
        request: HttpRequest,
        records: Sequence[_Listed],
        view: Callable[[Any], Resource] = lambda record: record,
    ) -> HttpResponse:
        """`{"data": [...]}` in compact form (or `opt_fields`), paged when asked to be.

        Records come in a stable order (by gid); an offset remembers the last gid shown, so
        a page never repeats or skips a record that was there before, whatever changes.
        `view` makes a record's resource, only for the records on the page: a listing of
        10,000 tasks read 100 at a time would otherwise view every task on every page.
        """
        selection = _selection(request)
        paging = self._paging(request)
        if paging is None:
            return HttpResponse(200, {"data": [render(view(r), selection) for r in records]})
        limit, after = paging
        remaining = [r for r in records if _gid_number(r) > after]
        page = remaining[:limit]
        body: dict[str, Any] = {"data": [render(view(r), selection) for r in page]}
        more = len(remaining) > limit
        body["next_page"] = self._next_page(request, _gid_number(page[-1])) if more else None
        return HttpResponse(200, body)

    def _paging(self, request: HttpRequest) -> tuple[int, int] | None:
        """(limit, gid after which the page starts), or None for an unpaged list."""
        raw_limit, offset = request.first("limit"), request.first("offset")
        if raw_limit is None and offset is None:
            return None
        limit = _limit(raw_limit)
        after = self._offset_position(offset, _scope(request)) if offset else 0
        return limit, after

    def _next_page(self, request: HttpRequest, after: int) -> dict[str, str]:
        token = _encode_offset({"e": self._offset_epoch, "a": after, "s": _scope(request)})
        query = [(k, v) for k, values in request.query.items() if k != "offset" for v in values]
        path = request.path.removeprefix(API_PREFIX) + "?" + urlencode([*query, ("offset", token)])
        return {"offset": token, "path": path, "uri": self.url + path}

    def _offset_position(self, token: str, scope: str) -> int:
        decoded = _decode_offset(token)
        if decoded is None or decoded.get("s") != scope or not isinstance(decoded.get("a"), int):
            raise ApiError(HTTPStatus.BAD_REQUEST, OFFSET_INVALID)
        if decoded.get("e") != self._offset_epoch:
            raise ApiError(HTTPStatus.BAD_REQUEST, OFFSET_EXPIRED)
        after: int = decoded["a"]
        return after


# --- request parsing -------------------------------------------------------------------


def _selection(request: HttpRequest) -> Selection | None:
    return parse_opt_fields(request.query.get("opt_fields", []))


def _limit(raw: str | None) -> int:
    if raw is None:
        return 100  # an offset without a limit: Asana's largest page
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(HTTPStatus.BAD_REQUEST, LIMIT_OUT_OF_RANGE) from None
    if not 1 <= limit <= 100:
        raise ApiError(HTTPStatus.BAD_REQUEST, LIMIT_OUT_OF_RANGE)
    return limit


def _instant(request: HttpRequest, name: str) -> datetime | None:
    raw = request.first(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name}: Invalid date-time: {raw}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _scope(request: HttpRequest) -> str:
    """What an offset belongs to: the list and its filters, not the page size or fields."""
    filters = sorted(
        (k, v)
        for k, values in request.query.items()
        if k not in ("offset", "limit", "opt_fields", "opt_pretty")
        for v in values
    )
    raw = json.dumps([request.path, filters]).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _encode_offset(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _decode_offset(token: str) -> dict[str, Any] | None:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _comment_input(request: HttpRequest) -> tuple[str, str]:
    """(text, html_text) of a comment write: one of the two, checked like Asana does."""
    body = request.json()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise ApiError(HTTPStatus.BAD_REQUEST, "data: Missing input")
    text, html_text = data.get("text"), data.get("html_text")
    if text is not None and html_text is not None:
        raise ApiError(HTTPStatus.BAD_REQUEST, "You may only specify one of text, html_text.")
    if isinstance(html_text, str):
        return rich_text_plain(html_text), html_text
    if isinstance(text, str) and text.strip():
        return text, _as_rich_text(text)
    raise ApiError(HTTPStatus.BAD_REQUEST, "text: Missing input")


# --- rich text -------------------------------------------------------------------------


def rich_text_plain(html_text: str) -> str:
    """The plain text of Asana rich text; ApiError 400 when Asana would refuse it."""
    if re.search(r"<!DOCTYPE|<!ENTITY", html_text, re.IGNORECASE):
        raise ApiError(HTTPStatus.BAD_REQUEST, XML_INVALID)  # and no entity expansion here
    try:
        root = ElementTree.fromstring(html_text)
    except ElementTree.ParseError:
        raise ApiError(HTTPStatus.BAD_REQUEST, XML_INVALID) from None
    if root.tag != "body":
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{XML_INVALID}: the root element must be <body>")
    for element in root.iter():
        allowed = RICH_TEXT_TAGS.get(str(element.tag))
        if allowed is None:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"{XML_INVALID}: <{element.tag}> is not allowed")
        for attribute in element.attrib:
            if attribute not in allowed:
                raise ApiError(
                    HTTPStatus.BAD_REQUEST,
                    f"{XML_INVALID}: attribute {attribute} is not allowed on <{element.tag}>",
                )
    return "".join(root.itertext())


# --- small helpers ---------------------------------------------------------------------


def _as_rich_text(text: str) -> str:
    return f"<body>{html.escape(text, quote=False)}</body>"


def _to_millisecond(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _gid_order(item: Task | Story) -> int:
    return int(item.gid)


class _Listed(Protocol):
    """What a listing pages over: anything with Asana's gid (a task, a story, a resource)."""

    @property
    def gid(self) -> str | None: ...


def _gid_number(record: _Listed) -> int:
    return int(record.gid or 0)


def _by_gid(users: Iterable[User], gid: str) -> User | None:
    return next((user for user in users if user.gid == gid), None)


__all__ = [
    "ASANA_RELAXATIONS",
    "SPEC_PATH",
    "AsanaSandbox",
    "asana_spec_validator",
    "rich_text_plain",
]
