"""Errors a connector raises, split the Singer way: retry the transient, surface the fatal.

Messages name the method, path and status but never headers or credentials: the client
libraries' own exception strings include request headers (the Authorization header
among them), so they are never logged or re-raised as text.
"""

from __future__ import annotations


class SourceError(Exception):
    """A source could not be pulled or written to."""

    def __init__(self, source: str, message: str, status: int | None = None):
        self.source = source
        self.status = status
        super().__init__(f"{source}: {message}")


class RetriableError(SourceError):
    """Rate limited, timed out, or a 5xx: worth another try after a wait."""

    def __init__(
        self, source: str, message: str, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(source, message, status)
        self.retry_after = retry_after


class FatalError(SourceError):
    """Bad credentials, missing permissions, bad query: retrying will not help."""


class AuthError(FatalError):
    """401/403: the token is wrong, expired, or lacks a scope."""


class TargetGone(FatalError):
    """The item a managed comment belongs to is gone (deleted, moved, or no longer visible):
    that one write fails; the others go on, and the write-back record is left as it was."""
