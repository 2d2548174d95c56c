"""Jira's data as the sandbox stores it, and as Jira's REST API shows it.

`JiraView` renders stored issues, comments and users as Jira JSON for one request (its
base URL, API version and deployment mode); it reads the instance through the small
`JiraInstance` protocol so that this module knows nothing of HTTP.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

STORY_POINTS_FIELD = "customfield_10026"
EPIC_LINK_FIELD = "customfield_10014"

ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"

# name -> (id, statusCategory key). Ids as in a fresh Jira Software project.
STATUSES: dict[str, tuple[str, str]] = {
    "To Do": ("10000", "new"),
    "In Progress": ("3", "indeterminate"),
    "In Review": ("10001", "indeterminate"),
    "Done": ("10002", "done"),
    "Won't Do": ("10003", "done"),
}
# key -> (id, colorName, name): Jira's three fixed categories.
STATUS_CATEGORIES: dict[str, tuple[int, str, str]] = {
    "new": (2, "blue-gray", "To Do"),
    "indeterminate": (4, "yellow", "In Progress"),
    "done": (3, "green", "Done"),
}
# name -> (id, hierarchyLevel)
ISSUE_TYPES: dict[str, tuple[str, int]] = {
    "Epic": ("10000", 1),
    "Story": ("10001", 0),
    "Task": ("10002", 0),
    "Bug": ("10003", 0),
    # Not in a fresh project: the type teams add for okrsync's KR issues
    # (`writeback.jira.kr_issues`), here so the sandbox can create them.
    "Key Result": ("10005", 0),
}
# name -> (id, inward, outward): Jira's default issue link types.
LINK_TYPES: dict[str, tuple[str, str, str]] = {
    "Blocks": ("10000", "is blocked by", "blocks"),
    "Cloners": ("10001", "is cloned by", "clones"),
    "Duplicate": ("10002", "is duplicated by", "duplicates"),
    "Relates": ("10003", "relates to", "relates to"),
}
RESOLUTIONS: dict[str, str] = {"Done": "10000", "Won't Do": "10001"}  # name -> id


# --- state -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class User:
    account_id: str
    username: str
    display_name: str
    email: str


@dataclass(slots=True)
class Comment:
    id: str
    body: dict[str, Any]  # an ADF document, as Jira stores every comment
    author: User
    update_author: User
    created: datetime
    updated: datetime
    properties: dict[str, Any] = field(default_factory=dict)  # entity properties, by key


@dataclass(slots=True)
class Issue:
    id: str
    key: str
    project: str
    summary: str
    issuetype: str
    status: str
    labels: list[str]
    parent: str | None  # key of the parent (Cloud `parent`, Server Epic Link)
    created: datetime
    updated: datetime
    reporter: User
    # Wiki markup or plain text (v2 writes), or an ADF document (v3 writes).
    description: str | dict[str, Any] | None = None
    resolved: datetime | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)  # issue entity properties

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])


@dataclass(frozen=True, slots=True)
class IssueLink:
    """A link of type `type` (a `LINK_TYPES` name) from `outward` to `inward` (keys)."""

    id: str
    type: str
    inward: str
    outward: str


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One entry of GET /field. `kind` says how values of a custom field are checked."""

    id: str
    name: str
    clause_names: tuple[str, ...]
    schema: dict[str, Any] | None
    navigable: bool = True
    orderable: bool = True
    searchable: bool = True
    kind: str = "system"  # system | number | string | date | select | epic-link | sprint
    options: tuple[tuple[str, str], ...] = ()  # a select field's (id, value), in order

    def details(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "id": self.id,
            "key": self.id,
            "name": self.name,
            "custom": self.id.startswith("customfield_"),
            "orderable": self.orderable,
            "navigable": self.navigable,
            "searchable": self.searchable,
            "clauseNames": list(self.clause_names),
        }
        if self.schema is not None:
            details["schema"] = self.schema
        return details


def _system(field_id: str, name: str, schema_type: str | None, *clauses: str) -> FieldDef:
    schema = None if schema_type is None else {"type": schema_type, "system": field_id}
    return FieldDef(field_id, name, clauses or (field_id,), schema)


SYSTEM_FIELDS: tuple[FieldDef, ...] = (
    FieldDef("issuekey", "Key", ("id", "issue", "issuekey", "key"), None, orderable=False),
    _system("summary", "Summary", "string"),
    _system("description", "Description", "string"),
    _system("issuetype", "Issue Type", "issuetype", "issuetype", "type"),
    _system("project", "Project", "project"),
    _system("status", "Status", "status"),
    _system("priority", "Priority", "priority"),
    FieldDef(
        "labels",
        "Labels",
        ("labels",),
        {"type": "array", "items": "string", "system": "labels"},
    ),
    _system("assignee", "Assignee", "user"),
    _system("reporter", "Reporter", "user"),
    _system("created", "Created", "datetime", "created", "createdDate"),
    _system("updated", "Updated", "datetime", "updated", "updatedDate"),
    _system("resolution", "Resolution", "resolution"),
    _system("resolutiondate", "Resolved", "datetime", "resolutiondate", "resolved"),
    FieldDef("parent", "Parent", ("parent",), None, orderable=False, searchable=False),
    FieldDef(
        "issuelinks",
        "Linked Issues",
        ("issuelinks",),
        {"type": "array", "items": "issuelinks", "system": "issuelinks"},
        orderable=False,
        searchable=False,
    ),
    FieldDef(
        "comment",
        "Comment",
        ("comment",),
        {"type": "comments-page", "system": "comment"},
        navigable=False,
    ),
)

_CUSTOM_TYPES: dict[str, tuple[str, str]] = {  # kind -> (schema type, custom type key)
    "number": ("number", "com.atlassian.jira.plugin.system.customfieldtypes:float"),
    "string": ("string", "com.atlassian.jira.plugin.system.customfieldtypes:textfield"),
    "date": ("date", "com.atlassian.jira.plugin.system.customfieldtypes:datepicker"),
    "select": ("option", "com.atlassian.jira.plugin.system.customfieldtypes:select"),
    "epic-link": ("any", "com.pyxis.greenhopper.jira:gh-epic-link"),
    "sprint": ("array", "com.pyxis.greenhopper.jira:gh-sprint"),
}


def custom_field(field_id: str, name: str, kind: str, options: Sequence[str] = ()) -> FieldDef:
    """A custom field; a select's options get ids made from the field's number."""
    schema_type, custom_type = _CUSTOM_TYPES[kind]
    number = int(field_id.removeprefix("customfield_"))
    schema: dict[str, Any] = {"type": schema_type, "custom": custom_type, "customId": number}
    if kind == "sprint":
        schema["items"] = "json"
    choices = tuple((f"{number}{index:02d}", value) for index, value in enumerate(options))
    return FieldDef(field_id, name, (f"cf[{number}]", name), schema, kind=kind, options=choices)


class JiraInstance(Protocol):
    """What rendering needs from the sandbox."""

    @property
    def mode(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def projects(self) -> Mapping[str, tuple[str, str]]: ...  # key -> (id, name)

    @property
    def custom_fields(self) -> Mapping[str, FieldDef]: ...

    def find_issue(self, key_or_id: str) -> Issue: ...

    def custom_value(self, issue: Issue, field_id: str) -> Any: ...

    def links_of(self, issue: Issue) -> list[IssueLink]: ...


# --- JSON shapes -----------------------------------------------------------------------


def jira_timestamp(moment: datetime) -> str:
    """Jira's wire format for instants: 2026-11-24T10:00:00.000+0000."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def wiki_to_adf(text: str) -> dict[str, Any]:
    """A v2 (wiki markup) comment body as Jira stores it, minimally: one paragraph of text
    per line (an empty line an empty paragraph), the markup left as it was written."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
        for line in text.split("\n")
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def adf_to_wiki(document: Any) -> str:
    """A stored ADF document as a v2 read shows it, wiki-ish: each block on its lines,
    text nodes concatenated, headings `h3. `, table rows `||a||b||` (headers) or `|a|b|`,
    status lozenges as their text, rules `----`, hard breaks as newlines. Enough for a v2
    reader of a comment written through v3 to see its words; not Jira's full converter."""
    return "\n".join(_block_wiki(block) for block in _nodes(document))


def _block_wiki(node: dict[str, Any]) -> str:
    kind = node.get("type")
    if kind == "heading":
        level = (node.get("attrs") or {}).get("level", 1)
        return f"h{level}. {_inline_wiki(node)}"
    if kind == "rule":
        return "----"
    if kind == "table":
        return "\n".join(_row_wiki(row) for row in _nodes(node))
    if kind in ("bulletList", "orderedList", "blockquote", "panel", "listItem"):
        return "\n".join(_block_wiki(child) for child in _nodes(node))
    return _inline_wiki(node)


def _row_wiki(row: dict[str, Any]) -> str:
    cells = _nodes(row)
    header = bool(cells) and all(cell.get("type") == "tableHeader" for cell in cells)
    bar = "||" if header else "|"
    texts = [" ".join(_block_wiki(block) for block in _nodes(cell)) for cell in cells]
    return bar + bar.join(texts) + bar


def _inline_wiki(node: dict[str, Any]) -> str:
    parts: list[str] = []
    for child in _nodes(node):
        kind = child.get("type")
        attrs = child.get("attrs") or {}
        if kind == "text":
            parts.append(str(child.get("text", "")))
        elif kind == "hardBreak":
            parts.append("\n")
        elif kind in ("status", "mention", "emoji", "date"):
            parts.append(str(attrs.get("text") or attrs.get("shortName") or ""))
        else:
            parts.append(_inline_wiki(child))
    return "".join(parts)


def _nodes(node: Any) -> list[dict[str, Any]]:
    content = node.get("content") if isinstance(node, dict) else None
    return [child for child in content or () if isinstance(child, dict)]


def adf(text: str | None) -> dict[str, Any] | None:
    """Plain text as an Atlassian Document Format document (what v3 reads return)."""
    if text is None:
        return None
    paragraph = {"type": "paragraph", "content": [{"type": "text", "text": text}] if text else []}
    return {"type": "doc", "version": 1, "content": [paragraph]}


@dataclass(frozen=True, slots=True)
class FieldSelection:
    """Which fields an issue is rendered with. `ids_only`: Cloud search's bare `{"id"}`."""

    field_ids: frozenset[str]
    ids_only: bool = False


class JiraView:
    """Renders state as Jira JSON for one request: its base URL, API version and mode."""

    def __init__(self, sandbox: JiraInstance, api_version: str) -> None:
        self._sandbox = sandbox
        self.cloud = sandbox.mode == "cloud"
        self.api_version = api_version
        self._api = f"{sandbox.url}/rest/api/{api_version}"

    def text(self, value: str | dict[str, Any] | None) -> Any:
        """A text field as this API version shows it: v3 an ADF document, v2 wiki markup
        (a document written through v3 in its wiki-ish rendering)."""
        if isinstance(value, dict):
            return value if self.api_version == "3" else adf_to_wiki(value)
        return adf(value) if self.api_version == "3" else value

    def link(self, issue: Issue, link: IssueLink) -> dict[str, Any]:
        """One entry of `issuelinks` as seen from `issue`: the other issue, inward or outward."""
        type_id, inward, outward = LINK_TYPES[link.type]
        shown: dict[str, Any] = {
            "id": link.id,
            "self": f"{self._api}/issueLink/{link.id}",
            "type": {
                "id": type_id,
                "name": link.type,
                "inward": inward,
                "outward": outward,
                "self": f"{self._api}/issueLinkType/{type_id}",
            },
        }
        if link.inward == issue.key:
            shown["outwardIssue"] = self.linked(link.outward)
        else:
            shown["inwardIssue"] = self.linked(link.inward)
        return shown

    def linked(self, key: str) -> dict[str, Any]:
        other = self._sandbox.find_issue(key)
        return {
            "id": other.id,
            "key": other.key,
            "self": f"{self._api}/issue/{other.id}",
            "fields": {
                "summary": other.summary,
                "status": self.status(other.status),
                "priority": self.priority(),
                "issuetype": self.issuetype(other.issuetype),
            },
        }

    def user(self, user: User) -> dict[str, Any]:
        avatars = {
            size: f"{self._sandbox.url}/secure/useravatar?size={size}&ownerId={user.username}"
            for size in ("48x48", "24x24", "16x16", "32x32")
        }
        shown: dict[str, Any] = {
            "emailAddress": user.email,
            "avatarUrls": avatars,
            "displayName": user.display_name,
            "active": True,
            "timeZone": "Etc/UTC",
        }
        if self.cloud:
            return {
                "self": f"{self._api}/user?accountId={user.account_id}",
                "accountId": user.account_id,
                "accountType": "atlassian",
                **shown,
            }
        return {
            "self": f"{self._api}/user?username={user.username}",
            "name": user.username,
            "key": user.username,
            **shown,
        }

    def status(self, name: str) -> dict[str, Any]:
        status_id, category_key = STATUSES[name]
        category_id, color, category_name = STATUS_CATEGORIES[category_key]
        return {
            "self": f"{self._api}/status/{status_id}",
            "description": "",
            "iconUrl": f"{self._sandbox.url}/images/icons/statuses/generic.png",
            "name": name,
            "id": status_id,
            "statusCategory": {
                "self": f"{self._api}/statuscategory/{category_id}",
                "id": category_id,
                "key": category_key,
                "colorName": color,
                "name": category_name,
            },
        }

    def issuetype(self, name: str) -> dict[str, Any]:
        type_id, level = ISSUE_TYPES[name]
        shown: dict[str, Any] = {
            "self": f"{self._api}/issuetype/{type_id}",
            "id": type_id,
            "description": "",
            "iconUrl": f"{self._sandbox.url}/images/icons/issuetypes/{name.lower()}.svg",
            "name": name,
            "subtask": False,
        }
        if self.cloud:  # Server/Data Center has no issue type hierarchy in its REST API
            shown["hierarchyLevel"] = level
        return shown

    def project(self, key: str) -> dict[str, Any]:
        project_id, name = self._sandbox.projects[key]
        return {
            "self": f"{self._api}/project/{project_id}",
            "id": project_id,
            "key": key,
            "name": name,
            "projectTypeKey": "software",
            "simplified": False,
        }

    def priority(self) -> dict[str, Any]:
        return {
            "self": f"{self._api}/priority/3",
            "iconUrl": f"{self._sandbox.url}/images/icons/priorities/medium.svg",
            "name": "Medium",
            "id": "3",
        }

    def resolution(self, issue: Issue) -> dict[str, Any] | None:
        if issue.resolved is None:
            return None
        name = issue.status if issue.status in RESOLUTIONS else "Done"
        resolution_id = RESOLUTIONS[name]
        return {
            "self": f"{self._api}/resolution/{resolution_id}",
            "id": resolution_id,
            "description": "",
            "name": name,
        }

    def parent(self, key: str) -> dict[str, Any]:
        parent = self._sandbox.find_issue(key)
        return {
            "id": parent.id,
            "key": parent.key,
            "self": f"{self._api}/issue/{parent.id}",
            "fields": {
                "summary": parent.summary,
                "status": self.status(parent.status),
                "priority": self.priority(),
                "issuetype": self.issuetype(parent.issuetype),
            },
        }

    def comment(
        self, issue: Issue, comment: Comment, *, with_properties: bool = False
    ) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "self": f"{self._api}/issue/{issue.id}/comment/{comment.id}",
            "id": comment.id,
            "author": self.user(comment.author),
            # Stored as ADF: v3 shows the document, v2 a wiki-ish rendering of it.
            "body": comment.body if self.api_version == "3" else adf_to_wiki(comment.body),
            "updateAuthor": self.user(comment.update_author),
            "created": jira_timestamp(comment.created),
            "updated": jira_timestamp(comment.updated),
        }
        if self.cloud:
            shown["jsdPublic"] = True
        if with_properties:  # only with expand=properties, like Jira
            shown["properties"] = [{"key": k, "value": v} for k, v in comment.properties.items()]
        return shown

    def comment_page(self, issue: Issue, comments: Sequence[Comment]) -> dict[str, Any]:
        return {
            "comments": [self.comment(issue, c) for c in comments],
            "self": f"{self._api}/issue/{issue.id}/comment",
            "maxResults": len(comments),
            "total": len(comments),
            "startAt": 0,
        }

    def issue(
        self, issue: Issue, selection: FieldSelection, properties: Sequence[str] = ()
    ) -> dict[str, Any]:
        """The issue with the selected fields; with `properties` (a search's property
        keys), also `"properties": {key: value}` for each of them the issue has."""
        shown: dict[str, Any] = {"id": issue.id}
        if not selection.ids_only:
            readers = self._field_readers(issue)
            shown = {
                "expand": ISSUE_EXPAND,
                "id": issue.id,
                "self": f"{self._api}/issue/{issue.id}",
                "key": issue.key,
                "fields": {f: readers[f]() for f in readers if f in selection.field_ids},
            }
        if properties:
            shown["properties"] = {
                key: issue.properties[key] for key in properties if key in issue.properties
            }
        return shown

    def _field_readers(self, issue: Issue) -> dict[str, Callable[[], Any]]:
        """Every field the issue has, lazily rendered (only the selected ones are built)."""
        readers: dict[str, Callable[[], Any]] = {
            "summary": lambda: issue.summary,
            "description": lambda: self.text(issue.description),
            "issuetype": lambda: self.issuetype(issue.issuetype),
            "project": lambda: self.project(issue.project),
            "status": lambda: self.status(issue.status),
            "priority": self.priority,
            "labels": lambda: list(issue.labels),
            "assignee": lambda: None,
            "reporter": lambda: self.user(issue.reporter),
            "created": lambda: jira_timestamp(issue.created),
            "updated": lambda: jira_timestamp(issue.updated),
            "resolution": lambda: self.resolution(issue),
            "resolutiondate": lambda: issue.resolved and jira_timestamp(issue.resolved),
            "comment": lambda: self.comment_page(issue, issue.comments),
            "issuelinks": lambda: [self.link(issue, x) for x in self._sandbox.links_of(issue)],
        }
        if self.cloud and issue.parent is not None:
            parent_key = issue.parent
            readers["parent"] = lambda: self.parent(parent_key)
        for field_id in self._sandbox.custom_fields:
            readers[field_id] = functools.partial(self._sandbox.custom_value, issue, field_id)
        return readers
