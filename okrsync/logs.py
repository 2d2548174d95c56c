"""structlog set-up: JSON lines when not on a terminal, and no secret ever printed."""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

# structlog's package imports its `dev` module (and `tracebacks`), which import rich when
# it is installed: ~70 ms of every command's start-up, for tracebacks on a terminal only.
# Imported here with rich held back (an ImportError for that one import) unless something
# imported either already; the console renderer brings it back (`_console_renderer`).
_RICH_HELD_BACK = "structlog" not in sys.modules and "rich" not in sys.modules
if _RICH_HELD_BACK:
    sys.modules["rich"] = None  # type: ignore[assignment]
try:
    import structlog
finally:
    if _RICH_HELD_BACK and "rich" in sys.modules and sys.modules["rich"] is None:
        del sys.modules["rich"]

REDACTED = "[redacted]"


class RedactSecrets:
    """A processor that replaces every known secret value anywhere in an event.

    Tokens are registered when they are read from the environment; Basic-auth headers
    carry them base64-encoded, so that form is registered too.
    """

    def __init__(self, secrets: Iterable[str] = ()):
        # Longest first, so a secret that contains another is replaced whole. A tuple,
        # rebuilt on add, so a thread that logs never iterates a set being changed.
        self._secrets: tuple[str, ...] = ()
        for secret in secrets:
            self.add(secret)

    def clear(self) -> None:
        """Forget every registered secret (for tests: one process runs many configs)."""
        self._secrets = ()

    def add(self, secret: str) -> None:
        if len(secret) >= 4 and secret not in self._secrets:
            self._secrets = tuple(sorted({*self._secrets, secret}, key=len, reverse=True))

    def add_basic_auth(self, user: str, secret: str) -> None:
        self.add(base64.b64encode(f"{user}:{secret}".encode()).decode())

    def scrub(self, text: str) -> str:
        """`text` with every known secret (and its Basic-auth form) replaced: for what
        leaves the process without going through the log, such as the CLI's summary on
        stdout (a server's error body may echo the token it was sent)."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
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
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._scrub(v) for v in value)
        if value is None or isinstance(value, bool | int | float):
            return value
        # Anything else (an exception, a URL object) is rendered with repr(): if that
        # shows a secret, log the scrubbed text instead of the object.
        try:
            text = repr(value)
        except Exception:  # a broken __repr__ must not break logging
            return value
        scrubbed = self._scrub(text)
        return scrubbed if scrubbed != text else value


redact_secrets = RedactSecrets()


def redact_text(text: str) -> str:
    """`text` with every registered secret replaced: for what is printed, not logged."""
    return redact_secrets.scrub(text)


class _StderrLogger:
    """Writes to whatever `sys.stderr` is at the time of the call, not at set-up: a
    daemon that redirects stderr, or a test that captures it, gets every line."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    as_json = fmt == "json" or (fmt == "auto" and not (stream or sys.stderr).isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else _console_renderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Tracebacks become text here, before redaction: an exception message may
            # carry a token (a URL, a header), and JSON would otherwise drop it.
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=(
            structlog.PrintLoggerFactory(stream)
            if stream is not None
            else lambda *_: _StderrLogger()
        ),
        cache_logger_on_first_use=False,
    )
    # The client libraries below us (urllib3, requests, each source's client) log request
    # details at debug level through the standard library; keep every one of them quiet.
    logging.getLogger().setLevel(logging.WARNING)


def _console_renderer() -> Any:
    """structlog's console renderer, with rich's tracebacks when rich is installed: its
    `dev` module is read again if it was first imported with rich held back."""
    import importlib
    import importlib.util

    dev = structlog.dev
    if getattr(dev, "rich", None) is None and importlib.util.find_spec("rich") is not None:
        dev = importlib.reload(dev)
    return dev.ConsoleRenderer()
