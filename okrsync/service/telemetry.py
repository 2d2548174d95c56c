"""Prometheus metrics for the daemon, on a registry of its own.

A private `CollectorRegistry` (not the process-global one) keeps two daemons in one
process, or one test after another, from sharing counters. Every name starts with
``okrsync_``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from okrsync.domain import Health, KRStatus, Report, problem_counts
from okrsync.metrics import MetricRun
from okrsync.service.pipeline import CycleResult, SourceOutcome

# Cycles pull, compute and write back: from a second (nothing changed) to minutes.
CYCLE_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
WRITEBACK_ACTIONS = ("created", "edited", "skipped")


class Telemetry:
    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._clock = clock
        # Held while a cycle's gauges are rewritten and while rendering, so a scrape never
        # sees half of one cycle and half of the next.
        self._lock = threading.Lock()
        self._last_cycle: dict[str, tuple[float, bool]] = {}
        self._krs: set[str] = set()
        self._progress_series: set[tuple[str, str]] = set()
        self._define_cycle_metrics()
        self._define_request_metrics()

    def _define_cycle_metrics(self) -> None:
        r = self.registry
        self.cycles = Counter(
            "okrsync_cycles", "Sync cycles per source", ["source", "result"], registry=r
        )
        self.items = Gauge(
            "okrsync_items",
            "Items pulled from the source in its last cycle",
            ["source"],
            registry=r,
        )
        self.writebacks = Counter(
            "okrsync_writebacks",
            "Managed comments per source: created, edited, or skipped as unchanged",
            ["source", "action"],
            registry=r,
        )
        self.cycle_duration = Histogram(
            "okrsync_cycle_duration_seconds",
            "Wall time of one sync cycle",
            buckets=CYCLE_BUCKETS,
            registry=r,
        )
        self.last_cycle_timestamp = Gauge(
            "okrsync_last_cycle_timestamp_seconds",
            "When the source's last cycle finished (Unix time)",
            ["source"],
            registry=r,
        )
        self.last_cycle_ok = Gauge(
            "okrsync_last_cycle_ok",
            "1 if the source's last cycle succeeded",
            ["source"],
            registry=r,
        )
        self.kr_progress = Gauge(
            "okrsync_kr_progress",
            "KR progress as a fraction: outcome (metric), delivery (work), expected (time)",
            ["kr", "kind"],
            registry=r,
        )
        self.kr_health = Gauge(
            "okrsync_kr_health",
            "1 for the KR's current health, 0 for the others",
            ["kr", "health"],
            registry=r,
        )
        self.mapping_problems = Gauge(
            "okrsync_mapping_problems",
            "Problems found while mapping (unknown KR labels, cycles, ...), by kind",
            ["kind"],
            registry=r,
        )

    def _define_request_metrics(self) -> None:
        r = self.registry
        self.api_requests = Counter(
            "okrsync_api_requests",
            "Requests to the source APIs",
            ["source", "method", "status"],
            registry=r,
        )
        self.retries = Counter("okrsync_retries", "Retried API requests", ["source"], registry=r)
        self.rate_limit_wait = Counter(
            "okrsync_rate_limit_wait_seconds",
            "Time spent waiting before retries (rate limits, back-off)",
            ["source"],
            registry=r,
        )
        self.webhooks = Counter(
            "okrsync_webhooks", "Webhook requests by answer", ["source", "status"], registry=r
        )
        self.metric_readings = Counter(
            "okrsync_metric_readings",
            "Outcome metric readings per KR: ok, or failed (the KR keeps its last sample)",
            ["kr", "result"],
            registry=r,
        )

    # ---------------------------------------------------------------- recording

    def register_sources(self, names: Iterable[str]) -> None:
        """Export every per-source counter at 0 for these sources, before their first
        cycle: a rate() or an alert on a series that does not exist yet sees nothing."""
        with self._lock:
            for name in names:
                for result in ("ok", "failed"):
                    self.cycles.labels(source=name, result=result)
                for action in WRITEBACK_ACTIONS:
                    self.writebacks.labels(source=name, action=action)
                self.retries.labels(source=name)
                self.rate_limit_wait.labels(source=name)

    def record_cycle(self, result: CycleResult, seconds: float) -> None:
        finished = self._clock()
        with self._lock:
            self.cycle_duration.observe(max(seconds, 0.0))
            for outcome in result.sources:
                self._record_source(outcome, finished)
            self._record_report(result.report)

    def _record_source(self, outcome: SourceOutcome, finished: float) -> None:
        name = outcome.name
        self.cycles.labels(source=name, result="ok" if outcome.ok else "failed").inc()
        # A source that failed pulled nothing we can count: keep the last good number
        # rather than drop the gauge to 0, which would read as "the source is empty".
        if outcome.error is None:
            self.items.labels(source=name).set(outcome.pulled)
        counts = (outcome.created, outcome.edited, outcome.skipped)
        for action, count in zip(WRITEBACK_ACTIONS, counts, strict=True):
            self.writebacks.labels(source=name, action=action).inc(max(count, 0))
        for (method, status), count in outcome.counter.by_status.items():
            self.api_requests.labels(source=name, method=method, status=str(status)).inc(count)
        if outcome.counter.waits:
            self.retries.labels(source=name).inc(len(outcome.counter.waits))
            self.rate_limit_wait.labels(source=name).inc(sum(outcome.counter.waits))
        self.last_cycle_timestamp.labels(source=name).set(finished)
        self.last_cycle_ok.labels(source=name).set(1 if outcome.ok else 0)
        self._last_cycle[name] = (finished, outcome.ok)

    def _record_report(self, report: Report) -> None:
        krs: set[str] = set()
        progress: set[tuple[str, str]] = set()
        for objective in report.objectives:
            for status in objective.key_results:
                krs.add(status.kr.id)
                progress |= self._record_kr(status)
        # KRs gone from the config, and progress that turned unknown, stop being exported
        # instead of repeating their last value forever.
        for kr, kind in self._progress_series - progress:
            self.kr_progress.remove(kr, kind)
        for kr in self._krs - krs:
            for health in Health:
                self.kr_health.remove(kr, health.value)
        self._krs, self._progress_series = krs, progress
        for kind, count in problem_counts(report.problems).items():
            self.mapping_problems.labels(kind=kind).set(count)

    def _record_kr(self, status: KRStatus) -> set[tuple[str, str]]:
        """Set the KR's gauges; return the progress series it exports."""
        kr = status.kr.id
        values = {
            "outcome": status.outcome_progress,
            "delivery": status.delivery_progress,
            "expected": status.expected_progress,
        }
        exported = set()
        for kind, value in values.items():
            if value is not None:
                self.kr_progress.labels(kr=kr, kind=kind).set(value)
                exported.add((kr, kind))
        for health in Health:
            self.kr_health.labels(kr=kr, health=health.value).set(
                1 if status.health is health else 0
            )
        return exported

    def register_metrics(self, kr_ids: Iterable[str]) -> None:
        """Export each sampled KR's reading counters at 0 before its first reading."""
        with self._lock:
            for kr in kr_ids:
                for result in ("ok", "failed"):
                    self.metric_readings.labels(kr=kr, result=result)

    def record_metric_run(self, run: MetricRun) -> None:
        with self._lock:
            for reading in run.readings:
                result = "ok" if reading.ok else "failed"
                self.metric_readings.labels(kr=reading.kr_id, result=result).inc()

    def record_request(self, source: str, method: str, status: int) -> None:
        self.api_requests.labels(source=source, method=method.upper(), status=str(status)).inc()

    def record_retry(self, source: str, wait_seconds: float) -> None:
        self.retries.labels(source=source).inc()
        self.rate_limit_wait.labels(source=source).inc(max(wait_seconds, 0.0))

    def record_webhook(self, source: str, status: int) -> None:
        self.webhooks.labels(source=source, status=str(status)).inc()

    # ------------------------------------------------------------------ reading

    @property
    def last_cycle(self) -> dict[str, tuple[float, bool]]:
        """Source → (when its last cycle finished, as Unix time, and whether it succeeded):
        what /readyz reports, with the age computed by the caller."""
        with self._lock:
            return dict(self._last_cycle)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition and its content type, negotiated from the scraper's Accept
        header as prometheus-client does it: the classic text format (0.0.4) unless
        the scraper asks for OpenMetrics or a newer text version."""
        encode, content_type = choose_encoder(accept)
        with self._lock:
            return encode(self.registry), content_type
