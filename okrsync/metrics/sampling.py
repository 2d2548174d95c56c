"""`sample_metrics`: read every non-manual metric once and store what it gave.

A reading that fails is that KR's problem only: it is logged (`metric.failed`), returned
in the run (the daemon counts it, `sync --once` exits 1), stored as the KR's
`metric_error` (cleared by its next good reading), and the KR keeps its last good sample.
Connections to Jira and GitHub are opened once per run, on first use, and shared by every
count metric of the run; a connection that fails fails each metric that needs it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from okrsync.config import Config, KeyResultConfig, ManualMetric, SampledMetric
from okrsync.domain import MetricSample
from okrsync.logs import get_logger, redact_text
from okrsync.metrics._base import GITHUB_SEARCH_BUCKET, MetricReadError, ReadContext, TokenBucket
from okrsync.metrics.registry import METRIC_READERS
from okrsync.sources import FatalError, Source, SourceError

log = get_logger(__name__)


class SampleStore(Protocol):
    """The store's part that sampling uses."""

    def add_sample(
        self,
        sample: MetricSample,
        origin: str = "manual",
        note: str | None = None,
        confidence: float | None = None,
    ) -> bool: ...

    def set_metric_error(self, kr_id: str, error: str | None, at: datetime) -> None: ...

    def samples(
        self, kr_id: str | None = None, as_of: datetime | None = None
    ) -> list[MetricSample]: ...


@dataclass(frozen=True)
class MetricReading:
    """One KR's reading: what it stored, or why it failed."""

    kr_id: str
    type: str
    value: float | None = None  # the number read (the latest row's, for csv)
    added: int = 0  # samples the store did not have yet
    error: str | None = None
    seconds: float = 0.0
    changed: bool = False  # the newest value differs from the newest one stored before

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class MetricRun:
    readings: tuple[MetricReading, ...] = ()

    @property
    def errors(self) -> tuple[str, ...]:
        return tuple(f"{r.kr_id}: {r.error}" for r in self.readings if r.error is not None)

    @property
    def added(self) -> int:
        return sum(reading.added for reading in self.readings)

    @property
    def changed(self) -> bool:
        """Some KR's value moved: worth running the cycles that render it now."""
        return any(reading.changed for reading in self.readings)


def sampled_key_results(config: Config) -> list[KeyResultConfig]:
    """The KRs whose metric is read (every type but manual), in the config's order."""
    return [kr for o in config.objectives for kr in o.key_results if kr.metric.type != "manual"]


def sampled_metrics(config: Config) -> list[tuple[str, SampledMetric]]:
    """(KR id, metric) of every metric that is read, in the config's order."""
    return [
        (kr.id, kr.metric)
        for o in config.objectives
        for kr in o.key_results
        if not isinstance(kr.metric, ManualMetric)
    ]


def sample_metrics(
    config: Config,
    store: SampleStore,
    now: datetime,
    connect: Callable[[str], Source] | None = None,
    *,
    connected: Mapping[str, Source] | None = None,
    only: Collection[str] | None = None,
    environ: Mapping[str, str] | None = None,
    config_dir: Path = Path("."),
    search_bucket: TokenBucket = GITHUB_SEARCH_BUCKET,
) -> MetricRun:
    """Read each non-manual metric (those of the KRs in `only`, when given) once, at `now`.

    `connect` opens a source by name (default: `source_factory(config, environ)`);
    `connected` are sources already open (a sync's pulls): used as they are, not closed."""
    if connect is None:
        from okrsync.service.connectors import source_factory

        connect = source_factory(config, environ)
    wanted = None if only is None else {kr.casefold() for kr in only}
    sources = _Sources(connect, dict(connected or {}))
    context = ReadContext(
        now=now,
        environ=os.environ if environ is None else environ,
        config_dir=config_dir,
        source=sources.get,
        search_bucket=search_bucket,
    )
    readings = []
    try:
        for kr in sampled_key_results(config):
            if wanted is None or kr.id.casefold() in wanted:
                readings.append(_read_one(kr, store, context))
    finally:
        sources.close()
    return MetricRun(tuple(readings))


def _read_one(kr: KeyResultConfig, store: SampleStore, context: ReadContext) -> MetricReading:
    kind = kr.metric.type
    started = time.perf_counter()
    try:
        samples = METRIC_READERS[kind].read(kr.metric, kr.id, context)
    except (MetricReadError, SourceError) as error:
        return _failed(kr, kind, str(error), store, context.now, started)
    except Exception as error:  # noqa: BLE001 - a bug in one reader never stops the cycle
        log.exception("metric.crashed", kr=kr.id, type=kind)
        reason = f"{type(error).__name__}: {redact_text(str(error))}"[:300]
        return _failed(kr, kind, reason, store, context.now, started)
    before = _newest(store.samples(kr.id))
    added = sum(store.add_sample(sample, origin=kind) for sample in samples)
    store.set_metric_error(kr.id, None, context.now)
    after = _newest(store.samples(kr.id)) if added else before
    value = samples[-1].value if samples else None
    seconds = time.perf_counter() - started
    log.info("metric.read", kr=kr.id, type=kind, value=value, samples=len(samples), new=added)
    changed = after is not None and (before is None or after.value != before.value)
    return MetricReading(kr.id, kind, value, added, None, seconds, changed)


def _newest(samples: list[MetricSample]) -> MetricSample | None:
    return max(samples, key=lambda sample: sample.at, default=None)


def _failed(
    kr: KeyResultConfig,
    kind: str,
    error: str,
    store: SampleStore,
    now: datetime,
    started: float,
) -> MetricReading:
    error = redact_text(error)
    log.error("metric.failed", kr=kr.id, type=kind, error=error)
    store.set_metric_error(kr.id, error, now)
    return MetricReading(kr.id, kind, error=error, seconds=time.perf_counter() - started)


class _Sources:
    """Source connections for one run: opened on first use, a failure remembered."""

    def __init__(self, connect: Callable[[str], Source], borrowed: dict[str, Source]):
        self._connect = connect
        self._borrowed = borrowed
        self._opened: dict[str, Source] = {}
        self._failed: dict[str, SourceError] = {}

    def get(self, name: str) -> Source:
        if name in self._borrowed:
            return self._borrowed[name]
        if name in self._opened:
            return self._opened[name]
        if name in self._failed:
            raise self._failed[name]
        try:
            source = self._connect(name)
        except SourceError as error:
            self._failed[name] = error
            raise
        except Exception as error:  # a secret that cannot be read, a library's own error
            failure = FatalError(name, f"connect: {type(error).__name__}: {error}")
            self._failed[name] = failure
            raise failure from None
        self._opened[name] = source
        return source

    def close(self) -> None:
        for source in self._opened.values():
            source.close()
