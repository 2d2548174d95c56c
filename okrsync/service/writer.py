"""One writer per source, whatever runs: the `pull:<source>` leases of `okrsync sync --once`.

`okrsync run` holds `pull:<source>` in the store while a cycle of that source runs (see
`okrsync.service.daemon`). `sync --once` takes the same leases, for every source it
syncs, before it pulls anything, and gives them back when it ends, so a daemon, a cron
job and a person at a terminal never write the same target at once, on SQLite as on
PostgreSQL:

- Leases are taken in sorted order of their names: two processes that want overlapping
  sets of sources cannot each hold one the other waits for.
- A busy lease is polled until `wait` seconds have passed in all; then every lease taken
  so far is given back and `SourceBusyError` names the source and who holds it.
- A lease lasts `ttl` seconds and is renewed every `ttl / 4` by a background thread while
  the cycle runs, so a slow cycle keeps it and a process that dies loses it within `ttl`.
- A lease whose holder is a `sync --once` process of this machine (same host name and PID
  namespace) that no longer exists (killed, crashed) is taken over at once, instead of
  after its TTL. Any other holder (the daemon, another machine) is waited for.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Self

from okrsync.logs import get_logger
from okrsync.store import Store

log = get_logger(__name__)

# Long enough for a cycle's pauses between renewals (a renewal every 30 s), short enough
# that a process that vanished without a trace frees its sources within two minutes.
LEASE_TTL_SECONDS = 120.0
RENEWALS_PER_TTL = 4
POLL_SECONDS = 0.25
DEFAULT_WAIT_SECONDS = 60.0


def lease_name(source: str) -> str:
    """The lease the daemon and `sync --once` hold while they sync `source`."""
    return f"pull:{source}"


class SourceBusyError(RuntimeError):
    """Another process kept a source's lease for longer than we would wait."""

    def __init__(self, source: str, holder: str | None, waited: float) -> None:
        self.source, self.holder, self.waited = source, holder, waited
        who = holder or "another process"
        super().__init__(
            f"source {source} is being synced by {who} (lease {lease_name(source)}); "
            f"gave up after waiting {waited:g} s (--wait)"
        )


def process_owner() -> str:
    """A lease owner id unique to this process: `host:pid:random:pid-namespace`.

    The first three parts are the daemon's format; the fourth lets another process on
    this machine tell that the PID is one of its own namespace before it checks whether
    that process still exists.
    """
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}:{_pid_namespace()}"


def holder_is_gone(holder: str) -> bool:
    """True only when `holder` is an owner id of this machine and PID namespace whose
    process no longer runs (or is a zombie). Unknown formats count as alive."""
    parts = holder.split(":")
    if len(parts) != 4 or parts[0] != socket.gethostname() or parts[3] != _pid_namespace():
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, as another user
    return _is_zombie(pid)


class SourceLeases:
    """Hold `pull:<source>` for `sources` for the span of a `with` block.

    `clock` (monotonic seconds) and `sleep` bound the wait; both are injectable for tests,
    as is `is_gone`, which tells a dead holder from a live one.
    """

    def __init__(
        self,
        store: Store,
        sources: Iterable[str],
        *,
        wait: float = DEFAULT_WAIT_SECONDS,
        ttl: float = LEASE_TTL_SECONDS,
        owner: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll: float = POLL_SECONDS,
        is_gone: Callable[[str], bool] = holder_is_gone,
        renew: bool = True,
    ) -> None:
        if wait < 0:
            raise ValueError(f"wait must not be negative, got {wait}")
        self.store = store
        self.names = sorted({lease_name(source) for source in sources})
        self.sources = {lease_name(source): source for source in sources}
        self.wait, self.ttl, self.poll = wait, ttl, poll
        self.owner = owner or process_owner()
        self._clock, self._sleep, self._is_gone = clock, sleep, is_gone
        self._renew = renew
        self.held: list[str] = []
        self.lost: list[str] = []  # leases a renewal found taken by someone else
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> None:
        """Take every lease, in order, or none: raise SourceBusyError after `wait` s."""
        deadline = self._clock() + self.wait
        try:
            for name in self.names:
                self._acquire_one(name, deadline)
        except BaseException:
            self.release()
            raise
        if self._renew and self.held:
            self._renewer = threading.Thread(
                target=self._renew_until_stopped, name="okrsync-lease-renewal", daemon=True
            )
            self._renewer.start()

    def release(self) -> None:
        """Stop renewing and give back every lease held (never someone else's)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        while self.held:
            name = self.held.pop()
            try:
                self.store.release_lease(name, self.owner)
            except Exception as error:  # the lease then lapses after its TTL
                log.error("lease.release_failed", lease=name, owner=self.owner, error=str(error))

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def _acquire_one(self, name: str, deadline: float) -> None:
        waited_for: str | None = None
        while True:
            if self.store.acquire_lease(name, self.owner, self.ttl):
                self.held.append(name)
                if waited_for is not None:
                    log.info("lease.acquired_after_wait", lease=name, previous_holder=waited_for)
                return
            holder = self.store.lease_holder(name)
            if holder is not None and self._is_gone(holder):
                if self.store.take_over_lease(name, holder, self.owner, self.ttl):
                    log.warning("lease.taken_over", lease=name, dead_holder=holder)
                    self.held.append(name)
                    return
                continue  # someone else was quicker: look again
            if holder is not None and holder != waited_for:
                log.info("lease.waiting", lease=name, holder=holder, wait_s=self.wait)
                waited_for = holder
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise SourceBusyError(self.sources[name], holder or waited_for, self.wait)
            self._sleep(min(self.poll, remaining))

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl / RENEWALS_PER_TTL):
            for name in list(self.held):
                try:
                    renewed = self.store.acquire_lease(name, self.owner, self.ttl)
                except Exception as error:  # a database hiccup: try again next time
                    log.warning("lease.renewal_failed", lease=name, error=str(error))
                    continue
                if not renewed and name not in self.lost:
                    # Only after a stall longer than the TTL: say so loudly.
                    self.lost.append(name)
                    log.error("lease.lost", lease=name, owner=self.owner)


def _pid_namespace() -> str:
    try:
        return f"ns{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return "ns0"  # no /proc (macOS, BSD): one PID space per machine


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # pid (comm) state ...: comm may hold spaces and parentheses, the state follows the last ")"
    return stat[stat.rfind(")") + 2 :].startswith("Z")
