"""Connectors: pull work items from each system and keep one managed comment per target.

The connector classes load on first use (`okrsync.sources.JiraSource` and the like, or
their own modules): importing this package for its protocol and errors, as the config,
the registry and the CLI do, does not import any source's client library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from okrsync.sources._base import (
    HEALTH_LABEL_PREFIX,
    KR_TARGET_PREFIX,
    RETIRED,
    UNLINKED_NOTE,
    CommentState,
    ConditionalSource,
    Operation,
    OperationOutcome,
    PlannedWrite,
    PullResult,
    ReadsComments,
    RequestCounter,
    RetireTarget,
    SetComment,
    SetField,
    SetKRIssue,
    SetKRLinks,
    SetLabels,
    SetProperty,
    Source,
    TargetOperation,
    WriteOutcome,
    WritesOperations,
    record_key,
)
from okrsync.sources._errors import (
    AuthError,
    FatalError,
    RetriableError,
    SourceError,
    TargetGone,
)

if TYPE_CHECKING:
    from okrsync.sources.asana import AsanaSource
    from okrsync.sources.github import GithubSource
    from okrsync.sources.jira import JiraSource

_CONNECTORS = {
    "AsanaSource": "okrsync.sources.asana",
    "GithubSource": "okrsync.sources.github",
    "JiraSource": "okrsync.sources.jira",
}


def __getattr__(name: str) -> Any:
    if name in _CONNECTORS:
        from importlib import import_module

        return getattr(import_module(_CONNECTORS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AsanaSource",
    "AuthError",
    "CommentState",
    "ConditionalSource",
    "FatalError",
    "GithubSource",
    "JiraSource",
    "Operation",
    "HEALTH_LABEL_PREFIX",
    "KR_TARGET_PREFIX",
    "OperationOutcome",
    "PlannedWrite",
    "PullResult",
    "RETIRED",
    "ReadsComments",
    "RequestCounter",
    "RetireTarget",
    "RetriableError",
    "SetComment",
    "SetField",
    "SetKRIssue",
    "SetKRLinks",
    "SetLabels",
    "SetProperty",
    "Source",
    "SourceError",
    "TargetGone",
    "TargetOperation",
    "UNLINKED_NOTE",
    "WriteOutcome",
    "WritesOperations",
    "record_key",
]
