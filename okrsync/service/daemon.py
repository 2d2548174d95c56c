"""`okrsync run`: scheduled cycles per source, an HTTP endpoint, webhooks, clean shutdown.

Each source has its own job (pull, then compute and write back that source's targets),
so a slow or failing source never delays another. Replicas on one PostgreSQL database
coordinate through two leases per job in the database: `pull:<source>` is held only
while a cycle runs, so a source is never pulled and written by two replicas at once;
`ran:<source>` is taken when a cycle ends and lasts most of an interval, so the other
replicas' scheduled ticks skip it. Any replica can act on a webhook at once (it only
needs the first lease), and when a replica dies, its `ran:` lease lapses and another
replica's next tick runs the job.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from okrsync.config import Config, ConfigError, LoadedConfig, Schedule, load_config, missing_secrets
from okrsync.logs import get_logger, redact_text
from okrsync.metrics import MetricRun, sample_metrics
from okrsync.metrics.sampling import sampled_metrics
from okrsync.registry import REGISTRY
from okrsync.service.connectors import source_factory
from okrsync.service.http import ListenError, ServiceHttp
from okrsync.service.pipeline import run_cycle
from okrsync.service.telemetry import Telemetry
from okrsync.service.writer import SourceBusyError, SourceLeases, process_owner
from okrsync.store import Store
from okrsync.webhooks import Webhooks

log = get_logger(__name__)

# A running cycle's lease outlives the interval by this much: a replica that dies mid-cycle
# frees the job soon after, while a slow cycle keeps it.
LEASE_GRACE_SECONDS = 30.0
# After a cycle, the other replicas' ticks skip the job for this share of the interval.
RAN_SHARE = 0.8
# A webhook's cycle that finds another replica mid-cycle tries again this often, this long.
URGENT_RETRY_SECONDS, URGENT_ATTEMPTS = 1.0, 30
# APScheduler's limit on runs of one `urgent:` job at once, out of reach: `urgent_pulls`
# lets one pull and the others return at once (see `_run_soon`).
URGENT_INSTANCES = 1000
# Webhook pulls of one source start at least this far apart, so a burst within this long
# costs two pulls: one at its first event, one after its last (see `urgent_pulls`).
URGENT_SPACING_SECONDS = 1.0
CONFIG_POLL_SECONDS = 2.0


@dataclass
class _Shared:
    """What jobs read at their start; swapped whole on reload, so a job in flight keeps
    the config it started with and the next one sees the new config."""

    loaded: LoadedConfig
    periods: dict[str, float] = field(default_factory=dict)  # seconds between a job's runs


class _StoreSecrets:
    """Asana's handshake secret lives in the database, so it survives restarts and is
    shared by replicas."""

    def __init__(self, store: Store):
        self._store = store

    def get(self, name: str) -> str | None:
        return self._store.webhook_secret(name)

    def save(self, name: str, secret: str) -> None:
        self._store.save_webhook_secret(name, secret)


class Daemon:
    def __init__(
        self,
        config_path: Path,
        *,
        shutdown_timeout: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.config_path = config_path
        self.shutdown_timeout = shutdown_timeout
        self.clock = clock
        # Unique to this process; a process on this machine can tell when it is gone.
        self.owner = process_owner()
        self.telemetry = Telemetry()
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._config_mtime = 0.0
        self._shared: _Shared | None = None
        self._store: Store | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._http: ServiceHttp | None = None
        # A scheduled and a webhook cycle of one source must not run side by side here.
        self._running: dict[str, threading.Lock] = {}
        # Webhook bursts (see `_run_soon`): sources asked for since their last urgent pull
        # started, and sources whose `urgent:` job is running now; both under the lock.
        self._urgent_lock = threading.Lock()
        self._pending: set[str] = set()
        self._pulling: set[str] = set()
        self._urgent_started: dict[str, float] = {}  # monotonic start of the last one
        self.urgent_spacing = URGENT_SPACING_SECONDS
        self._monotonic: Callable[[], float] = time.monotonic
        self._pause: Callable[[float], bool] = self._stop.wait  # True: stopping, do not pull
        # For /readyz: sources whose job has finished once (a cycle run here, or skipped
        # because another replica runs it), and sources whose last job here crashed.
        self._jobs_lock = threading.Lock()
        self._finished: set[str] = set()
        self._crashed: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; 0 on a clean stop, 2 when the config is unusable."""
        loaded = self._load_or_raise()
        self._shared = _Shared(loaded)
        self._store = Store(loaded.config.store.url)
        self._scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1}
        )
        self._http = ServiceHttp(
            loaded.config.service.listen,
            telemetry=self.telemetry,
            webhooks=self._webhooks(loaded.config),
            readiness=self.readiness,
            on_change=self.on_change,
            report=self.report_page,
        )
        try:
            host, port = self._http.start()
        except ListenError:
            self._store.close()  # nothing else started yet
            raise
        self._schedule_all(loaded.config)
        self._scheduler.start()
        self._install_signal_handlers()
        log.info(
            "daemon.started",
            listen=f"{host}:{port}",
            owner=self.owner,
            config=str(self.config_path),
        )
        try:
            while not self._stop.wait(CONFIG_POLL_SECONDS):
                if self._reload.is_set() or self._config_changed():
                    self._reload.clear()
                    self.reload()
        finally:
            self._shutdown()
        return 0

    def stop(self) -> None:
        self._stop.set()

    def report_page(self) -> str:
        """`GET /report`: the HTML report as of now, read from the store (read-only)."""
        from okrsync.service.report import report_html

        assert self._shared is not None and self._store is not None
        return redact_text(report_html(self._shared.loaded.config, self._store, self.clock()))

    def _shutdown(self) -> None:
        """Take no new jobs, let the cycle in flight finish (bounded), then close up."""
        log.info("daemon.stopping", timeout_s=self.shutdown_timeout)
        scheduler = self._scheduler
        if scheduler is not None:
            finisher = threading.Thread(
                target=scheduler.shutdown, kwargs={"wait": True}, daemon=True
            )
            finisher.start()
            finisher.join(self.shutdown_timeout)
            if finisher.is_alive():
                log.error("daemon.cycle_abandoned", timeout_s=self.shutdown_timeout)
        if self._http is not None:
            self._http.stop()
        if self._store is not None:
            self._store_release_leases()
            self._store.close()
        log.info("daemon.stopped")

    def _install_signal_handlers(self) -> None:
        def stop(signum: int, frame: FrameType | None) -> None:
            self._stop.set()

        def reload(signum: int, frame: FrameType | None) -> None:
            self._reload.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, reload)

    # ------------------------------------------------------------------ config

    def _load_or_raise(self) -> LoadedConfig:
        loaded = load_config(self.config_path)
        missing = missing_secrets(loaded, loaded.config.sources.enabled(), webhooks=True)
        if missing:
            raise ConfigError(missing)
        self._config_mtime = self._mtime()
        return loaded

    def _mtime(self) -> float:
        try:
            return self.config_path.stat().st_mtime
        except OSError:
            return self._config_mtime

    def _config_changed(self) -> bool:
        return self._mtime() != self._config_mtime

    def reload(self) -> bool:
        """Apply a valid new config between cycles; keep the old one when it is invalid."""
        try:
            loaded = self._load_or_raise()
        except ConfigError as error:
            self._config_mtime = self._mtime()  # report once per change, not every poll
            for problem in error.problems:
                log.error("config.invalid", problem=str(problem))
            log.error("config.reload_rejected", kept="previous config")
            return False
        except Exception as error:  # noqa: BLE001 - whatever breaks, the old config runs on
            # Not a config problem okrsync knows to name (a bug, a library's error on odd
            # input): one line, no traceback, and the daemon keeps going as it was.
            self._config_mtime = self._mtime()
            reason = f"{type(error).__name__}: {redact_text(str(error))}"[:500]
            log.error("config.reload_failed", error=reason, kept="previous config")
            return False
        assert self._shared is not None and self._scheduler is not None
        old = self._shared.loaded.config
        if loaded.config.store.url != old.store.url:
            log.warning("config.store_url_changed", note="restart okrsync to use the new store")
        self._shared = _Shared(loaded)
        if self._http is not None:
            self._http.webhooks = self._webhooks(loaded.config)
        for job in self._scheduler.get_jobs():
            job.remove()
        self._schedule_all(loaded.config)
        for name in loaded.config.sources.enabled():
            self._run_soon(name)  # new mappings or titles show now, whatever ran recently
        log.info("config.reloaded", sources=loaded.config.sources.enabled())
        return True

    def _webhooks(self, config: Config) -> Webhooks:
        return Webhooks.from_settings(
            REGISTRY.webhooks(),
            config.service.webhooks,
            os.environ,
            _StoreSecrets(self._require_store()),
        )

    # ------------------------------------------------------------------ jobs

    def _schedule_all(self, config: Config) -> None:
        assert self._scheduler is not None and self._shared is not None
        self.telemetry.register_sources(config.sources.enabled())
        for name, source in config.sources.items():
            schedule: Schedule = source.interval
            trigger = _trigger(schedule)
            self._shared.periods[name] = _period_seconds(schedule, trigger)
            self._running.setdefault(name, threading.Lock())
            self._scheduler.add_job(
                self.sync_source,
                trigger=trigger,
                args=[name],
                id=f"pull:{name}",
                next_run_time=datetime.now(UTC),  # a first cycle right away
                misfire_grace_time=None,
            )
        # One job per sampled metric, on the metric's own interval (a first reading now).
        self.telemetry.register_metrics(kr_id for kr_id, _ in sampled_metrics(config))
        for kr_id, metric in sampled_metrics(config):
            metric_trigger = _trigger(metric.interval)
            self._shared.periods[f"metric:{kr_id}"] = _period_seconds(
                metric.interval, metric_trigger
            )
            self._scheduler.add_job(
                self.sample_metric,
                trigger=metric_trigger,
                args=[kr_id],
                id=f"metric:{kr_id}",
                next_run_time=datetime.now(UTC),
                misfire_grace_time=None,
            )

    def sync_source(self, name: str, urgent: bool = False) -> str:
        """One cycle of one source, in one replica at a time. A scheduled tick skips it when
        any replica ran it recently; an `urgent` one (a webhook) runs it regardless, after
        the cycle of it running here, if any. Returns how it ended (see `_sync_source`, or
        "crashed").

        Nothing escapes to the scheduler: an exception is logged and kept for /readyz
        (503, naming the source and the error) until the source's next good cycle here."""
        try:
            done = self._sync_source(name, urgent)
        except Exception as error:
            log.exception("job.crashed", job=f"pull:{name}")
            with self._jobs_lock:
                self._crashed[name] = f"{type(error).__name__}: {redact_text(str(error))}"[:500]
            return "crashed"
        with self._jobs_lock:
            if done in ("ran", "elsewhere"):
                self._finished.add(name)
            if done == "ran":
                self._crashed.pop(name, None)
        return done

    def _sync_source(self, name: str, urgent: bool) -> str:
        """How the job ended: "ran" (a cycle here), "elsewhere" (another replica runs or
        ran it), or "busy" (a scheduled tick while a cycle of it runs in this process; an
        urgent one waits for that cycle instead, since it may have read before the change)."""
        shared, store = self._shared, self._require_store()
        assert shared is not None
        period = shared.periods.get(name, 300.0)
        running, ran = f"pull:{name}", f"ran:{name}"
        if not urgent and store.lease_holder(ran) is not None:
            log.debug("job.skipped", job=running, reason="ran recently", by=store.lease_holder(ran))
            return "elsewhere"
        local = self._running.setdefault(name, threading.Lock())
        if not local.acquire(blocking=urgent):
            return "busy"
        try:
            # The same lease `sync --once` takes, renewed while the cycle runs, so a cycle
            # longer than its interval never loses it to another writer mid-way.
            leases = SourceLeases(
                store, [name], wait=0, ttl=period + min(LEASE_GRACE_SECONDS, period),
                owner=self.owner,
            )  # fmt: skip
            try:
                leases.acquire()
            except SourceBusyError:
                log.debug("job.skipped", job=running, reason="running elsewhere")
                return "elsewhere"
            try:
                self._cycle(name, shared)
            finally:
                # `ran:` before letting go of `pull:`, so no replica's tick slips in between.
                store.acquire_lease(ran, self.owner, period * RAN_SHARE)
                leases.release()
        finally:
            local.release()
        return "ran"

    def _cycle(self, name: str, shared: _Shared) -> None:
        started = time.perf_counter()
        config = shared.loaded.config
        result = run_cycle(
            config,
            self._require_store(),
            source_factory(config),
            now=self.clock(),
            only=[name],
            config_dir=shared.loaded.path.parent,
            metrics=False,  # read on their own intervals, by `sample_metric`
        )
        self.telemetry.record_cycle(result, time.perf_counter() - started)

    def urgent_pulls(self, name: str, attempt: int = 1) -> None:
        """The `urgent:<name>` job: pull while the source was asked for since the last pull
        here started. Each pull clears the request at its start, so events during it leave
        exactly one more pull, which starts after the last of them (see `_run_soon`). A
        pull starts `urgent_spacing` after the one before at the soonest, so a burst that
        lasts less than that costs one pull at its first event and one after its last."""
        with self._urgent_lock:
            if name in self._pulling:
                return  # another run of this job is pulling, and sees the request at its end
            self._pulling.add(name)
        while True:
            with self._urgent_lock:
                if name not in self._pending:
                    self._pulling.discard(name)  # with the check: no request falls between
                    return
            last = self._urgent_started.get(name)
            delay = 0.0 if last is None else last + self.urgent_spacing - self._monotonic()
            if delay > 0 and self._pause(delay):
                with self._urgent_lock:
                    self._pulling.discard(name)  # shutting down: the request stays pending
                return
            with self._urgent_lock:
                self._pending.discard(name)  # what arrives from now on needs another pull
            self._urgent_started[name] = self._monotonic()
            try:
                done = self.sync_source(name, urgent=True)
            except BaseException:  # an exit in the pull: let a later request pull again
                with self._urgent_lock:
                    self._pulling.discard(name)
                raise
            if done == "elsewhere":
                break
        # Another replica is mid-cycle and may have read before the change: try again
        # shortly, so the change still shows within seconds once that cycle ends.
        with self._urgent_lock:
            self._pulling.discard(name)
            if attempt >= URGENT_ATTEMPTS or self._scheduler is None:
                return  # the scheduled cycle reconciles it
            self._pending.add(name)
            self._scheduler.add_job(
                self.urgent_pulls,
                trigger=DateTrigger(datetime.now(UTC) + timedelta(seconds=URGENT_RETRY_SECONDS)),
                args=[name],
                kwargs={"attempt": attempt + 1},
                id=f"urgent:{name}",
                replace_existing=True,
                misfire_grace_time=None,
                max_instances=URGENT_INSTANCES,
            )

    def sample_metric(self, kr_id: str) -> MetricRun:
        """Read one KR's metric, in one replica per interval: the `metric:<KR>` lease is
        taken for most of the interval, so the other replicas' ticks skip it. A reading
        that changes the KR's value moves every source's comments: their cycles run now.
        Nothing escapes to the scheduler: a failure is the KR's `metric_error`, logged and
        counted."""
        shared, store = self._shared, self._require_store()
        assert shared is not None
        config = shared.loaded.config
        period = shared.periods.get(f"metric:{kr_id}", 3600.0)
        if not store.acquire_lease(f"metric:{kr_id}", self.owner, period * RAN_SHARE):
            log.debug("job.skipped", job=f"metric:{kr_id}", reason="read recently elsewhere")
            return MetricRun()
        try:
            run = sample_metrics(
                config,
                store,
                self.clock(),
                source_factory(config),
                only=[kr_id],
                config_dir=shared.loaded.path.parent,
            )
        except Exception:  # the store went away, a bug: the next tick tries again
            log.exception("job.crashed", job=f"metric:{kr_id}")
            return MetricRun()
        self.telemetry.record_metric_run(run)
        if run.changed:  # a reading equal to the last one moves no number: no extra pulls
            for name in config.sources.enabled():
                self._run_soon(name)
        return run

    def on_change(self, changed: list[tuple[str, str]]) -> None:
        """A webhook said these items changed: pull their sources now, not at the next
        interval. The incremental pull reads them (and little else) from the bookmark;
        the scheduled pull stays the reconciliation, so a lost webhook loses nothing."""
        for source in sorted({source for source, _ in changed}):
            log.info(
                "webhook.pull", source=source, items=[key for s, key in changed if s == source]
            )
            self._run_soon(source)

    def _run_soon(self, name: str) -> None:
        """Pull `name` now, coalescing bursts: while its `urgent:` job is queued, requests
        replace it (one job); while it pulls, they only mark the source pending, and the job
        pulls once more when its pull ends. So a burst costs at most one pull more than the
        one queued or running, and the last request is never lost.

        APScheduler alone did neither: an `urgent:` job is removed once it fires, so a
        request during its pull added a new job, which the executor then skipped, not
        deferred ("maximum number of running instances reached"), losing the change until
        the next scheduled cycle; and a request just after each pull started another pull.
        Here APScheduler's instance limit is set out of reach (a skip would lose a request
        that a run finishing at that moment had not seen); `_pulling` lets one run pull."""
        assert self._scheduler is not None and self._shared is not None
        if name not in self._shared.periods:
            return  # a webhook for a source this config does not pull
        with self._urgent_lock:
            self._pending.add(name)
            if name in self._pulling:
                return  # the running job sees it when its pull ends
            self._scheduler.add_job(
                self.urgent_pulls,
                trigger=DateTrigger(datetime.now(UTC)),
                args=[name],
                id=f"urgent:{name}",
                replace_existing=True,
                misfire_grace_time=None,  # late (a busy pool) is better than dropped
                max_instances=URGENT_INSTANCES,
            )

    # ------------------------------------------------------------------ health

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready: the store answers, and every configured source has finished a first job
        (a cycle, failed or not, or a skip because another replica runs it) and its last
        job here did not crash. A source failure (401, timeout) is not a crash: it is in
        the cycle's result and `last_cycles`, and the next cycle retries it."""
        store_ok, error = True, None
        try:
            self._require_store().ping()
        except Exception as problem:  # any database failure means not ready
            store_ok, error = False, type(problem).__name__
        now = time.time()
        cycles = {
            source: {"ok": ok, "age_seconds": round(now - finished, 1)}
            for source, (finished, ok) in self.telemetry.last_cycle.items()
        }
        shared = self._shared
        configured = shared.loaded.config.sources.enabled() if shared is not None else []
        with self._jobs_lock:
            waiting = [name for name in configured if name not in self._finished]
            crashed = {name: why for name, why in self._crashed.items() if name in configured}
        body: dict[str, Any] = {
            "config": str(self.config_path),
            "store": "ok" if store_ok else f"unreachable ({error})",
            "last_cycles": cycles,
        }
        if waiting:
            body["waiting_for_first_cycle"] = waiting
        if crashed:
            body["crashed"] = crashed
        return store_ok and shared is not None and not waiting and not crashed, body

    def _require_store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the store is not open")
        return self._store

    def _store_release_leases(self) -> None:
        """Hand our jobs to another replica at once rather than after the lease expires."""
        if self._store is None or self._shared is None:
            return
        for name in self._shared.loaded.config.sources.enabled():
            self._store.release_lease(f"pull:{name}", self.owner)
            self._store.release_lease(f"ran:{name}", self.owner)
        for kr_id, _ in sampled_metrics(self._shared.loaded.config):
            self._store.release_lease(f"metric:{kr_id}", self.owner)


def _trigger(schedule: Schedule) -> IntervalTrigger | CronTrigger:
    # Jitter spreads replicas and sources so they do not hit an API in the same second.
    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=UTC, jitter=5)
    seconds = schedule.seconds or 300
    return IntervalTrigger(seconds=seconds, jitter=min(30, max(1, seconds // 10)))


def _period_seconds(schedule: Schedule, trigger: IntervalTrigger | CronTrigger) -> float:
    """Seconds between runs: the interval, or the gap between a cron's next two times."""
    if schedule.seconds:
        return float(schedule.seconds)
    first = trigger.get_next_fire_time(None, datetime.now(UTC))
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    return (second - first).total_seconds() if first and second else 300.0
