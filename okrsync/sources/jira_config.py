"""Jira's `sources.jira` and `writeback.jira` settings: what the config reads, apart from
the connector (okrsync/sources/jira.py), which loads with the first connection. The
connector module re-exports these names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, field_validator

from okrsync.config import (
    EnvName,
    SecretFile,
    SecretRef,
    SourceConfig,
    Strict,
    TargetWritebackConfig,
    WritebackValue,
    secret_choice,
)

if TYPE_CHECKING:
    from okrsync.domain import WorkItem

SOURCE = "jira"
# Issues per search page with fields asked for: Cloud's `search/jql` and Server/DC's
# `search` at their defaults (JiraSourceConfig.search_page_size).
CLOUD_PAGE_MAX, SERVER_PAGE_MAX = 100, 1000


class JiraAuthConfig(Strict):
    email_env: EnvName | None = None
    email_file: SecretFile | None = None  # instead of email_env: read from this file
    token_env: EnvName = "JIRA_API_TOKEN"
    token_file: SecretFile | None = None  # instead of token_env: read from this file

    def token(self) -> SecretRef:
        return secret_choice(self, "token", ("auth",)) or SecretRef(("auth", "token_env"), "")

    def email(self) -> SecretRef | None:
        """None: a bearer PAT (Server/DC); else Basic auth with this account's email (Cloud)."""
        return secret_choice(self, "email", ("auth",))


class KRIssuesConfig(Strict):
    """`writeback.jira.kr_issues`: one Jira issue per KR, in `project`, of `issue_type`
    (its name), linked to the KR's mapped Jira items with `link_type` (its name)."""

    project: str = Field(pattern=r"^[A-Z][A-Z0-9_]+$")
    issue_type: str = Field(min_length=1)
    link_type: str = Field(default="Relates", min_length=1)

    def is_kr_issue(self, item: WorkItem) -> bool:
        """Whether a pulled Jira item is one of these KR issues (its project and issue
        type): never work, whatever the configured JQL shows."""
        project = item.key.rsplit("-", 1)[0]
        return (
            item.source == SOURCE
            and project.upper() == self.project.upper()
            and item.type.casefold() == self.issue_type.casefold()
        )


class JiraWritebackConfig(TargetWritebackConfig):
    """`writeback.jira`: the managed comment, fields by name and the `okrsync.status`
    issue property (docs/design.md, "Write-back: typed operations")."""

    # auto: ADF through API v3 on Cloud, wiki markup through v2 on Server/DC (which has
    # no ADF); adf: the same; wiki: wiki markup through v2 everywhere. The renderer puts
    # the ADF in the planned body unless it is `wiki`, the connector sends what fits.
    format: Literal["auto", "adf", "wiki"] = "auto"
    # Field name as Jira shows it (any case) -> what okrsync keeps in it.
    fields: dict[str, WritebackValue] = Field(default_factory=dict)
    # The issue entity property okrsync.status: {krs, health, outcome, delivery, as_of}.
    property: bool = False
    # One issue per KR (found by its `okrsync.kr` property, created once), with the
    # fields above, a description listing the linked work and links to its epics.
    kr_issues: KRIssuesConfig | None = None

    def field_values(self) -> dict[str, WritebackValue]:
        return dict(self.fields)

    def status_property(self) -> bool:
        return self.property

    def comment_options(self) -> dict[str, str]:
        return {"comment_format": self.format}


class JiraSourceConfig(SourceConfig):
    writeback_model: ClassVar[type[TargetWritebackConfig]] = JiraWritebackConfig

    auth: JiraAuthConfig = JiraAuthConfig()
    jql: str
    story_points_field: str | None = "Story Points"
    epic_link_field: str = "Epic Link"
    # Issues per search page. Unset: the most each API returns with fields asked for (see
    # `search_page_size`); the 100 shown is Cloud's.
    page_size: int = Field(default=CLOUD_PAGE_MAX, ge=1, le=SERVER_PAGE_MAX)

    @field_validator("jql")
    @classmethod
    def _no_order_by(cls, jql: str) -> str:
        if re.search(r"\border\s+by\b", jql, re.IGNORECASE):
            raise ValueError("leave ORDER BY out: okrsync orders the pull itself")
        return jql

    def search_page_size(self, cloud: bool) -> int:
        """`maxResults` of a search: `page_size` when set, else the most the API returns,
        so a pull reads the fewest pages. Cloud's `search/jql` returns at most 100 issues
        a page once any field besides id/key is asked for (5,000 is for ids alone);
        Server/DC's `search` at most `jira.search.views.default.max`, 1,000 unless its
        admin changed it. A server that returns fewer is paged on from what came."""
        if "page_size" in self.model_fields_set:
            return self.page_size
        return CLOUD_PAGE_MAX if cloud else SERVER_PAGE_MAX

    def secrets(self) -> Iterator[SecretRef]:
        yield self.auth.token()
        email = self.auth.email()
        if email is not None:
            yield email
