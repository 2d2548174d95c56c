"""Pacing requests by the API's own rules, before it has to refuse any.

A `Throttle` sits in a connector's transport seam (`Connector.send`): it is asked before
every request how long to wait, and shown every answer. It knows three things:

- spacing: at least `between_requests` seconds between any two requests (0: none) and
  `between_writes` between two writes (anything but GET/HEAD), counted from the end of
  the previous one;
- the quota: each successful answer's `X-RateLimit-Remaining` and `X-RateLimit-Reset`
  (epoch seconds), kept per `X-RateLimit-Resource` (GitHub's "core", "search", ...).
  When what remains is at or below `reserve`, the next request of that resource waits
  until the reset, instead of spending the last requests and meeting a 403/429. The reset
  is read against the answer's own `Date` (the server's clock), so a skewed local clock
  does not shorten or stretch the wait. A wait longer than `MAX_WAIT_SECONDS` is not
  slept: the request fails as rate limited (`RetriableError` with that wait), which the
  retries do not retry (see `_retry`), and the next cycle tries again;
- the time, as the injected clock says, moved on by every wait slept through it: with a
  test's fixed clock, a wait of 1 s still counts as 1 s having passed.

Error answers do not update the quota: a 403/429 says when to come back itself, and the
retry code waits for it (`_retry.retry_after_seconds`); waiting here as well would wait
twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from okrsync.sources._errors import RetriableError
from okrsync.sources._headers import header, server_date
from okrsync.sources._retry import MAX_WAIT_SECONDS

READS = frozenset({"GET", "HEAD"})


@dataclass
class _Quota:
    remaining: int
    reset_at: float  # on our (virtual) clock


class Throttle:
    """Waits before requests as the spacing and the last known quota say (module doc)."""

    def __init__(
        self,
        source: str,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        *,
        between_requests: float = 0.0,
        between_writes: float = 0.0,
        reserve: int | None = None,
        resource_of: Callable[[str], str] = lambda url: "core",
    ):
        self.source = source
        self._clock = clock
        self._sleep = sleep
        self.between_requests = between_requests
        self.between_writes = between_writes
        self.reserve = reserve  # None: the quota headers are not watched
        self._resource_of = resource_of
        self._now = clock()
        self._last_request: float | None = None
        self._last_write: float | None = None
        self._quotas: dict[str, _Quota] = {}
        self.waits: list[tuple[str, float]] = []  # (why, seconds) of every pause taken here

    def now(self) -> float:
        """The injected clock, never behind the waits slept through `sleep`."""
        self._now = max(self._now, self._clock())
        return self._now

    def sleep(self, seconds: float) -> None:
        """The connector's sleep, counted into `now`: every wait of the connector (its
        retries too) goes through here."""
        if seconds <= 0:
            return
        self._sleep(seconds)
        self._now = self.now() + seconds

    def before(self, method: str, url: str) -> None:
        """Wait as long as this request must; raise when that is longer than a cycle
        should wait."""
        now = self.now()
        wait, why = 0.0, ""
        if self._last_request is not None and self.between_requests > 0:
            wait, why = self._last_request + self.between_requests - now, "spacing"
        if method.upper() not in READS and self._last_write is not None:
            write_wait = self._last_write + self.between_writes - now
            if write_wait > wait:
                wait, why = write_wait, "writes"
        quota = self._quotas.get(self._resource_of(url))
        if quota is not None and self.reserve is not None and quota.remaining <= self.reserve:
            quota_wait = quota.reset_at - now
            if quota_wait > MAX_WAIT_SECONDS:
                raise RetriableError(
                    self.source,
                    f"rate limit nearly spent ({quota.remaining} left): it resets in "
                    f"{quota_wait:.0f} s",
                    None,
                    quota_wait,
                )
            if quota_wait > wait:
                wait, why = quota_wait, "rate limit"
        if wait > 0:
            self.waits.append((why, wait))
            self.sleep(wait)

    def after(self, method: str, url: str, status: int, headers: Mapping[str, Any]) -> None:
        """Note when the request ended and, from a successful answer, the quota left."""
        now = self.now()
        self._last_request = now
        if method.upper() not in READS:
            self._last_write = now
        resource = header(headers, "X-RateLimit-Resource") or self._resource_of(url)
        if status >= 400:
            self._quotas.pop(resource, None)  # the error's own wait is the retry's business
            return
        remaining = _integer(header(headers, "X-RateLimit-Remaining"))
        reset = _integer(header(headers, "X-RateLimit-Reset"))
        if remaining is None or reset is None:
            return
        served = server_date(headers)
        server_now = served.timestamp() if served is not None else now
        self._quotas[resource] = _Quota(remaining, now + max(0.0, reset - server_now))


def _integer(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None
