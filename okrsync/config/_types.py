"""The small value types the config is written in: durations, schedules, env var names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from okrsync.config._regex import backtracking_problem

_DURATION = re.compile(r"^\s*(?P<n>\d+)\s*(?P<unit>s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Strict(BaseModel):
    """Every config model: unknown keys are errors, and a loaded config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Schedule:
    """A pull interval: a fixed period in seconds, or a 5-field cron expression."""

    seconds: int | None = None
    cron: str | None = None

    def __str__(self) -> str:
        return self.cron if self.cron is not None else f"{self.seconds}s"


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``30s``, ``5m``, ``1h`` or ``1d``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration like 30s, 5m, 1h or 1d, got {text!r}")
    seconds = int(match["n"]) * _UNIT_SECONDS[match["unit"]]
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    return seconds


def _parse_schedule(value: Any) -> Schedule:
    if isinstance(value, Schedule):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("an interval must be longer than zero")
        return Schedule(seconds=value)
    if not isinstance(value, str):
        raise ValueError("expected a duration (30s, 5m, 1h) or a cron expression")
    if len(value.split()) == 5:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as error:
            raise ValueError(f"invalid cron expression {value!r}: {error}") from None
        return Schedule(cron=value)
    return Schedule(seconds=parse_duration(value))


def _parse_seconds(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("a duration must be longer than zero")
        return value
    if not isinstance(value, str):
        raise ValueError("expected a duration like 30s, 5m or 1h")
    return parse_duration(value)


_DURATION_SCHEMA = {
    "type": "string",
    "pattern": r"^\d+\s*[smhd]$",
    "description": "30s, 5m, 1h, 1d",
}
Interval = Annotated[
    Schedule,
    BeforeValidator(_parse_schedule),
    # JSON (and the schema's `default`) spell a schedule the way the config does: "300s".
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema(
        {"anyOf": [_DURATION_SCHEMA, {"type": "string", "description": "5-field cron expression"}]}
    ),
]
Seconds = Annotated[
    int,
    BeforeValidator(_parse_seconds),
    WithJsonSchema({"anyOf": [_DURATION_SCHEMA, {"type": "integer", "minimum": 1}]}),
]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def require_http_url(url: str) -> str:
    if not re.match(r"^https?://[^\s/]+", url):
        raise ValueError("expected an http(s) URL")
    if "@" in urlsplit(url).netloc:
        # Never echo the value: it holds the secret.
        raise ValueError("credentials in the URL: use the *_env/*_file keys")
    return url.rstrip("/")


def compiled_pattern(pattern: str, key: str, group: str, meaning: str) -> str:
    """`pattern` when it compiles (case-insensitive) and has the named `group`."""
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as error:
        raise ValueError(f"{key} does not compile: {error}") from None
    if group not in compiled.groupindex:
        raise ValueError(f"{key} needs a named group (?P<{group}>...) for {meaning}")
    slow = backtracking_problem(pattern, re.IGNORECASE)
    if slow:
        raise ValueError(f"{key} may backtrack catastrophically on a long label: {slow}")
    return pattern
