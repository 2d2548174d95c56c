"""Local, API-faithful stand-ins for the systems okrsync talks to (tests and `okrsync demo`).

Each sandbox is a real HTTP server on 127.0.0.1 that the vendor's own client library
talks to; every exchange is checked against the vendor's published OpenAPI description.
"""

from okrsync_sandbox._openapi import Relaxation, SpecValidator
from okrsync_sandbox._server import (
    ApiError,
    HttpRequest,
    HttpResponse,
    RecordedRequest,
    SandboxServer,
)
from okrsync_sandbox.asana import AsanaSandbox
from okrsync_sandbox.github import GitHubSandbox
from okrsync_sandbox.jira import EPIC_LINK_FIELD, STORY_POINTS_FIELD, JiraSandbox

__all__ = [
    "EPIC_LINK_FIELD",
    "STORY_POINTS_FIELD",
    "ApiError",
    "AsanaSandbox",
    "GitHubSandbox",
    "HttpRequest",
    "HttpResponse",
    "JiraSandbox",
    "RecordedRequest",
    "Relaxation",
    "SandboxServer",
    "SpecValidator",
]
