"""Webhook bursts (docs/design.md, "Speed and politeness"): events that arrive while a
source's pull is queued or running cause at most one more pull, which starts after the
last of them. In process, with a fake pull the test holds and releases, an injected
monotonic clock and pause; the `urgent:` job run by hand (the scheduler paused), then
once under a running APScheduler, whose skipping of a job added while one of the same id
runs used to lose the last event."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from okrsync.config import load_config
from okrsync.service.daemon import URGENT_SPACING_SECONDS, _Shared
from okrsync.service.daemon import Daemon as DaemonService
from okrsync.store import Store

DEADLOCK_SECONDS = 120.0


@dataclass
class Pulls:
    """A fake cycle: records how many events had arrived when each pull started, and
    holds each pull until the test releases it (when `hold` is set)."""

    events: int = 0
    started: list[int] = field(default_factory=list)
    hold: bool = False
    running: threading.Event = field(default_factory=threading.Event)
    release: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    done: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def cycle(self, name: str, shared: object) -> None:
        self.started.append(self.events)
        self.running.set()
        if self.hold:
            self.release.acquire()
        self.running.clear()
        self.done.release()


@dataclass
class Clock:
    now: float = 1000.0
    pauses: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def pause(self, seconds: float) -> bool:
        self.pauses.append(round(seconds, 6))
        self.now += seconds
        return False  # not stopping


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonService]:
    config = tmp_path / "okrsync.yaml"
    config.write_text(f"""\
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "sqlite:///{tmp_path / "okrsync.db"}"}}
sources:
  jira:
    url: http://127.0.0.1:9
    auth: {{email_env: OKR_JIRA_EMAIL, token_env: OKR_JIRA_TOKEN}}
    jql: "project = ONB"
objectives:
  - id: ONB
    title: Onboarding
    key_results: [{{id: ONB-1, title: Completion, baseline: 68, target: 85}}]
""")
    service = DaemonService(config)
    loaded = load_config(config)
    service._shared = _Shared(loaded, periods={"jira": 3600.0})
    service._store = Store(loaded.config.store.url)
    service._scheduler = BackgroundScheduler(
        timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1}
    )
    service._scheduler.start(paused=True)  # jobs are added (and replaced), none fires
    try:
        yield service
    finally:
        if service._scheduler.running:  # the last test shuts it down itself
            service._scheduler.shutdown(wait=True)
        service._store.close()


def settle(step: threading.Event | threading.Semaphore) -> None:
    """Wait for another thread's step; the limit only turns a deadlock into a failure."""
    if isinstance(step, threading.Event):
        reached = step.wait(DEADLOCK_SECONDS)
    else:
        reached = step.acquire(timeout=DEADLOCK_SECONDS)
    assert reached, "the other thread never got there"


def wire(daemon: DaemonService, pulls: Pulls, clock: Clock) -> None:
    daemon._cycle = pulls.cycle  # type: ignore[method-assign]
    daemon._monotonic = clock.monotonic
    daemon._pause = clock.pause


def event(daemon: DaemonService, pulls: Pulls) -> None:
    pulls.events += 1
    daemon.on_change([("jira", f"ONB-{pulls.events}")])


def queued(daemon: DaemonService) -> list[str]:
    assert daemon._scheduler is not None
    return [job.id for job in daemon._scheduler.get_jobs()]


def run_queued_job(daemon: DaemonService) -> threading.Thread:
    """Take the queued `urgent:jira` job off the (paused) scheduler, as it would on
    firing, and run it in a thread, as the executor would."""
    assert daemon._scheduler is not None
    job = daemon._scheduler.get_job("urgent:jira")
    assert job is not None
    job.remove()
    worker = threading.Thread(target=job.func, args=job.args, kwargs=job.kwargs)
    worker.start()
    return worker


def test_a_hundred_events_during_a_pull_cause_exactly_one_more_pull_after_the_last(
    daemon: DaemonService,
) -> None:
    pulls, clock = Pulls(hold=True), Clock()
    wire(daemon, pulls, clock)
    event(daemon, pulls)
    worker = run_queued_job(daemon)
    settle(pulls.running)

    for _ in range(99):
        event(daemon, pulls)
        clock.now += 0.01  # the burst lasts about a second, on the injected clock
    assert queued(daemon) == []  # no job added while the pull runs: the job pulls again

    pulls.release.release()  # the first pull ends; the second starts (and is held)
    settle(pulls.done)
    pulls.release.release()
    worker.join()

    assert pulls.started == [1, 100]  # two pulls; the second after the last event
    assert queued(daemon) == [] and daemon._pending == set() and daemon._pulling == set()
    # The second waited out the spacing from the first pull's start (0.99 s had passed).
    assert clock.pauses == [pytest.approx(URGENT_SPACING_SECONDS - 0.99)]


def test_events_while_the_pull_is_queued_are_one_job_and_one_pull(
    daemon: DaemonService,
) -> None:
    pulls, clock = Pulls(), Clock()
    wire(daemon, pulls, clock)
    for _ in range(100):
        event(daemon, pulls)
    assert queued(daemon) == ["urgent:jira"]  # replaced, not added: one job

    run_queued_job(daemon).join()

    assert pulls.started == [100]
    assert queued(daemon) == [] and daemon._pulling == set()


def test_events_spread_across_a_pull_cause_one_more_pull_seeing_them_all(
    daemon: DaemonService,
) -> None:
    pulls, clock = Pulls(hold=True), Clock()
    wire(daemon, pulls, clock)
    for _ in range(30):  # queued
        event(daemon, pulls)
    worker = run_queued_job(daemon)
    settle(pulls.running)
    for _ in range(70):  # during the first pull
        event(daemon, pulls)

    pulls.release.release()
    settle(pulls.done)
    pulls.release.release()
    worker.join()

    assert pulls.started == [30, 100]


def test_no_event_after_the_pull_started_means_no_more_pull(daemon: DaemonService) -> None:
    pulls, clock = Pulls(), Clock()
    wire(daemon, pulls, clock)
    event(daemon, pulls)

    run_queued_job(daemon).join()

    assert pulls.started == [1] and clock.pauses == []
    assert queued(daemon) == [] and daemon._pending == set() and daemon._pulling == set()


def test_the_next_burst_pulls_at_once_and_once_more_a_spacing_after(
    daemon: DaemonService,
) -> None:
    pulls, clock = Pulls(), Clock()
    wire(daemon, pulls, clock)
    event(daemon, pulls)
    run_queued_job(daemon).join()
    clock.now += 5.0  # a quiet while: the next event's pull need not wait

    event(daemon, pulls)
    run_queued_job(daemon).join()
    clock.now += 0.25
    event(daemon, pulls)  # just after that pull: it waits for the spacing, then pulls
    run_queued_job(daemon).join()

    assert pulls.started == [1, 2, 3]
    assert clock.pauses == [pytest.approx(URGENT_SPACING_SECONDS - 0.25)]


def test_a_webhook_during_a_scheduled_cycle_pulls_after_it(daemon: DaemonService) -> None:
    """The scheduled cycle may have read before the change: the urgent pull waits for it
    (it used to retry a second later, or be skipped) and then runs."""
    pulls, clock = Pulls(hold=True), Clock()
    wire(daemon, pulls, clock)
    scheduled = threading.Thread(target=daemon.sync_source, args=["jira"])
    scheduled.start()
    settle(pulls.running)
    event(daemon, pulls)

    worker = run_queued_job(daemon)
    pulls.release.release()  # the scheduled cycle ends; the urgent one starts
    settle(pulls.done)
    pulls.release.release()
    worker.join()
    scheduled.join()

    assert pulls.started == [0, 1]
    assert queued(daemon) == [] and daemon._pulling == set()


def test_a_webhook_while_another_replica_pulls_retries_shortly(daemon: DaemonService) -> None:
    pulls, clock = Pulls(), Clock()
    wire(daemon, pulls, clock)
    store = daemon._require_store()
    assert store.acquire_lease("pull:jira", "the-other-replica", 600)
    event(daemon, pulls)

    run_queued_job(daemon).join()

    assert pulls.started == []
    assert daemon._scheduler is not None
    retry = daemon._scheduler.get_job("urgent:jira")
    assert retry is not None and retry.kwargs == {"attempt": 2}
    assert daemon._pending == {"jira"} and daemon._pulling == set()

    store.release_lease("pull:jira", "the-other-replica")
    run_queued_job(daemon).join()
    assert pulls.started == [1] and queued(daemon) == []


def test_under_a_running_scheduler_a_burst_is_two_pulls_and_the_last_event_lands(
    daemon: DaemonService,
) -> None:
    pulls, clock = Pulls(hold=True), Clock()
    wire(daemon, pulls, clock)
    assert daemon._scheduler is not None
    daemon._scheduler.resume()
    event(daemon, pulls)
    settle(pulls.running)
    for _ in range(99):
        event(daemon, pulls)

    pulls.release.release()
    settle(pulls.done)
    pulls.release.release()  # the second pull
    settle(pulls.done)
    daemon._scheduler.shutdown(wait=True)  # whatever the executor still had, finished

    assert pulls.started == [1, 100]
    assert daemon._pending == set() and daemon._pulling == set()
