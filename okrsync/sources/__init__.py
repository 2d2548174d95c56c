"""Connectors: pull work items from each system and keep one managed comment per target.

Every name here loads on first use (`okrsync.sources.JiraSource`, `okrsync.sources.Source`),
from its own module: importing this package, as each source's settings module
(`okrsync/sources/<name>_config.py`) and so the config do, imports nothing else. The
connectors and their client libraries load with the first connection; the operations
and errors (`_base`, `_errors`) when the service first uses them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        StreamingSource,
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
    from okrsync.sources.asana import AsanaSource
    from okrsync.sources.github import GithubSource
    from okrsync.sources.jira import JiraSource

_CONNECTORS = {
    "AsanaSource": "okrsync.sources.asana",
    "GithubSource": "okrsync.sources.github",
    "JiraSource": "okrsync.sources.jira",
}
_ERRORS = frozenset({"AuthError", "FatalError", "RetriableError", "SourceError", "TargetGone"})


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    if name in _CONNECTORS:
        home = _CONNECTORS[name]
    else:
        home = "okrsync.sources._errors" if name in _ERRORS else "okrsync.sources._base"
    value = getattr(import_module(home), name)
    globals()[name] = value  # found once: later reads are plain attribute reads
    return value


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
    "StreamingSource",
    "TargetGone",
    "TargetOperation",
    "UNLINKED_NOTE",
    "WriteOutcome",
    "WritesOperations",
    "record_key",
]
