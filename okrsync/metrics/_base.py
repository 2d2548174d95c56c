"""What every metric reader shares: its error, the number check, and what a reading gets."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol, runtime_checkable

from okrsync.logs import redact_text


class MetricReadError(Exception):
    """A reading that failed. Its text is safe to log and to show on the KR: it names the
    URL, the status or the problem, never a header, a password or a secret value."""

    def __init__(self, message: str):
        super().__init__(redact_text(" ".join(message.split()))[:300])


def finite_number(value: object, what: str) -> float:
    """`value` as a float when it is a finite number (a bool or a string is the wrong type)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        kind = "null" if value is None else type(value).__name__
        raise MetricReadError(f"{what} is not a number (got {kind})")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise MetricReadError(f"{what} is not a finite number ({value})")
    return number


@runtime_checkable
class CountsJql(Protocol):
    """A Jira connection that can count a JQL's issues."""

    def count(self, jql: str) -> int: ...


@runtime_checkable
class CountsSearch(Protocol):
    """A GitHub connection that can count an issue search's results."""

    def search_count(self, query: str) -> int: ...


class TokenBucket:
    """Spaces requests under a per-minute limit: `capacity` at once, then `per_minute`.

    In any 60 s it lets through at most `capacity + per_minute` requests; GitHub's search
    API allows 30 a minute, so its bucket is 10 + 20 a minute: ten readings at once, then
    one every 3 s. Thread-safe (the daemon's metric jobs run in a pool); the clock and the
    sleep are injected, so tests never wait."""

    def __init__(
        self,
        capacity: float,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.capacity = capacity
        self.rate = per_minute / 60.0
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Wait for one token (by the injected sleep); the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait:
            self._sleep(wait)
        return wait


# GitHub: "the REST API has a custom rate limit for searching ... up to 30 requests per
# minute" (authenticated); okrsync keeps a margin of none and never bursts past it.
GITHUB_SEARCH_PER_MINUTE = 30
GITHUB_SEARCH_BURST = 10


def github_search_bucket(
    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
) -> TokenBucket:
    return TokenBucket(
        GITHUB_SEARCH_BURST,
        GITHUB_SEARCH_PER_MINUTE - GITHUB_SEARCH_BURST,
        clock=clock,
        sleep=sleep,
    )


# One per process: every reading of every cycle and job takes from it.
GITHUB_SEARCH_BUCKET = github_search_bucket()


@dataclass
class ReadContext:
    """What a reader may use: the cycle's instant, secrets, the config's directory, and
    the source connections (`source(name)`, opened once per run and shared)."""

    now: datetime
    environ: Mapping[str, str]
    config_dir: Path
    source: Callable[[str], object]
    search_bucket: TokenBucket = field(default_factory=lambda: GITHUB_SEARCH_BUCKET)
