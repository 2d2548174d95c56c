"""Retries with tenacity that honour what the server says about when to come back.

Every wait is at most `MAX_WAIT_SECONDS`, so a call never sleeps more than
(attempts - 1) x 120 s in all (480 s with the default 5 attempts). A server that asks for
more than that (a rate-limit reset an hour away) is not retried at all this cycle: waiting
less than it asked and knocking again would only spend requests it will refuse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from okrsync.logs import get_logger
from okrsync.sources._errors import RetriableError
from okrsync.sources._headers import header

T = TypeVar("T")
log = get_logger(__name__)

MAX_WAIT_SECONDS = 120.0
RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or HTTP date) or a rate-limit reset header."""
    now = time.time() if now is None else now
    value = header(headers, "Retry-After")
    if value:
        value = value.strip()
        if value.replace(".", "", 1).isdigit():
            return float(value)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            return None
    remaining = header(headers, "X-RateLimit-Remaining")
    reset = header(headers, "X-RateLimit-Reset")
    if remaining == "0" and reset and reset.isdigit():
        return max(0.0, float(reset) - now)
    return None


def _worth_waiting_for(error: BaseException) -> bool:
    """A RetriableError whose wait, if the server named one, fits in `MAX_WAIT_SECONDS`."""
    if not isinstance(error, RetriableError):
        return False
    return error.retry_after is None or error.retry_after <= MAX_WAIT_SECONDS


class _WaitAsTold:
    """Wait what the server asked for; otherwise back off exponentially (0.5 s, 1 s, 2 s ...)."""

    def __init__(self, base: float):
        self.base = base

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        told: float | None = getattr(error, "retry_after", None)
        if told is not None:
            return min(float(told), MAX_WAIT_SECONDS)
        backoff: float = self.base * 2.0 ** (state.attempt_number - 1)
        return min(backoff, MAX_WAIT_SECONDS)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "source.retry",
        source=getattr(error, "source", None),
        status=getattr(error, "status", None),
        attempt=state.attempt_number,
        wait_s=round(state.upcoming_sleep, 3),
    )


def call_with_retries(
    action: Callable[[], T],
    attempts: int = 5,
    base_wait: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[float], None] | None = None,
) -> T:
    """Run `action`, retrying RetriableError up to `attempts` times in all (one asking for a
    wait longer than `MAX_WAIT_SECONDS` is raised at once)."""

    def before_sleep(state: RetryCallState) -> None:
        _log_retry(state)
        if on_wait is not None:
            on_wait(state.upcoming_sleep)

    retrying = Retrying(
        retry=retry_if_exception(_worth_waiting_for),
        wait=_WaitAsTold(base_wait),
        stop=stop_after_attempt(attempts),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(action)
