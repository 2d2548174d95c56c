"""structlog set-up: JSON lines when not on a terminal, and no secret ever printed.

This module is okrsync's only door to structlog: every module takes its logger from
`get_logger`, which imports structlog with the first event it logs. A command that logs
nothing (`validate`, `status`, `metric set`) then never imports structlog, nor the asyncio
it brings (~30 ms of start-up). `configure_logging` applies its settings at once when
structlog is loaded already, and otherwise when it is (`_structlog`).
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterable, MutableMapping
from types import ModuleType
from typing import Any, TextIO

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


# The settings of the last `configure_logging` made before structlog was imported.
_pending: tuple[str, str, TextIO | None] | None = None


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Log events at `level` and above: JSON lines (`fmt` "json", or "auto" off a terminal)
    or the console renderer, to `stream` or whatever `sys.stderr` is when a line is written.
    Applied when structlog is loaded, if it is not yet (see the module's doc)."""
    global _pending
    structlog = sys.modules.get("structlog")
    if structlog is None:
        _pending = (level, fmt, stream)
    else:
        _configure(structlog, level, fmt, stream)


def _configure(structlog: ModuleType, level: str, fmt: str, stream: TextIO | None) -> None:
    import logging

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

    import structlog

    dev = structlog.dev
    if getattr(dev, "rich", None) is None and importlib.util.find_spec("rich") is not None:
        dev = importlib.reload(dev)
    return dev.ConsoleRenderer()


class _Logger:
    """A module's structlog logger, loaded with the first event it logs."""

    def __init__(self, name: str):
        self._name = name
        self._logger: Any = None

    def __getattr__(self, method: str) -> Any:
        if self._logger is None:
            self._logger = _structlog().get_logger(self._name)
        return getattr(self._logger, method)


def get_logger(name: str) -> Any:
    """`structlog.get_logger(name)`, imported with the first event logged: okrsync's
    modules take their loggers here, never from structlog itself (a test checks)."""
    return _Logger(name)


def _structlog() -> ModuleType:
    """structlog, imported the first time with rich held back, then configured.

    structlog's package imports its `dev` module (and `tracebacks`), which import rich when
    it is installed: ~70 ms of start-up, for tracebacks on a terminal only. That import is
    made to fail (an ImportError structlog expects) unless something imported rich already;
    the console renderer brings it back (`_console_renderer`)."""
    global _pending
    hold_back = "structlog" not in sys.modules and "rich" not in sys.modules
    if hold_back:
        sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        import structlog
    finally:
        if hold_back and "rich" in sys.modules and sys.modules["rich"] is None:
            del sys.modules["rich"]
    # Also when something imported structlog itself after a `configure_logging`.
    if _pending is not None:
        _configure(structlog, *_pending)
        _pending = None
    return structlog


def __getattr__(name: str) -> Any:
    if name == "structlog":  # `okrsync.logs.structlog`, for the tests: loaded on first use
        return _structlog()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
