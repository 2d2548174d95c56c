"""Connectors: pull work items from each system and keep one managed comment per target."""

from okrsync.sources._base import PlannedWrite, PullResult, RequestCounter, Source, WriteOutcome
from okrsync.sources._errors import AuthError, FatalError, RetriableError, SourceError
from okrsync.sources.asana import AsanaSource
from okrsync.sources.github import GithubSource
from okrsync.sources.jira import JiraSource

__all__ = [
    "AsanaSource",
    "AuthError",
    "FatalError",
    "GithubSource",
    "JiraSource",
    "PlannedWrite",
    "PullResult",
    "RequestCounter",
    "RetriableError",
    "Source",
    "SourceError",
    "WriteOutcome",
]
