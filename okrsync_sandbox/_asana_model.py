"""Asana's data as the sandbox stores it, and as Asana's REST API shows it.

Rendering follows Asana's `opt_fields` rules. Without `opt_fields`, a list shows each
record compact and a single GET shows the full record; nested objects are compact either
way. With `opt_fields`, a record shows its `gid` and exactly the named properties; a
nested object named alone (`parent`) shows `{gid, resource_type}`, and dotted paths
(`custom_fields.number_value`, `memberships.project.gid`) pick inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

# --- state -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    gid: str
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Project:
    gid: str
    name: str
    section_gid: str  # every project has one section, "Untitled section", like a new one
    created_at: datetime
    owner: User


@dataclass(frozen=True, slots=True)
class NumberField:
    gid: str
    name: str


@dataclass(frozen=True, slots=True)
class EnumOption:
    gid: str
    name: str
    color: str = "none"
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class EnumField:
    """An enum (single-select) custom field: a task's value is one of its options' gid."""

    gid: str
    name: str
    options: tuple[EnumOption, ...]


@dataclass(frozen=True, slots=True)
class Tag:
    gid: str
    name: str


StoryType = Literal["comment", "system"]


@dataclass(slots=True)
class Story:
    gid: str
    task_gid: str
    type: StoryType
    resource_subtype: str  # comment_added, added_to_project, marked_complete, ...
    text: str
    html_text: str | None  # comments only
    created_at: datetime
    created_by: User
    is_edited: bool = False


@dataclass(slots=True)
class Task:
    gid: str
    name: str
    notes: str
    project_gids: list[str]  # empty for a subtask, as in Asana
    parent_gid: str | None
    created_at: datetime
    modified_at: datetime
    created_by: User
    completed: bool = False
    completed_at: datetime | None = None
    completed_by: User | None = None
    tags: list[Tag] = field(default_factory=list)
    numbers: dict[str, float | None] = field(default_factory=dict)  # field gid -> value
    enums: dict[str, str | None] = field(default_factory=dict)  # field gid -> option gid
    resource_subtype: str = "default_task"


class AsanaInstance(Protocol):
    """What rendering needs from the sandbox."""

    @property
    def origin(self) -> str: ...  # http://127.0.0.1:PORT

    @property
    def workspace(self) -> tuple[str, str]: ...  # (gid, name)

    @property
    def projects(self) -> Mapping[str, Project]: ...

    @property
    def number_fields(self) -> Mapping[str, NumberField]: ...

    @property
    def enum_fields(self) -> Mapping[str, EnumField]: ...

    def find_task(self, gid: str) -> Task: ...

    def subtasks_of(self, gid: str) -> list[Task]: ...


# --- opt_fields ------------------------------------------------------------------------

# A parsed `opt_fields`: property name -> what to show inside it ({} for "just that").
Selection = Mapping[str, "Selection"]


def parse_opt_fields(values: Iterable[str]) -> Selection | None:
    """`["name,tags.name", "parent"]` -> {"name": {}, "tags": {"name": {}}, "parent": {}}.

    None when no property is named: the endpoint's default shape applies.
    """
    tree: dict[str, Any] = {}
    for value in values:
        for path in value.split(","):
            node = tree
            for part in path.strip().split("."):
                if part:
                    node = node.setdefault(part, {})
    return tree or None


@dataclass(frozen=True, slots=True)
class Resource:
    """Something Asana renders: its properties, each read lazily, and its default shapes.

    `gid` is None for nested structures that are not objects (a task's membership).
    """

    gid: str | None
    resource_type: str | None
    properties: Mapping[str, Callable[[], Any]]
    compact: Sequence[str]
    full: Sequence[str]


def render(resource: Resource, selection: Selection | None, *, full: bool = False) -> Any:
    """The JSON of `resource` for `opt_fields` `selection` (None: the default shape)."""
    shown: dict[str, Any] = {}
    if resource.gid is not None:
        shown["gid"] = resource.gid
    if selection is None:
        names: Iterable[str] = resource.full if full else resource.compact
        wanted: Mapping[str, Selection | None] = dict.fromkeys(names)
    else:
        wanted = selection
    for name, inner in wanted.items():
        if name == "resource_type" and resource.resource_type is not None:
            shown[name] = resource.resource_type
        elif name in resource.properties:
            shown[name] = _shown(resource.properties[name](), inner)
    return shown


def _shown(value: Any, selection: Selection | None) -> Any:
    if isinstance(value, list):
        return [_shown(item, selection) for item in value]
    if not isinstance(value, Resource):
        return value
    if selection == {} and value.gid is not None:  # named alone: the reference only
        return {"gid": value.gid, "resource_type": value.resource_type}
    if selection == {}:  # a structure named alone: all of it, each object as a reference
        return {name: _shown(read(), {}) for name, read in value.properties.items()}
    return render(value, selection)


# --- JSON shapes -----------------------------------------------------------------------

TASK_COMPACT = ("name", "resource_type", "resource_subtype")
TASK_FULL = (
    "resource_type",
    "name",
    "resource_subtype",
    "assignee",
    "completed",
    "completed_at",
    "completed_by",
    "created_at",
    "custom_fields",
    "due_at",
    "due_on",
    "followers",
    "hearted",
    "hearts",
    "html_notes",
    "liked",
    "likes",
    "memberships",
    "modified_at",
    "notes",
    "num_hearts",
    "num_likes",
    "num_subtasks",
    "parent",
    "permalink_url",
    "projects",
    "start_at",
    "start_on",
    "tags",
    "workspace",
)
STORY_COMPACT = ("resource_type", "created_at", "created_by", "resource_subtype", "text")
STORY_FULL = (
    *STORY_COMPACT,
    "type",
    "html_text",
    "is_pinned",
    "is_edited",
    "is_editable",
    "hearted",
    "hearts",
    "num_hearts",
    "liked",
    "likes",
    "num_likes",
    "previews",
    "source",
    "target",
)
NAMED_COMPACT = ("resource_type", "name")
CUSTOM_FIELD_FULL = (
    "resource_type",
    "name",
    "type",
    "resource_subtype",
    "representation_type",
    "enabled",
    "is_formula_field",
    "is_value_read_only",
    "precision",
    "number_value",
    "display_value",
)
ENUM_FIELD_FULL = (
    "resource_type",
    "name",
    "type",
    "resource_subtype",
    "representation_type",
    "enabled",
    "is_formula_field",
    "is_value_read_only",
    "enum_options",
    "enum_value",
    "display_value",
)
ENUM_OPTION_FULL = ("resource_type", "name", "enabled", "color")
CUSTOM_FIELD_SETTING_FULL = ("resource_type", "custom_field", "is_important", "parent", "project")
USER_FULL = ("resource_type", "name", "email", "photo", "workspaces")
PROJECT_FULL = (
    "resource_type",
    "name",
    "archived",
    "color",
    "completed",
    "completed_at",
    "created_at",
    "current_status",
    "custom_fields",
    "default_view",
    "due_on",
    "followers",
    "html_notes",
    "members",
    "modified_at",
    "notes",
    "owner",
    "permalink_url",
    "start_on",
    "workspace",
)


def asana_timestamp(moment: datetime) -> str:
    """Asana's wire format for instants: 2012-02-22T02:06:58.147Z."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


class AsanaView:
    """Renders stored state as Asana resources (see `render`) for one sandbox."""

    def __init__(self, sandbox: AsanaInstance) -> None:
        self._sandbox = sandbox

    def named(self, gid: str, resource_type: str, name: str) -> Resource:
        """A workspace, section, tag or other object that is only ever shown compact."""
        properties = {"name": _constant(name)}
        return Resource(gid, resource_type, properties, NAMED_COMPACT, NAMED_COMPACT)

    def workspace(self) -> Resource:
        gid, name = self._sandbox.workspace
        return self.named(gid, "workspace", name)

    def user(self, user: User) -> Resource:
        properties: dict[str, Callable[[], Any]] = {
            "name": _constant(user.name),
            "email": _constant(user.email),
            "photo": _constant(None),
            "workspaces": lambda: [self.workspace()],
        }
        return Resource(user.gid, "user", properties, NAMED_COMPACT, USER_FULL)

    def custom_field(self, definition: NumberField, value: float | None) -> Resource:
        properties: dict[str, Callable[[], Any]] = {
            "name": _constant(definition.name),
            "type": _constant("number"),
            "resource_subtype": _constant("number"),
            "representation_type": _constant("number"),
            "enabled": _constant(True),
            "is_formula_field": _constant(False),
            "is_value_read_only": _constant(False),
            "precision": _constant(0),
            "number_value": _constant(_number(value)),
            "display_value": _constant(None if value is None else f"{value:.0f}"),
        }
        # Inside a task, Asana shows custom fields with their values even when compact.
        return Resource(
            definition.gid, "custom_field", properties, CUSTOM_FIELD_FULL, CUSTOM_FIELD_FULL
        )

    def enum_option(self, option: EnumOption) -> Resource:
        properties: dict[str, Callable[[], Any]] = {
            "name": _constant(option.name),
            "enabled": _constant(option.enabled),
            "color": _constant(option.color),
        }
        return Resource(option.gid, "enum_option", properties, ENUM_OPTION_FULL, ENUM_OPTION_FULL)

    def enum_field(self, definition: EnumField, option_gid: str | None) -> Resource:
        chosen = next((o for o in definition.options if o.gid == option_gid), None)
        properties: dict[str, Callable[[], Any]] = {
            "name": _constant(definition.name),
            "type": _constant("enum"),
            "resource_subtype": _constant("enum"),
            "representation_type": _constant("enum"),
            "enabled": _constant(True),
            "is_formula_field": _constant(False),
            "is_value_read_only": _constant(False),
            "enum_options": lambda: [self.enum_option(o) for o in definition.options],
            "enum_value": lambda: None if chosen is None else self.enum_option(chosen),
            "display_value": _constant(None if chosen is None else chosen.name),
        }
        return Resource(
            definition.gid, "custom_field", properties, ENUM_FIELD_FULL, ENUM_FIELD_FULL
        )

    def custom_field_setting(self, gid: str, project: Project, custom_field: Resource) -> Resource:
        """A project's custom field setting: the field (no value) attached to it."""
        properties: dict[str, Callable[[], Any]] = {
            "custom_field": _constant(custom_field),
            "is_important": _constant(True),
            "parent": lambda: self.project(project),
            "project": lambda: self.project(project),
        }
        return Resource(
            gid, "custom_field_setting", properties, ("resource_type",), CUSTOM_FIELD_SETTING_FULL
        )

    def project(self, project: Project) -> Resource:
        properties: dict[str, Callable[[], Any]] = {
            "name": _constant(project.name),
            "archived": _constant(False),
            "color": _constant("none"),
            "completed": _constant(False),
            "completed_at": _constant(None),
            "created_at": _constant(asana_timestamp(project.created_at)),
            "current_status": _constant(None),
            "custom_fields": lambda: [
                self.custom_field(f, None) for f in self._sandbox.number_fields.values()
            ],
            "default_view": _constant("list"),
            "due_on": _constant(None),
            "followers": lambda: [self.user(project.owner)],
            "html_notes": _constant("<body></body>"),
            "members": lambda: [self.user(project.owner)],
            "modified_at": _constant(asana_timestamp(project.created_at)),
            "notes": _constant(""),
            "owner": lambda: self.user(project.owner),
            "permalink_url": _constant(f"{self._sandbox.origin}/0/{project.gid}/list"),
            "start_on": _constant(None),
            "workspace": self.workspace,
        }
        return Resource(project.gid, "project", properties, NAMED_COMPACT, PROJECT_FULL)

    def task(self, task: Task) -> Resource:
        properties: dict[str, Callable[[], Any]] = {
            "name": _constant(task.name),
            "resource_subtype": _constant(task.resource_subtype),
            "assignee": _constant(None),
            "completed": _constant(task.completed),
            "completed_at": _constant(task.completed_at and asana_timestamp(task.completed_at)),
            "completed_by": lambda: self._maybe_user(task.completed_by),
            "created_at": _constant(asana_timestamp(task.created_at)),
            "created_by": lambda: self.user(task.created_by),
            "custom_fields": lambda: self._task_custom_fields(task),
            "due_at": _constant(None),
            "due_on": _constant(None),
            "followers": lambda: [self.user(task.created_by)],
            "hearted": _constant(False),
            "hearts": _constant([]),
            "html_notes": _constant(f"<body>{_escape(task.notes)}</body>"),
            "liked": _constant(False),
            "likes": _constant([]),
            "memberships": lambda: [self._membership(gid) for gid in task.project_gids],
            "modified_at": _constant(asana_timestamp(task.modified_at)),
            "notes": _constant(task.notes),
            "num_hearts": _constant(0),
            "num_likes": _constant(0),
            "num_subtasks": lambda: len(self._sandbox.subtasks_of(task.gid)),
            "parent": lambda: self._parent(task),
            "permalink_url": lambda: self._permalink(task),
            "projects": lambda: [
                self.project(self._sandbox.projects[g]) for g in task.project_gids
            ],
            "start_at": _constant(None),
            "start_on": _constant(None),
            "tags": lambda: [self.named(t.gid, "tag", t.name) for t in task.tags],
            "workspace": self.workspace,
        }
        return Resource(task.gid, "task", properties, TASK_COMPACT, TASK_FULL)

    def story(self, story: Story, me: User) -> Resource:
        """A story as `me` (the token's user) sees it: only their comments are editable."""
        properties: dict[str, Callable[[], Any]] = {
            "created_at": _constant(asana_timestamp(story.created_at)),
            "created_by": lambda: self.user(story.created_by),
            "resource_subtype": _constant(story.resource_subtype),
            "text": _constant(story.text),
            "type": _constant(story.type),
            "is_edited": _constant(story.is_edited),
            "is_editable": _constant(story.type == "comment" and story.created_by == me),
            "hearted": _constant(False),
            "hearts": _constant([]),
            "num_hearts": _constant(0),
            "liked": _constant(False),
            "likes": _constant([]),
            "num_likes": _constant(0),
            "previews": _constant([]),
            "source": _constant("api" if story.created_by == me else "web"),
            "target": lambda: self.task(self._sandbox.find_task(story.task_gid)),
        }
        if story.type == "comment":  # system stories have no rich text, nor pins
            properties["html_text"] = _constant(story.html_text)
            properties["is_pinned"] = _constant(False)
        return Resource(story.gid, "story", properties, STORY_COMPACT, STORY_FULL)

    def _maybe_user(self, user: User | None) -> Resource | None:
        return None if user is None else self.user(user)

    def _task_custom_fields(self, task: Task) -> list[Resource]:
        fields = self._sandbox.number_fields.values()
        numbers = [self.custom_field(f, task.numbers.get(f.gid)) for f in fields]
        enums = self._sandbox.enum_fields.values()
        return numbers + [self.enum_field(f, task.enums.get(f.gid)) for f in enums]

    def _membership(self, project_gid: str) -> Resource:
        project = self._sandbox.projects[project_gid]
        properties: dict[str, Callable[[], Any]] = {
            "project": lambda: self.project(project),
            "section": lambda: self.named(project.section_gid, "section", "Untitled section"),
        }
        return Resource(None, None, properties, ("project", "section"), ("project", "section"))

    def _parent(self, task: Task) -> Resource | None:
        if task.parent_gid is None:
            return None
        return self.task(self._sandbox.find_task(task.parent_gid))

    def _permalink(self, task: Task) -> str:
        """Asana's task link names a project it is in; a subtask's, its top task's."""
        top = task
        while top.parent_gid is not None:
            top = self._sandbox.find_task(top.parent_gid)
        project = top.project_gids[0] if top.project_gids else "0"
        return f"{self._sandbox.origin}/0/{project}/{task.gid}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
