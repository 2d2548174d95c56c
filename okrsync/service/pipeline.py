"""One sync cycle: pull → store → compute (pure) → plan → apply, one direction only.

A source that fails is reported and skipped; the others still pull and write back.
Write-back records are saved one by one, right after each write lands, so a cycle
cut short never writes the same comment twice on the next run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from okrsync.config import Config
from okrsync.domain import Report, Target, WorkItem, compute_report, mapped_parents
from okrsync.metrics import read_csv_samples
from okrsync.metrics.csv import MetricFileError
from okrsync.render import render_asana_comment, render_github_comment, render_jira_comment
from okrsync.service.connectors import SourceFactory
from okrsync.sources import PlannedWrite, RequestCounter, Source, SourceError
from okrsync.store import Store

log = structlog.get_logger(__name__)

_RENDERERS = {
    "jira": render_jira_comment,
    "github": render_github_comment,
    "asana": render_asana_comment,
}
# Sub-issues of sub-issues: how deep a cycle follows children the listing did not bring.
MAX_CHILD_DEPTH = 3


@dataclass
class SourceOutcome:
    name: str
    error: str | None = None
    pulled: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    created: int = 0
    edited: int = 0
    skipped: int = 0
    requests: int = 0
    write_errors: list[str] = field(default_factory=list)
    # What the connector counted: requests by (method, status), and each retry's wait.
    counter: RequestCounter = field(default_factory=RequestCounter)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.write_errors


@dataclass
class CycleResult:
    report: Report
    sources: list[SourceOutcome] = field(default_factory=list)
    plan: list[PlannedWrite] = field(default_factory=list)
    metric_errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        failed = any(not s.ok for s in self.sources) or bool(self.metric_errors)
        return 1 if failed else 0


def current_report(config: Config, store: Store, now: datetime) -> Report:
    return compute_report(
        config.domain_cycle(),
        config.domain_objectives(),
        store.items(),
        store.samples(),
        config.rules(),
        now,
    )


def run_cycle(
    config: Config,
    store: Store,
    connect: SourceFactory,
    *,
    now: datetime,
    only: Iterable[str] | None = None,
    dry_run: bool = False,
    full: bool = False,
    config_dir: Path = Path("."),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CycleResult:
    """Run one cycle. `now` is the instant the report is evaluated at; `clock` is the
    wall clock, used for bookmarks, which must follow real time even when `now` does not."""
    names = [n for n in config.sources.enabled() if only is None or n in set(only)]
    outcomes = {name: SourceOutcome(name) for name in names}
    connected: dict[str, Source] = {}
    try:
        for name in names:
            source = _pull_one(name, connect, store, outcomes[name], full, clock)
            if source is not None:
                connected[name] = source
                _complete_children(config, store, source, outcomes[name])
        metric_errors = import_metric_files(config, store, config_dir).errors
        report = current_report(config, store, now)
        plan = plan_writes(config, store, report, sources=connected.keys())
        result = CycleResult(report, list(outcomes.values()), plan, metric_errors)
        for write in plan:
            if not dry_run and write.source in connected:
                _apply_one(connected[write.source], write, store, outcomes[write.source])
        for name, outcome in outcomes.items():
            planned = sum(1 for write in plan if write.source == name)
            outcome.skipped = _targets_with_comments(config, report, name) - planned
            if name in connected:
                outcome.counter = connected[name].requests
                outcome.requests = outcome.counter.total
            log.info("sync.source_done", **_outcome_fields(outcome))
        return result
    finally:
        for source in connected.values():
            source.close()


def _pull_one(
    name: str,
    connect: SourceFactory,
    store: Store,
    outcome: SourceOutcome,
    full: bool,
    clock: Callable[[], datetime],
) -> Source | None:
    try:
        source = connect(name)
    except SourceError as error:
        outcome.error = str(error)
        log.error("sync.source_failed", source=name, stage="connect", error=str(error))
        return None
    try:
        bookmark = None if full else store.cursor(name)
        pulled = source.pull(bookmark, started_at=clock())
        upserted = store.upsert_items(pulled.items)
        if pulled.full:
            # A full pull saw everything in scope: what it did not see was deleted or moved out.
            seen = {item.key for item in pulled.items}
            gone = [item.key for item in store.items(name) if item.key not in seen]
            outcome.deleted = store.delete_items(name, gone)
        if pulled.bookmark_ms is not None:
            store.set_cursor(name, pulled.bookmark_ms)
        outcome.pulled = len(pulled.items)
        outcome.inserted, outcome.updated = upserted.inserted, upserted.updated
        return source
    except SourceError as error:
        outcome.error = str(error)
        log.error("sync.source_failed", source=name, stage="pull", error=str(error))
        source.close()
        return None


def _complete_children(
    config: Config, store: Store, source: Source, outcome: SourceOutcome
) -> None:
    """Fetch children that only a look-up shows (Asana subtasks, cross-repo sub-issues),
    for mapped parents only, following grandchildren a few levels down."""
    items = {item.ref: item for item in store.items()}  # read once; children are added below
    parents = mapped_parents(
        items.values(), config.domain_objectives(), config.rules(), source.name
    )
    for _ in range(MAX_CHILD_DEPTH):
        if not parents:
            return
        known: dict[str, list[WorkItem]] = {}
        for item in items.values():
            if item.source == source.name and item.parent is not None:
                known.setdefault(item.parent, []).append(item)
        try:
            children = source.children(parents, known)
        except SourceError as error:
            outcome.error = str(error)
            log.error("sync.source_failed", source=source.name, stage="children", error=str(error))
            return
        store.upsert_items(children)
        items.update((child.ref, child) for child in children)
        outcome.pulled += len(children)
        parents = tuple(child for child in children if child.child_count)


def _apply_one(source: Source, write: PlannedWrite, store: Store, outcome: SourceOutcome) -> None:
    try:
        result = source.apply(write)
    except SourceError as error:
        outcome.write_errors.append(f"{write.target}: {error}")
        log.error(
            "sync.writeback_failed", source=write.source, target=write.target, error=str(error)
        )
        return
    store.save_writeback(result.target, result.content_hash, result.remote_id)
    if result.action == "created":
        outcome.created += 1
    else:
        outcome.edited += 1
    log.info("sync.written", target=write.target, action=result.action, comment_id=result.remote_id)


def plan_writes(
    config: Config, store: Store, report: Report, sources: Iterable[str]
) -> list[PlannedWrite]:
    """What to write: only targets whose rendered content changed since the last write."""
    wanted = set(sources)
    targets = [
        target
        for target in report.targets
        if target.item.source in wanted and _comments_enabled(config, target.item.source)
    ]
    records = store.writebacks(target_id(target) for target in targets)
    plan = []
    for target in targets:
        source = target.item.source
        body = render_body(report, target)
        digest = content_hash(body)
        record = records.get(target_id(target))
        if record is not None and record.content_hash == digest:
            continue
        plan.append(
            PlannedWrite(
                target=target_id(target),
                source=source,
                item_key=target.item.key,
                body=body,
                content_hash=digest,
                known_remote_id=record.remote_id if record else None,
            )
        )
    return plan


def render_body(report: Report, target: Target) -> str:
    statuses = [report.kr_status(kr_id) for kr_id in target.kr_ids]
    return _RENDERERS[target.item.source](target, statuses, report.cycle)


def content_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def target_id(target: Target) -> str:
    return f"{target.item.source}:{target.item.key}"


def _comments_enabled(config: Config, source: str) -> bool:
    writeback = getattr(config.writeback, source, None)
    return source in _RENDERERS and writeback is not None and writeback.comment


def _targets_with_comments(config: Config, report: Report, source: str) -> int:
    if not _comments_enabled(config, source):
        return 0
    return sum(1 for target in report.targets if target.item.source == source)


@dataclass
class MetricImport:
    errors: list[str] = field(default_factory=list)
    added: int = 0  # samples the store did not have yet


def import_metric_files(config: Config, store: Store, config_dir: Path) -> MetricImport:
    """Read every CSV metric into the store; a bad file is an error, not a crash."""
    result = MetricImport()
    for objective in config.objectives:
        for kr in objective.key_results:
            if kr.metric.type != "csv" or kr.metric.path is None:
                continue
            path = Path(kr.metric.path)
            try:
                samples = read_csv_samples(path if path.is_absolute() else config_dir / path, kr.id)
            except MetricFileError as error:
                result.errors.append(str(error))
                log.error("metric.failed", kr=kr.id, error=str(error))
                continue
            added = sum(store.add_sample(sample, origin="csv") for sample in samples)
            result.added += added
            log.info("metric.imported", kr=kr.id, samples=len(samples), new=added)
    return result


def _outcome_fields(outcome: SourceOutcome) -> dict[str, object]:
    return {
        "source": outcome.name,
        "ok": outcome.ok,
        "pulled": outcome.pulled,
        "inserted": outcome.inserted,
        "updated": outcome.updated,
        "deleted": outcome.deleted,
        "comments_created": outcome.created,
        "comments_edited": outcome.edited,
        "comments_unchanged": outcome.skipped,
        "requests": outcome.requests,
    }
