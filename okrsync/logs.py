"""structlog set-up: JSON lines when not on a terminal, and no secret ever printed."""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"


class RedactSecrets:
    """A processor that replaces every known secret value anywhere in an event.

    Tokens are registered when they are read from the environment; Basic-auth headers
    carry them base64-encoded, so that form is registered too.
    """

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        if len(secret) >= 4:
            self._secrets.add(secret)

    def add_basic_auth(self, user: str, secret: str) -> None:
        self.add(base64.b64encode(f"{user}:{secret}".encode()).decode())

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if not self._secrets:
            return event
        for key, value in list(event.items()):
            event[key] = self._scrub(value)
        return event

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub(v) for v in value)
        return value


redact_secrets = RedactSecrets()


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # The HTTP libraries below us log request details at debug level; keep them quiet.
    for noisy in ("urllib3", "jira", "github", "requests"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
