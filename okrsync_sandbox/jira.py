"""A stateful, local Jira (Cloud or Server/Data Center) for integration tests and the demo.

The real `jira` library talks to it over HTTP. Requests and responses are checked
against Atlassian's published description (trimmed copy in specs/jira.json); the few
places where Jira or the `jira` library knowingly differ from that description are
listed in `JIRA_RELAXATIONS`.

Behaviour copied from Jira on purpose, because clients must cope with it:
- Cloud serves `search/jql` (token paging, no `total`, bounded queries only) and answers
  410 on the removed `search`; Server serves `search` (startAt/total; `maxResults=0`
  gives the total alone) and has no `search/jql`. Cloud counts with
  `search/approximate-count` (bounded queries only); Server has no such endpoint (404).
- `search/jql` returns only issue ids unless `fields` are asked for; `search` defaults
  to navigable fields; `GET issue` to all fields.
- JQL compares dates at minute precision; unknown projects, issue keys and statuses in
  JQL are 400s (or warnings with `validateQuery=warn|false|none` on Server).
- Adding, editing or deleting a comment bumps the issue's `updated`.
- Comments are stored as ADF documents, as Jira Cloud stores them: a v3 write takes an
  ADF document (checked against Atlassian's ADF JSON schema, specs/adf.v1.json: a 400
  otherwise), a v2 write wiki markup (stored as one paragraph per line); v3 reads show
  the document, v2 reads a wiki-ish rendering of it (`adf_to_wiki`).
- Cloud links an issue to its parent epic with `parent`; Server with the "Epic Link"
  custom field, and its issue types have no `hierarchyLevel`.
- Editing an issue checks every field before applying any: an unknown field, a wrong
  type or a select option that does not exist is a 400 naming the field in `errors`.
  Select options are matched by id, or by value exactly (as Jira does); `editmeta` lists
  them as `allowedValues`.
- `notifyUsers=false` (issue and comment edits) needs admin rights: with
  `notify_users_allowed = False` an issue edit answers 403 and a comment edit 400, each
  with Jira's message.
- Issue entity properties: `PUT` answers 201 (created) or 200 (updated), `GET` and
  `DELETE` (204) 404 when the property does not exist; the value must be non-empty JSON
  of at most 32,768 bytes.
  JQL finds issues by them: `issue.property[okrsync.kr].kr = "ONB-1"` (in Jira only a
  property some app asks Jira to index is searchable; the sandbox indexes every one
  unless `property_jql_indexed = False`, where such clauses find no value). A search's
  `properties` (up to 5 keys) shows each issue's values of them under `properties`.
- `POST issue` creates an issue (project, issue type, summary required; `properties` set
  with it) and answers 201 `{id, key, self}`; a v3 `description` is an ADF document, a v2
  one wiki markup. `POST issueLink` links two issues by link type name or id (Jira's
  defaults: Blocks, Cloners, Duplicate, Relates) and answers 201 with no body; the same
  link again adds none. `DELETE issueLink/{id}` answers 204. Links show in `issuelinks`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal

from okrsync_sandbox._jira_model import (
    EPIC_LINK_FIELD,
    ISSUE_TYPES,
    LINK_TYPES,
    STATUS_CATEGORIES,
    STATUSES,
    STORY_POINTS_FIELD,
    SYSTEM_FIELDS,
    Comment,
    FieldDef,
    FieldSelection,
    Issue,
    IssueLink,
    JiraView,
    User,
    adf_to_wiki,
    custom_field,
    jira_timestamp,
    wiki_to_adf,
)
from okrsync_sandbox._jql import (
    CompiledQuery,
    JqlError,
    JqlField,
    JqlValueError,
    compile_jql,
    jql_date,
    parse_jql,
    to_minute,
)
from okrsync_sandbox._openapi import Relaxation, SpecValidator
from okrsync_sandbox._server import ApiError, HttpRequest, HttpResponse, SandboxServer

Mode = Literal["cloud", "server"]

SPEC_PATH = Path(__file__).with_name("specs") / "jira.json"
ADF_SCHEMA_PATH = Path(__file__).with_name("specs") / "adf.v1.json"
READ_VERSIONS = ("2", "latest", "3")
WRITE_VERSIONS = ("2", "latest", "3")  # v3 comment writes take ADF bodies
INVALID_COMMENT_BODY = "Comment body is not valid!"

NOT_FOUND_ISSUE = "Issue does not exist or you do not have permission to see it."
NOTIFY_USERS_REFUSED = (
    "To discard the user notification either admin or project admin permissions are required."
)
HEALTH_OPTIONS = ("On track", "At risk", "Off track", "No data")
OKR_HEALTH_FIELD = "customfield_10050"
KR_PROGRESS_FIELD = "customfield_10051"
NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
SEARCH_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at "
    "https://developer.atlassian.com/changelog/#CHANGE-2046"
)
UNBOUNDED_QUERY = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
# A search's `properties`: "a list of up to 5 issue properties" (Atlassian's description).
MAX_SEARCH_PROPERTIES = 5

# --- where the description and Jira disagree -------------------------------------------

_JIRA_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"
)


def is_jira_timestamp(value: str) -> bool:
    return _JIRA_TIMESTAMP.match(value) is not None


def _operation(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    operation: dict[str, Any] = spec["paths"][path][method]
    return operation


def _accept_capitalized_validate_query(spec: dict[str, Any]) -> None:
    for parameter in _operation(spec, "/rest/api/3/search", "get")["parameters"]:
        if parameter["name"] == "validateQuery":
            parameter["schema"]["enum"] += ["True", "False"]


def _accept_library_post_bodies(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for bean in ("SearchRequestBean", "SearchAndReconcileRequestBean"):
        for name in ("expand", "properties"):
            schemas[bean]["properties"][name]["nullable"] = True
    validate_query = schemas["SearchRequestBean"]["properties"]["validateQuery"]
    validate_query.pop("type")
    validate_query["enum"] += [True, False]


def _declare_gone_search(spec: dict[str, Any]) -> None:
    for method in ("get", "post"):
        _operation(spec, "/rest/api/3/search", method)["responses"]["410"] = {
            "description": "The API was removed from Jira Cloud."
        }


def _empty_property_answers(spec: dict[str, Any]) -> None:
    responses = _operation(spec, "/rest/api/3/issue/{issueIdOrKey}/properties/{propertyKey}", "put")
    for status in ("200", "201"):
        responses["responses"][status].pop("content", None)


def _empty_link_answer(spec: dict[str, Any]) -> None:
    _operation(spec, "/rest/api/3/issueLink", "post")["responses"]["201"].pop("content", None)


def _drop_content_from_204(spec: dict[str, Any]) -> None:
    for operations in spec["paths"].values():
        for operation in operations.values():
            operation["responses"].get("204", {}).pop("content", None)


JIRA_RELAXATIONS: tuple[Relaxation, ...] = (
    Relaxation(
        why="Jira writes every date-time as 2026-11-24T10:00:00.000+0000, which is not "
        "RFC 3339 (no colon in the offset); accept that shape, still reject non-timestamps.",
        formats={"date-time": is_jira_timestamp},
    ),
    Relaxation(
        why="The jira library sends validateQuery=True (Python's str(True)) on Server "
        "search and Jira accepts it; the enum lists only lower case.",
        patch=_accept_capitalized_validate_query,
    ),
    Relaxation(
        why="With use_post=True the jira library posts null for expand/properties and a "
        "JSON boolean for validateQuery; Jira ignores the nulls and accepts the boolean.",
        patch=_accept_library_post_bodies,
    ),
    Relaxation(
        why="Jira Cloud answers 410 Gone on /search since 2025-05-01 (CHANGE-2046); the "
        "description still lists the operation, deprecated, without a 410.",
        patch=_declare_gone_search,
    ),
    Relaxation(
        why="A 204 has no body (RFC 9110), yet 'Edit issue' declares 204 with JSON "
        "content, so the honest empty 204 Jira sends would fail.",
        patch=_drop_content_from_204,
    ),
    Relaxation(
        why="'Set issue property' declares JSON content (any schema) on 200 and 201, but "
        "Jira answers both with an empty body.",
        patch=_empty_property_answers,
    ),
    Relaxation(
        why="'Create issue link' declares JSON content (any schema) on 201, but Jira "
        "answers with an empty body (the new link's URL in `Location`).",
        patch=_empty_link_answer,
    ),
)


@functools.cache
def adf_validator() -> Any:
    """Atlassian's ADF JSON schema (draft 4): the OpenAPI description says only that a v3
    comment's `body` is an object."""
    import jsonschema

    schema = json.loads(ADF_SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def adf_problems(document: Any) -> list[str]:
    """Why `document` is not a valid ADF document (empty: it is)."""
    return [
        f"{'/'.join(map(str, error.absolute_path)) or 'body'}: {error.message}"[:300]
        for error in adf_validator().iter_errors(document)
    ]


@functools.cache
def jira_spec_validator() -> SpecValidator:
    """The validator for every Jira sandbox of the process: the description loads once."""
    return SpecValidator(
        SPEC_PATH,
        path_prefix_map={"/rest/api/2/": "/rest/api/3/", "/rest/api/latest/": "/rest/api/3/"},
        relax=JIRA_RELAXATIONS,
    )


# --- the sandbox -----------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _FieldError(ValueError):
    """An edit Jira refuses, reported under the field's id in `errors`."""


class JiraSandbox(SandboxServer):
    """A local Jira. See the module docstring for the behaviour it copies from Jira.

    mode "cloud": basic auth `email:token`, `search/jql`, `parent` links.
    mode "server": bearer personal access token `token`, `search`, Epic Link.
    """

    story_points_field = STORY_POINTS_FIELD
    epic_link_field = EPIC_LINK_FIELD

    def __init__(
        self,
        mode: Mode = "cloud",
        email: str = "demo@example.com",
        token: str = "sandbox-token",
        *,
        strict: bool = True,
        port: int = 0,
    ) -> None:
        if mode not in ("cloud", "server"):
            raise ValueError(f"mode must be 'cloud' or 'server', not {mode!r}")
        super().__init__(validator=jira_spec_validator(), strict=strict, port=port)
        self.mode: Mode = mode
        self.email = email
        self.token = token
        self.now: Callable[[], datetime] = _utc_now
        # False: the API user may not pass notifyUsers=false (Jira asks for admin rights).
        self.notify_users_allowed = True
        # False: no app declared issue properties for indexing, as with a plain API token
        # on real Jira: `issue.property[...]` clauses find no value (`=`/`IN` match nothing).
        self.property_jql_indexed = True
        self.api_user = User("5b10ac8d82e05b22cc7d4ef5", "okrsync", "okrsync", email)
        self.human = User("5b10a2844c20165700ede21g", "alex", "Alex Human", "alex@example.com")
        self.projects: dict[str, tuple[str, str]] = {}  # key -> (id, name)
        self.custom_fields: dict[str, FieldDef] = {}
        self._issues: dict[str, Issue] = {}  # by key
        self._next_issue_id = 10001
        self._next_comment_id = 10000
        self._links: dict[str, IssueLink] = {}  # by id
        self._next_link_id = 10000
        self._add_default_custom_fields()
        self._register_routes()

    def _add_default_custom_fields(self) -> None:
        self._put_custom_field(custom_field(STORY_POINTS_FIELD, "Story Points", "number"))
        if self.mode == "server":
            self._put_custom_field(custom_field(EPIC_LINK_FIELD, "Epic Link", "epic-link"))
        self._put_custom_field(custom_field("customfield_10020", "Sprint", "sprint"))
        self._put_custom_field(custom_field("customfield_10015", "Start date", "date"))
        # What okrsync's write-back fields are usually called (docs/design.md).
        health = custom_field(OKR_HEALTH_FIELD, "OKR Health", "select", HEALTH_OPTIONS)
        self._put_custom_field(health)
        self._put_custom_field(custom_field(KR_PROGRESS_FIELD, "KR Progress", "number"))

    def _put_custom_field(self, definition: FieldDef) -> None:
        self.custom_fields[definition.id] = definition

    # --- test-facing API ----------------------------------------------------------------

    def add_project(self, key: str, name: str | None = None) -> None:
        """Create a project (add_issue creates missing projects on its own)."""
        if not re.fullmatch(r"[A-Z][A-Z0-9_]+", key):
            raise ValueError(f"project key {key!r} is not a Jira project key")
        with self._lock:
            if key not in self.projects:
                self.projects[key] = (str(10000 + len(self.projects)), name or key)

    def add_custom_field(
        self,
        name: str,
        kind: Literal["number", "string", "date", "select"],
        options: Sequence[str] = (),
    ) -> str:
        """Create a custom field (e.g. one okrsync writes back to); returns its id. A
        select's `options` are its values, in order."""
        with self._lock:
            number = 10100 + len(self.custom_fields)
            field_id = f"customfield_{number}"
            self._put_custom_field(custom_field(field_id, name, kind, options))
            return field_id

    def remove_custom_field(self, field_id: str) -> None:
        """Delete a custom field (and its values), as an admin would."""
        with self._lock:
            del self.custom_fields[field_id]
            for issue in self._issues.values():
                issue.custom.pop(field_id, None)

    def set_options(self, field_id: str, options: Sequence[str]) -> None:
        """Replace a select field's options (values set to a removed one are kept)."""
        with self._lock:
            old = self.custom_fields[field_id]
            self._put_custom_field(custom_field(field_id, old.name, old.kind, options))

    def properties(self, key: str) -> dict[str, Any]:
        """The issue's entity properties, key -> value."""
        with self._lock:
            return dict(self.find_issue(key).properties)

    def add_issue(
        self,
        project: str,
        summary: str,
        issuetype: str = "Story",
        status: str = "To Do",
        labels: Iterable[str] = (),
        parent: str | None = None,
        story_points: float | None = None,
        updated: datetime | None = None,
        created: datetime | None = None,
    ) -> str:
        """Create an issue as a person would; returns its key (numbered per project)."""
        _check_known(issuetype, ISSUE_TYPES, "issue type")
        _check_known(status, STATUSES, "status")
        if any(m is not None and m.tzinfo is None for m in (updated, created)):
            raise ValueError("created/updated must be aware datetimes (Jira stores instants)")
        with self._lock:
            self.add_project(project)
            created = created or updated or self.now()
            issue = Issue(
                id=str(self._next_issue_id),
                key=f"{project}-{self._next_number(project)}",
                project=project,
                summary=summary,
                issuetype=issuetype,
                status=status,
                labels=[],
                parent=None,
                created=created,
                updated=updated or created,
                reporter=self.human,
                resolved=created if STATUSES[status][1] == "done" else None,
            )
            self._apply_checked(issue, "labels", list(labels))
            if parent is not None:
                self._apply_checked(issue, self._parent_field_id, self._parent_value(parent))
            self._apply_checked(issue, STORY_POINTS_FIELD, story_points)
            self._next_issue_id += 1
            self._issues[issue.key] = issue
            return issue.key

    def set_status(self, key: str, status: str) -> None:
        _check_known(status, STATUSES, "status")
        with self._lock:
            issue = self.find_issue(key)
            issue.status = status
            issue.updated = self.now()
            done = STATUSES[status][1] == "done"
            issue.resolved = (issue.resolved or issue.updated) if done else None

    def set_labels(self, key: str, labels: Iterable[str]) -> None:
        self.set_field(key, "labels", list(labels))

    def set_field(self, key: str, field_id: str, value: Any) -> None:
        """Edit a field as a person would (bumps `updated`); raises ValueError if Jira would."""
        with self._lock:
            issue = self.find_issue(key)
            if field_id == "parent" and self.mode == "cloud" and isinstance(value, str):
                value = {"key": value}
            if self._apply_checked(issue, field_id, value):
                issue.updated = self.now()

    def issue(self, key: str) -> dict[str, Any]:
        """A snapshot of the stored issue (plain values, not Jira JSON)."""
        with self._lock:
            issue = self.find_issue(key)
            return {
                "id": issue.id,
                "key": issue.key,
                "project": issue.project,
                "summary": issue.summary,
                "description": issue.description,
                "issuetype": issue.issuetype,
                "status": issue.status,
                "labels": list(issue.labels),
                "parent": issue.parent,
                "story_points": issue.custom.get(STORY_POINTS_FIELD),
                "custom_fields": {f: self.custom_value(issue, f) for f in self.custom_fields},
                "created": issue.created,
                "updated": issue.updated,
                "links": sorted(
                    (link.type, link.outward if link.inward == issue.key else link.inward)
                    for link in self.links_of(issue)
                ),
            }

    def created_issues(self) -> list[str]:
        """Keys of the issues the API user created (`POST issue`), oldest first."""
        with self._lock:
            made = [i for i in self._issues.values() if i.reporter == self.api_user]
            return [i.key for i in sorted(made, key=lambda i: int(i.id))]

    def links_of(self, issue: Issue) -> list[IssueLink]:
        """The issue's links, oldest first."""
        with self._lock:
            return [
                link for link in self._links.values() if issue.key in (link.inward, link.outward)
            ]

    def add_link(self, link_type: str, inward: str, outward: str) -> str:
        """Link two issues as a person would; returns the link's id."""
        _check_known(link_type, LINK_TYPES, "link type")
        with self._lock:
            return self._link(link_type, self.find_issue(inward), self.find_issue(outward))

    def comments(self, key: str) -> list[dict[str, Any]]:
        """The issue's comments, oldest first, with their entity properties (key -> value):
        `body` as a v2 read shows it (wiki-ish text), `adf` the stored document."""
        with self._lock:
            return [
                {
                    "id": c.id,
                    "body": adf_to_wiki(c.body),
                    "adf": c.body,
                    "created": c.created,
                    "updated": c.updated,
                    "properties": dict(c.properties),
                }
                for c in self.find_issue(key).comments
            ]

    def add_comment(
        self,
        key: str,
        body: str | dict[str, Any],
        properties: Mapping[str, Any] | None = None,
        author: User | None = None,
    ) -> str:
        """A comment written by `author` (default `human`, a person; `api_user` for one the
        API user wrote, e.g. a duplicate left by an older okrsync); returns its id. `body`:
        wiki markup, or an ADF document."""
        document = wiki_to_adf(body) if isinstance(body, str) else body
        with self._lock:
            comment = self._add_comment(self.find_issue(key), document, author or self.human)
            comment.properties.update(properties or {})
            return comment.id

    def edit_comment(
        self, key: str, comment_id: str, body: str | dict[str, Any], author: User | None = None
    ) -> None:
        """Edit a comment as `author` would in Jira's editor (default `human`, a person; an
        admin may edit anyone's): its body replaced, its properties kept."""
        document = wiki_to_adf(body) if isinstance(body, str) else body
        with self._lock:
            issue = self.find_issue(key)
            comment = self._find_comment(issue, comment_id)
            comment.body = document
            comment.update_author = author or self.human
            comment.updated = issue.updated = self.now()

    def delete_comment(self, key: str, comment_id: str) -> None:
        """Delete a comment as a person (or an admin) would."""
        with self._lock:
            issue = self.find_issue(key)
            issue.comments.remove(self._find_comment(issue, comment_id))
            issue.updated = self.now()

    def delete_issue(self, key: str) -> None:
        """Delete an issue (and its comments) as an admin would: it answers 404 from then on."""
        with self._lock:
            gone = self.find_issue(key).key
            del self._issues[gone]
            for link_id, link in list(self._links.items()):
                if gone in (link.inward, link.outward):
                    del self._links[link_id]

    def revoke_token(self) -> None:
        """Revoke the API token: every authenticated request answers 401 from now on."""
        with self._lock:
            self.token = f"revoked-{self.token}"

    # --- state helpers ------------------------------------------------------------------

    def find_issue(self, key_or_id: str) -> Issue:
        """The issue by key (any case) or numeric id; KeyError when there is none."""
        with self._lock:
            issue = self._issues.get(key_or_id.upper())
            if issue is None and key_or_id.isdigit():
                issue = next((i for i in self._issues.values() if i.id == key_or_id), None)
            if issue is None:
                raise KeyError(key_or_id)
            return issue

    def custom_value(self, issue: Issue, field_id: str) -> Any:
        if field_id == EPIC_LINK_FIELD and self.mode == "server":
            return issue.parent
        value = issue.custom.get(field_id)
        definition = self.custom_fields.get(field_id)
        if value is not None and definition is not None and definition.kind == "select":
            names = dict(definition.options)
            return {
                "self": f"{self.url}/rest/api/2/customFieldOption/{value}",
                "value": names.get(value, value),
                "id": value,
            }
        return value

    @property
    def _parent_field_id(self) -> str:
        return "parent" if self.mode == "cloud" else EPIC_LINK_FIELD

    def _parent_value(self, parent_key: str) -> Any:
        return {"key": parent_key} if self.mode == "cloud" else parent_key

    def _next_number(self, project: str) -> int:
        numbers = [i.number for i in self._issues.values() if i.project == project]
        return max(numbers, default=0) + 1

    def _add_comment(self, issue: Issue, body: dict[str, Any], author: User) -> Comment:
        moment = self.now()
        comment = Comment(str(self._next_comment_id), body, author, author, moment, moment)
        self._next_comment_id += 1
        issue.comments.append(comment)
        issue.updated = moment  # Jira: a comment updates its issue
        return comment

    def _link(self, link_type: str, inward: Issue, outward: Issue) -> str:
        for link in self._links.values():
            if (link.type, link.inward, link.outward) == (link_type, inward.key, outward.key):
                return link.id  # Jira keeps one link of a type between two issues
        link = IssueLink(str(self._next_link_id), link_type, inward.key, outward.key)
        self._next_link_id += 1
        self._links[link.id] = link
        inward.updated = outward.updated = self.now()  # a link is in both issues' history
        return link.id

    def _find_comment(self, issue: Issue, comment_id: str) -> Comment:
        for comment in issue.comments:
            if comment.id == comment_id:
                return comment
        raise ApiError(HTTPStatus.NOT_FOUND, f"Can not find a comment for the id: {comment_id}.")

    # --- field edits (PUT issue, set_field, add_issue) ----------------------------------

    def _apply_checked(self, issue: Issue, field_id: str, value: Any) -> bool:
        """Check and apply one edit; ValueError if Jira would refuse it. True if changed."""
        try:
            return self._apply_edit(issue, field_id, self._checked_edit(issue, field_id, value))
        except _FieldError as error:
            raise ValueError(f"{field_id}: {error}") from None

    def _checked_edit(self, issue: Issue, field_id: str, value: Any) -> Any:
        """The stored form of `value` for `field_id`, or _FieldError with Jira's message."""
        if field_id == "summary":
            if not isinstance(value, str) or not value.strip() or "\n" in value:
                raise _FieldError("You must specify a summary of the issue.")
            return value
        if field_id == "description":
            if isinstance(value, dict):  # v3: an ADF document (the route checked the version)
                problems = adf_problems(value)
                if problems:
                    raise _FieldError(f"Invalid ADF document: {problems[0]}")
                return value
            if value is None:
                return None
            return _checked_type(value, str, "Operation value must be a string")
        if field_id == "labels":
            return _checked_labels(value)
        if field_id == self._parent_field_id:
            return self._checked_parent(issue, value)
        definition = self.custom_fields.get(field_id)
        if definition is not None and definition.kind in ("number", "string", "date"):
            return _checked_custom(definition.kind, value)
        if definition is not None and definition.kind == "select":
            return _checked_option(definition, value)
        raise _FieldError(
            f"Field '{field_id}' cannot be set. It is not on the appropriate screen, or unknown."
        )

    def _checked_parent(self, issue: Issue, value: Any) -> str | None:
        if value is None:
            return None
        if self.mode == "cloud":
            if not isinstance(value, dict):
                raise _FieldError("Operation value must be an object with a key or id.")
            reference = value.get("key") or value.get("id")
        else:
            reference = value
        try:
            parent = self.find_issue(str(reference))
        except KeyError:
            raise _FieldError(f"Could not find issue by id or key: {reference}.") from None
        if parent.key == issue.key:
            raise _FieldError("An issue cannot be its own parent.")
        if self.mode == "server" and parent.issuetype != "Epic":
            raise _FieldError(f"Issue {parent.key} is not an Epic.")
        return parent.key

    def _apply_edit(self, issue: Issue, field_id: str, value: Any) -> bool:
        current = self._stored_value(issue, field_id)
        if current == value:
            return False
        if field_id in ("summary", "description", "labels"):
            setattr(issue, field_id, value)
        elif field_id == self._parent_field_id:
            issue.parent = value
        else:
            issue.custom[field_id] = value
        return True

    def _stored_value(self, issue: Issue, field_id: str) -> Any:
        if field_id in ("summary", "description", "labels"):
            return getattr(issue, field_id)
        if field_id == self._parent_field_id:
            return issue.parent
        return issue.custom.get(field_id)

    # --- HTTP: routes, auth, errors -----------------------------------------------------

    def _register_routes(self) -> None:
        add = self.router.add
        for version in READ_VERSIONS:
            api = f"/rest/api/{version}"
            add("GET", f"{api}/serverInfo", self._get_server_info)
            add("GET", f"{api}/myself", self._get_myself)
            add("GET", f"{api}/field", self._get_fields)
            add("GET", f"{api}/issueLinkType", self._get_link_types)
            add("GET POST", f"{api}/search", self._search)
            if self.mode == "cloud":  # Server has no enhanced search: 404 there, like Jira
                add("GET POST", f"{api}/search/jql", self._search_jql)
                add("POST", f"{api}/search/approximate-count", self._approximate_count)
            add("GET", f"{api}/issue/{{issueIdOrKey}}", self._get_issue)
            add("GET", f"{api}/issue/{{issueIdOrKey}}/comment", self._get_comments)
            add("GET", f"{api}/issue/{{issueIdOrKey}}/comment/{{id}}", self._get_comment)
            add("GET", f"{api}/issue/{{issueIdOrKey}}/editmeta", self._get_editmeta)
            # Fields and properties take no ADF: v3 edits them as v2 does.
            add("PUT", f"{api}/issue/{{issueIdOrKey}}", self._edit_issue)
            properties = f"{api}/issue/{{issueIdOrKey}}/properties/{{propertyKey}}"
            add("GET", properties, self._get_property)
            add("PUT", properties, self._put_property)
            add("DELETE", properties, self._delete_property)
        for version in WRITE_VERSIONS:
            if version == "3" and self.mode != "cloud":
                continue  # Server/Data Center has no ADF: its comments are written in wiki
            api = f"/rest/api/{version}"
            add("POST", f"{api}/issue/{{issueIdOrKey}}/comment", self._post_comment)
            add("PUT", f"{api}/issue/{{issueIdOrKey}}/comment/{{id}}", self._put_comment)
            add("DELETE", f"{api}/issue/{{issueIdOrKey}}/comment/{{id}}", self._delete_comment)
            add("POST", f"{api}/issue", self._create_issue)
            add("POST", f"{api}/issueLink", self._create_link)
            add("DELETE", f"{api}/issueLink/{{linkId}}", self._delete_link)

    def authenticate(self, request: HttpRequest) -> None:
        credentials = request.header("authorization")
        if credentials is None and request.path.endswith("/serverInfo"):
            return  # Jira answers serverInfo anonymously
        if credentials is None or not self._credentials_valid(credentials):
            raise ApiError(HTTPStatus.UNAUTHORIZED, NOT_AUTHENTICATED)

    def _credentials_valid(self, credentials: str) -> bool:
        scheme, _, value = credentials.partition(" ")
        if self.mode == "server":
            return scheme.lower() == "bearer" and value == self.token
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except ValueError:
            return False
        return decoded == f"{self.email}:{self.token}"

    def error_body(self, error: ApiError) -> Any:
        return {"errorMessages": error.messages, "errors": error.field_errors}

    def _view(self, request: HttpRequest) -> JiraView:
        return JiraView(self, request.path.split("/")[3])

    def _issue_for(self, request: HttpRequest) -> Issue:
        try:
            return self.find_issue(request.path_params["issueIdOrKey"])
        except KeyError:
            raise ApiError(HTTPStatus.NOT_FOUND, NOT_FOUND_ISSUE) from None

    # --- HTTP: server, user, fields -----------------------------------------------------

    def _get_server_info(self, request: HttpRequest) -> HttpResponse:
        cloud = self.mode == "cloud"
        version = (1001, 0, 0) if cloud else (9, 12, 15)
        return HttpResponse(
            200,
            {
                "baseUrl": self.url,
                "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.15",
                "versionNumbers": list(version),
                "deploymentType": "Cloud" if cloud else "Server",
                "buildNumber": 100294 if cloud else 9120015,
                "buildDate": "2026-11-01T00:00:00.000+0000",
                "serverTime": jira_timestamp(self.now()),
                "scmInfo": "sandbox",
                "serverTitle": "Jira sandbox",
            },
        )

    def _get_myself(self, request: HttpRequest) -> HttpResponse:
        me = self._view(request).user(self.api_user)
        me.update(
            {
                "locale": "en_US",
                "groups": {"size": 1, "items": []},
                "applicationRoles": {"size": 1, "items": []},
                "expand": "groups,applicationRoles",
            }
        )
        return HttpResponse(200, me)

    def _get_fields(self, request: HttpRequest) -> HttpResponse:
        definitions = [*SYSTEM_FIELDS, *self.custom_fields.values()]
        return HttpResponse(200, [d.details() for d in definitions])

    # --- HTTP: search -------------------------------------------------------------------

    def _search(self, request: HttpRequest) -> HttpResponse:
        if self.mode == "cloud":
            raise ApiError(HTTPStatus.GONE, SEARCH_GONE)
        args = _Arguments(request)
        jql = args.text("jql") or ""
        lenient = (args.text("validateQuery") or "strict").lower() in ("warn", "false", "none")
        compiled = self._compile(jql, lenient=lenient)
        start_at = max(args.integer("startAt", 0), 0)
        max_results = _clamp(args.integer("maxResults", 50), low=0, high=1000, default=50)
        matches = self._matching(compiled)
        view = self._view(request)
        selection = self._selection(args.strings("fields"), default="*navigable")
        properties = _property_keys(args)
        body: dict[str, Any] = {
            "expand": "schema,names",
            "startAt": start_at,
            "maxResults": max_results,
            "total": len(matches),
            "issues": [
                view.issue(i, selection, properties)
                for i in matches[start_at : start_at + max_results]
            ],
        }
        if compiled.warnings:
            body["warningMessages"] = list(compiled.warnings)
        return HttpResponse(200, body)

    def _search_jql(self, request: HttpRequest) -> HttpResponse:
        args = _Arguments(request)
        jql = args.text("jql") or ""
        compiled = self._compile(jql, lenient=False)
        if compiled.unbounded:
            raise ApiError(HTTPStatus.BAD_REQUEST, UNBOUNDED_QUERY)
        token = args.text("nextPageToken")
        offset = _page_offset(token, jql) if token else 0
        max_results = _clamp(args.integer("maxResults", 50), low=1, high=100, default=50)
        matches = self._matching(compiled)
        page = matches[offset : offset + max_results]
        view = self._view(request)
        selection = self._selection(args.strings("fields"), default="id")
        properties = _property_keys(args)
        body: dict[str, Any] = {"issues": [view.issue(i, selection, properties) for i in page]}
        next_offset = offset + len(page)
        if next_offset < len(matches):
            body["nextPageToken"] = _page_token(next_offset, jql)
        body["isLast"] = next_offset >= len(matches)
        return HttpResponse(200, body)

    def _approximate_count(self, request: HttpRequest) -> HttpResponse:
        """Cloud's estimated count (`countIssues`): bounded JQL only, like `search/jql`.
        Jira may lag behind recent changes here; the sandbox is exact."""
        jql = _Arguments(request).text("jql") or ""
        compiled = self._compile(jql, lenient=False)
        if compiled.unbounded:
            raise ApiError(HTTPStatus.BAD_REQUEST, UNBOUNDED_QUERY)
        return HttpResponse(200, {"count": len(self._matching(compiled))})

    def _compile(self, jql: str, *, lenient: bool) -> _CompiledSearch:
        try:
            query = parse_jql(jql)
            compiled = compile_jql(
                query,
                self._jql_fields(),
                lenient=lenient,
                entity_property=_property_field if self.property_jql_indexed else _unindexed,
            )
        except JqlError as error:
            raise ApiError(HTTPStatus.BAD_REQUEST, str(error)) from None
        return _CompiledSearch(compiled, unbounded=query.where is None)

    def _matching(self, search: _CompiledSearch) -> list[Issue]:
        # Jira's default order is newest first; id breaks ties so paging is stable.
        by_id = sorted(self._issues.values(), key=lambda i: int(i.id), reverse=True)
        found = [i for i in by_id if search.compiled.matches(i)]
        return search.compiled.sort(found, default=[(self._date_field("created"), True)])

    def _selection(self, requested: Sequence[str], default: str) -> FieldSelection:
        """Resolve a `fields` parameter: ids, `*all`, `*navigable`, `-id` exclusions."""
        wanted = [name.strip() for value in requested for name in value.split(",")]
        wanted = [name for name in wanted if name] or [default]
        if wanted == ["id"]:
            return FieldSelection(frozenset(), ids_only=True)
        definitions = [*SYSTEM_FIELDS, *self.custom_fields.values()]
        chosen: set[str] = set()
        for name in wanted:
            if name == "*all":
                chosen.update(d.id for d in definitions)
            elif name == "*navigable":
                chosen.update(d.id for d in definitions if d.navigable)
            elif not name.startswith("-"):
                chosen.add(name)
        chosen.difference_update(name[1:] for name in wanted if name.startswith("-"))
        return FieldSelection(frozenset(chosen))

    # --- HTTP: issues -------------------------------------------------------------------

    def _get_issue(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        selection = self._selection(request.query.get("fields", []), default="*all")
        return HttpResponse(200, self._view(request).issue(issue, selection))

    def _edit_issue(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        self._check_notify_users(request, HTTPStatus.FORBIDDEN)
        body = request.json()
        if not isinstance(body, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "Can not deserialize the request body.")
        _check_description(request, body.get("fields"))
        edits = self._planned_edits(issue, body)
        changed = [self._apply_edit(issue, field_id, value) for field_id, value in edits.items()]
        if any(changed):
            issue.updated = self.now()
        if (request.first("returnIssue") or "").lower() == "true":
            selection = self._selection([], default="*all")
            return HttpResponse(200, self._view(request).issue(issue, selection))
        return HttpResponse(HTTPStatus.NO_CONTENT)

    def _planned_edits(self, issue: Issue, body: dict[str, Any]) -> dict[str, Any]:
        """Every edit of a PUT, checked before any applies (Jira edits all or nothing)."""
        fields, updates = body.get("fields") or {}, body.get("update") or {}
        if not isinstance(fields, dict) or not isinstance(updates, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "Can not deserialize the request body.")
        requested: dict[str, Any] = dict(fields)
        errors: dict[str, str] = {}
        for field_id, operations in updates.items():
            try:
                current = requested.get(field_id, self._stored_value(issue, field_id))
                requested[field_id] = _after_operations(field_id, current, operations)
            except _FieldError as error:
                errors[field_id] = str(error)
        edits: dict[str, Any] = {}
        for field_id, value in requested.items():
            try:
                edits[field_id] = self._checked_edit(issue, field_id, value)
            except _FieldError as error:
                errors[field_id] = str(error)
        if errors:
            raise ApiError(HTTPStatus.BAD_REQUEST, field_errors=errors)
        return edits

    def _create_issue(self, request: HttpRequest) -> HttpResponse:
        """`POST issue`: project, issue type and summary are required; every other field
        is checked as an edit is; `properties` are set with the issue."""
        body = request.json()
        fields = body.get("fields") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "Can not deserialize the request body.")
        _check_description(request, fields)
        errors: dict[str, str] = {}
        project = self._referenced_project(fields.get("project"))
        if project is None:
            errors["project"] = "Specify a valid project ID or key"
        issuetype = _referenced_type(fields.get("issuetype"))
        if issuetype is None:
            errors["issuetype"] = "Specify an issue type"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if errors:
            raise ApiError(HTTPStatus.BAD_REQUEST, field_errors=errors)
        assert project is not None and issuetype is not None
        moment = self.now()
        issue = Issue(
            id=str(self._next_issue_id),
            key=f"{project}-{self._next_number(project)}",
            project=project,
            summary="",
            issuetype=issuetype,
            status="To Do",
            labels=[],
            parent=None,
            created=moment,
            updated=moment,
            reporter=self.api_user,
        )
        rest = {k: v for k, v in fields.items() if k not in ("project", "issuetype")}
        for field_id, value in self._planned_edits(issue, {"fields": rest}).items():
            self._apply_edit(issue, field_id, value)
        for entry in body.get("properties") or ():
            if isinstance(entry, dict) and entry.get("key"):
                issue.properties[str(entry["key"])] = entry.get("value")
        self._next_issue_id += 1
        self._issues[issue.key] = issue
        api = "/".join(request.path.split("/")[:4])
        created = {"id": issue.id, "key": issue.key, "self": f"{self.url}{api}/issue/{issue.id}"}
        return HttpResponse(HTTPStatus.CREATED, created)

    def _referenced_project(self, value: Any) -> str | None:
        if not isinstance(value, dict):
            return None
        for key, (project_id, _) in self.projects.items():
            if value.get("key") == key or value.get("id") == project_id:
                return key
        return None

    def _get_link_types(self, request: HttpRequest) -> HttpResponse:
        api = "/".join(request.path.split("/")[:4])
        return HttpResponse(
            200,
            {
                "issueLinkTypes": [
                    {
                        "id": type_id,
                        "name": name,
                        "inward": inward,
                        "outward": outward,
                        "self": f"{self.url}{api}/issueLinkType/{type_id}",
                    }
                    for name, (type_id, inward, outward) in LINK_TYPES.items()
                ]
            },
        )

    def _create_link(self, request: HttpRequest) -> HttpResponse:
        body = request.json()
        if not isinstance(body, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "Can not deserialize the request body.")
        wanted = body.get("type") or {}
        link_type = next(
            (
                name
                for name, (type_id, _, _) in LINK_TYPES.items()
                if wanted.get("name") == name or wanted.get("id") == type_id
            ),
            None,
        )
        if link_type is None:
            shown = wanted.get("name") or wanted.get("id")
            raise ApiError(HTTPStatus.NOT_FOUND, f"No issue link type with name '{shown}' found.")
        ends = []
        for end in ("inwardIssue", "outwardIssue"):
            reference = body.get(end) or {}
            try:
                ends.append(self.find_issue(str(reference.get("key") or reference.get("id"))))
            except KeyError:
                raise ApiError(HTTPStatus.NOT_FOUND, NOT_FOUND_ISSUE) from None
        if ends[0].key == ends[1].key:
            raise ApiError(HTTPStatus.BAD_REQUEST, "You cannot link an issue to itself.")
        self._link(link_type, ends[0], ends[1])
        return HttpResponse(HTTPStatus.CREATED)

    def _delete_link(self, request: HttpRequest) -> HttpResponse:
        link_id = request.path_params["linkId"]
        link = self._links.pop(link_id, None)
        if link is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"No issue link with id '{link_id}' exists.")
        for key in (link.inward, link.outward):
            self.find_issue(key).updated = self.now()
        return HttpResponse(HTTPStatus.NO_CONTENT)

    def _check_notify_users(self, request: HttpRequest, status: HTTPStatus) -> None:
        """Refuse notifyUsers=false to an account without admin rights: Jira Cloud answers
        an issue edit 403 and a comment edit 400 (the codes each operation declares)."""
        if (request.first("notifyUsers") or "").lower() == "false" and not (
            self.notify_users_allowed
        ):
            raise ApiError(status, NOTIFY_USERS_REFUSED)

    def _get_editmeta(self, request: HttpRequest) -> HttpResponse:
        """The fields the issue's edit screen has (all, here) and select options."""
        self._issue_for(request)
        fields: dict[str, Any] = {}
        for definition in [*SYSTEM_FIELDS, *self.custom_fields.values()]:
            editable = definition.kind != "system" or definition.id in ("summary", "labels")
            if not editable or definition.schema is None:
                continue
            meta: dict[str, Any] = {
                "required": definition.id == "summary",
                "schema": definition.schema,
                "name": definition.name,
                "key": definition.id,
                "operations": ["add", "set", "remove"] if definition.id == "labels" else ["set"],
            }
            if definition.kind == "select":
                meta["allowedValues"] = [
                    {
                        "self": f"{self.url}/rest/api/2/customFieldOption/{option_id}",
                        "value": value,
                        "id": option_id,
                    }
                    for option_id, value in definition.options
                ]
            fields[definition.id] = meta
        return HttpResponse(200, {"fields": fields})

    # --- HTTP: issue properties ---------------------------------------------------------

    def _get_property(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        key = request.path_params["propertyKey"]
        if key not in issue.properties:
            raise ApiError(HTTPStatus.NOT_FOUND, f"The property with key '{key}' does not exist.")
        return HttpResponse(200, {"key": key, "value": issue.properties[key]})

    def _put_property(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        key = request.path_params["propertyKey"]
        if not key or len(key) > 255:
            raise ApiError(HTTPStatus.BAD_REQUEST, "The property key must be 1 to 255 characters.")
        raw = request.body or b""
        if len(raw) > 32768:
            raise ApiError(HTTPStatus.BAD_REQUEST, "The property value is longer than 32768 bytes.")
        try:
            value = json.loads(raw)
        except ValueError:
            raise ApiError(
                HTTPStatus.BAD_REQUEST, "The property value is not valid JSON."
            ) from None
        created = key not in issue.properties
        issue.properties[key] = value
        return HttpResponse(HTTPStatus.CREATED if created else HTTPStatus.OK)

    def _delete_property(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        key = request.path_params["propertyKey"]
        if issue.properties.pop(key, None) is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"The property with key '{key}' does not exist.")
        return HttpResponse(HTTPStatus.NO_CONTENT)

    # --- HTTP: comments -----------------------------------------------------------------

    def _get_comments(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        with_properties = _expands(request, "properties")
        args = _Arguments(request)
        start_at = max(args.integer("startAt", 0), 0)
        max_results = _clamp(args.integer("maxResults", 100), low=0, high=5000, default=100)
        ordered = sorted(issue.comments, key=lambda c: (c.created, int(c.id)))
        if (request.first("orderBy") or "").startswith("-"):
            ordered.reverse()
        page = ordered[start_at : start_at + max_results]
        view = self._view(request)
        return HttpResponse(
            200,
            {
                "comments": [view.comment(issue, c, with_properties=with_properties) for c in page],
                "maxResults": max_results,
                "total": len(ordered),
                "startAt": start_at,
            },
        )

    def _get_comment(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        comment = self._find_comment(issue, request.path_params["id"])
        return self._comment_response(200, request, issue, comment)

    def _post_comment(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        body, properties = _comment_input(request)
        comment = self._add_comment(issue, body, self.api_user)
        comment.properties.update(properties)
        return self._comment_response(HTTPStatus.CREATED, request, issue, comment)

    def _put_comment(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        self._check_notify_users(request, HTTPStatus.BAD_REQUEST)
        comment = self._find_comment(issue, request.path_params["id"])
        comment.body, properties = _comment_input(request)
        comment.properties.update(properties)
        comment.updated = issue.updated = self.now()
        comment.update_author = self.api_user
        return self._comment_response(200, request, issue, comment)

    def _comment_response(
        self, status: int, request: HttpRequest, issue: Issue, comment: Comment
    ) -> HttpResponse:
        with_properties = _expands(request, "properties")
        view = self._view(request)
        return HttpResponse(status, view.comment(issue, comment, with_properties=with_properties))

    def _delete_comment(self, request: HttpRequest) -> HttpResponse:
        issue = self._issue_for(request)
        issue.comments.remove(self._find_comment(issue, request.path_params["id"]))
        issue.updated = self.now()
        return HttpResponse(HTTPStatus.NO_CONTENT)

    # --- JQL fields ---------------------------------------------------------------------

    def _jql_fields(self) -> dict[str, JqlField[Issue]]:
        """The JQL fields of this instance, by lower-case name (aliases included)."""
        fields: dict[str, JqlField[Issue]] = {}

        def register(jql_field: JqlField[Issue], *names: str) -> None:
            for name in names:
                fields[name.lower()] = jql_field

        register(self._project_field(), "project")
        register(self._key_field("key"), "key", "issuekey", "id", "issue")
        register(
            JqlField("labels", lambda i: [label.lower() for label in i.labels], str.lower),
            "labels",
        )
        register(self._status_field(), "status")
        register(self._status_category_field(), "statusCategory")
        register(self._issuetype_field(), "issuetype", "type")
        for name in ("created", "updated"):
            register(self._date_field(name), name, f"{name}Date")
        register(self._parent_field(), "parent")
        for definition in self.custom_fields.values():
            register(self._custom_jql_field(definition), *definition.clause_names)
        return fields

    def _project_field(self) -> JqlField[Issue]:
        def parse(text: str) -> str:
            for key, (project_id, name) in self.projects.items():
                if text.upper() == key or text == project_id or text.lower() == name.lower():
                    return key
            raise JqlValueError(f"The value '{text}' does not exist for the field 'project'.")

        return JqlField("project", lambda i: [i.project], parse, sort_key=lambda i: i.project)

    def _issue_key(self, text: str, field_name: str) -> str:
        try:
            return self.find_issue(text).key
        except KeyError:
            raise JqlValueError(
                f"An issue with key '{text}' does not exist for field '{field_name}'."
            ) from None

    def _key_field(self, name: str) -> JqlField[Issue]:
        return JqlField(
            name,
            lambda i: [i.key],
            lambda text: self._issue_key(text, name),
            sort_key=lambda i: (i.project, i.number),
        )

    def _parent_field(self) -> JqlField[Issue]:
        # Server's `parent` is the sub-task parent; the sandbox has no sub-tasks there.
        cloud = self.mode == "cloud"
        return JqlField(
            "parent",
            lambda i: [i.parent] if cloud and i.parent else [],
            lambda text: self._issue_key(text, "parent"),
        )

    def _status_field(self) -> JqlField[Issue]:
        def parse(text: str) -> str:
            for name, (status_id, _) in STATUSES.items():
                if text.lower() == name.lower() or text == status_id:
                    return name.lower()
            raise JqlValueError(f"The value '{text}' does not exist for the field 'status'.")

        return JqlField("status", lambda i: [i.status.lower()], parse)

    def _status_category_field(self) -> JqlField[Issue]:
        def parse(text: str) -> str:
            for key, (category_id, _, name) in STATUS_CATEGORIES.items():
                if text.lower() in (key, name.lower()) or text == str(category_id):
                    return key
            raise JqlValueError(
                f"The value '{text}' does not exist for the field 'statusCategory'."
            )

        return JqlField("statusCategory", lambda i: [STATUSES[i.status][1]], parse)

    def _issuetype_field(self) -> JqlField[Issue]:
        def parse(text: str) -> str:
            for name, (type_id, _) in ISSUE_TYPES.items():
                if text.lower() == name.lower() or text == type_id:
                    return name
            raise JqlValueError(f"The value '{text}' does not exist for the field 'issuetype'.")

        return JqlField("issuetype", lambda i: [i.issuetype], parse)

    def _date_field(self, name: str) -> JqlField[Issue]:
        def moment(issue: Issue) -> datetime:
            stamp: datetime = getattr(issue, name)
            return stamp

        return JqlField(
            name,
            lambda i: [to_minute(moment(i))],
            lambda text: jql_date(text, name, self.now()),
            operators=ALL_OPERATORS,
            sort_key=moment,
        )

    def _custom_jql_field(self, definition: FieldDef) -> JqlField[Issue]:
        def values(issue: Issue) -> list[Any]:
            value = self.custom_value(issue, definition.id)
            return [] if value is None else [value]

        if definition.kind == "number":
            return JqlField(
                definition.name,
                values,
                functools.partial(_jql_number, field_name=definition.name),
                operators=ALL_OPERATORS,
                sort_key=lambda i: _empty_last(self.custom_value(i, definition.id)),
            )
        if definition.kind == "epic-link":
            return JqlField(
                definition.name, values, lambda text: self._issue_key(text, definition.name)
            )
        if definition.kind == "date":
            return JqlField(
                definition.name,
                lambda i: [jql_date(v, definition.name, self.now()) for v in values(i)],
                lambda text: jql_date(text, definition.name, self.now()),
                operators=ALL_OPERATORS,
            )
        # Jira searches text fields with `~` only, and sprints mostly through functions:
        # neither is implemented, so every operator is "not supported", as Jira says of `=`.
        return JqlField(definition.name, values, str, operators=frozenset())


ALL_OPERATORS = frozenset({"=", "!=", "in", "not in", "is", "is not", ">", ">=", "<", "<="})


@dataclass(frozen=True, slots=True)
class _CompiledSearch:
    compiled: CompiledQuery[Issue]
    unbounded: bool

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.compiled.warnings


class _Arguments:
    """Arguments of a request, from the JSON body (POST search) or the query string.

    A JSON null counts as absent: the jira library posts nulls for unset options.
    """

    def __init__(self, request: HttpRequest) -> None:
        self._body: dict[str, Any] = {}
        self._query = request.query
        if request.method == "POST":
            body = request.json()
            if not isinstance(body, dict):
                raise ApiError(HTTPStatus.BAD_REQUEST, "Can not deserialize the request body.")
            self._body = {k: v for k, v in body.items() if v is not None}

    def text(self, name: str) -> str | None:
        if name in self._body:
            return str(self._body[name])
        values = self._query.get(name)
        return values[0] if values else None

    def integer(self, name: str, default: int) -> int:
        raw = self._body[name] if name in self._body else self.text(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ApiError(
                HTTPStatus.BAD_REQUEST, f"The value '{raw}' is not a valid number for '{name}'."
            ) from None

    def strings(self, name: str) -> list[str]:
        if name in self._body:
            value = self._body[name]
            return [str(v) for v in value] if isinstance(value, list) else [str(value)]
        return list(self._query.get(name, []))


def _clamp(value: int, *, low: int, high: int, default: int) -> int:
    """Jira's page sizes: negative means the default, above the cap means the cap."""
    if value < 0:
        return default
    return min(max(value, low), high)


def _page_token(offset: int, jql: str) -> str:
    """An opaque token, tied to the query it pages through (like Cloud's)."""
    raw = json.dumps({"offset": offset, "jql": _digest(jql)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _page_offset(token: str, jql: str) -> int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if decoded["jql"] == _digest(jql) and isinstance(decoded["offset"], int):
            return int(decoded["offset"])
    except (ValueError, KeyError, TypeError):
        pass
    raise ApiError(HTTPStatus.BAD_REQUEST, "The provided next page token is invalid or expired.")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _comment_input(request: HttpRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body as stored (ADF) and the entity properties (key -> value) of a comment
    write: v3 takes an ADF document, v2 wiki markup."""
    body = request.json()
    given = body.get("body") if isinstance(body, dict) else None
    if request.path.split("/")[3] == "3":
        if not isinstance(given, dict) or adf_problems(given):
            # Jira Cloud refuses a v3 body that is not a valid ADF document (a string too).
            raise ApiError(HTTPStatus.BAD_REQUEST, field_errors={"comment": INVALID_COMMENT_BODY})
        document: dict[str, Any] = given
    elif not isinstance(given, str) or not given.strip():
        # v2 bodies are wiki-markup strings; an ADF document here is a v3 body on v2.
        raise ApiError(
            HTTPStatus.BAD_REQUEST, field_errors={"comment": "Comment body can not be empty!"}
        )
    else:
        document = wiki_to_adf(given)
    properties = body.get("properties") or []
    if not isinstance(properties, list) or not all(
        isinstance(p, dict) and isinstance(p.get("key"), str) for p in properties
    ):
        raise ApiError(HTTPStatus.BAD_REQUEST, "Comment properties must be a list of {key, value}.")
    return document, {p["key"]: p.get("value") for p in properties}


def _expands(request: HttpRequest, what: str) -> bool:
    return what in (request.first("expand") or "").split(",")


def _after_operations(field_id: str, current: Any, operations: Any) -> Any:
    """Apply `update` operations (set/add/remove) to a field's current value."""
    if not isinstance(operations, list):
        raise _FieldError("Operations must be a list.")
    value = current
    for operation in operations:
        if not isinstance(operation, dict) or len(operation) != 1:
            raise _FieldError("Each operation must have exactly one verb.")
        (verb, argument), *_ = operation.items()
        if verb == "set":
            value = argument
        elif verb in ("add", "remove") and field_id == "labels":
            labels = list(value or [])
            value = labels + [argument] if verb == "add" else [x for x in labels if x != argument]
        else:
            raise _FieldError(f"The operation '{verb}' is not supported by field '{field_id}'.")
    return value


def _checked_type(value: Any, expected: type, message: str) -> Any:
    if value is not None and not isinstance(value, expected):
        raise _FieldError(message)
    return value


def _checked_labels(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
        raise _FieldError("Operation value must be a list of strings")
    for label in value:
        if not label or re.search(r"\s", label):
            raise _FieldError(f"The label '{label}' contains spaces which is invalid.")
        if len(label) > 255:
            raise _FieldError("The label must not exceed 255 characters.")
    return list(dict.fromkeys(value))  # Jira keeps each label once


def _checked_custom(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _FieldError("Operation value must be a number")
        return float(value)
    if kind == "date":
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise _FieldError(f"Error parsing date string: {value}")
        return value
    return _checked_type(value, str, "Operation value must be a string")


def _checked_option(definition: FieldDef, value: Any) -> str | None:
    """The option id a select edit names (by `id`, or by `value` exactly), as Jira checks."""
    if value is None:
        return None
    if not isinstance(value, dict) or not ({"id", "value"} & value.keys()):
        raise _FieldError("Could not find valid 'id' or 'value' in the Parent Option object.")
    options = dict(definition.options)
    if "id" in value:
        if str(value["id"]) not in options:
            raise _FieldError(f"Option id '{value['id']}' is not valid")
        return str(value["id"])
    for option_id, name in definition.options:
        if name == value["value"]:
            return option_id
    raise _FieldError(f"Option value '{value['value']}' is not valid")


def _property_field(key: str, path: tuple[str, ...]) -> JqlField[Issue]:
    """`issue.property[key].path`: the value at `path` in the issue's property `key`
    (each element of a list), compared as Jira compares indexed strings: exactly, in any
    case. Numbers and booleans compare as their JSON text."""

    def values(issue: Issue) -> list[str]:
        value: Any = next(
            (v for k, v in issue.properties.items() if k.lower() == key.lower()), None
        )
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        found = value if isinstance(value, list) else [value]
        return [_property_text(v) for v in found if v is not None and not isinstance(v, dict)]

    return JqlField(f"issue.property[{key}]", values, str.lower)


def _unindexed(key: str, path: tuple[str, ...]) -> JqlField[Issue]:
    """`issue.property[key].path` when no app declared the property for indexing: Jira
    holds no value for it, so `=` and `IN` match no issue."""
    return JqlField(f"issue.property[{key}]", lambda issue: [], str.lower)


def _property_keys(request: _Arguments) -> list[str]:
    """A search's `properties`: up to 5 issue property keys (comma-separated or repeated)
    whose values each issue shows under `properties`."""
    keys = [k.strip() for value in request.strings("properties") for k in value.split(",")]
    keys = list(dict.fromkeys(k for k in keys if k))
    if len(keys) > MAX_SEARCH_PROPERTIES:
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            f"A search can return at most {MAX_SEARCH_PROPERTIES} issue properties.",
        )
    return keys


def _property_text(value: Any) -> str:
    return (value if isinstance(value, str) else json.dumps(value)).lower()


def _referenced_type(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    for name, (type_id, _) in ISSUE_TYPES.items():
        if value.get("name") == name or value.get("id") == type_id:
            return name
    return None


def _check_description(request: HttpRequest, fields: Any) -> None:
    """A v3 write's description is an ADF document; a v2 one is wiki markup (a string)."""
    if not isinstance(fields, dict) or fields.get("description") is None:
        return
    v3 = request.path.split("/")[3] == "3"
    if v3 != isinstance(fields["description"], dict):
        shown = "an Atlassian Document" if v3 else "a string"
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            field_errors={"description": f"Operation value must be {shown}"},
        )


def _jql_number(text: str, field_name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise JqlValueError(f"'{text}' is not a valid number for field '{field_name}'.") from None


def _empty_last(value: float | None) -> tuple[bool, float]:
    return (value is None, value or 0.0)


def _check_known(value: str, known: Mapping[str, Any], what: str) -> None:
    if value not in known:
        raise ValueError(f"unknown {what} {value!r}; known: {', '.join(known)}")


__all__ = ["EPIC_LINK_FIELD", "STORY_POINTS_FIELD", "JiraSandbox", "jira_spec_validator"]
