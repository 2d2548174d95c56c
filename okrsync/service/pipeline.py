"""One sync cycle, one pass: pull → store → children → compute (pure) → plan → apply.

Every selected source is pulled first; then the store is read once, the children that
only a look-up shows are added for every source that pulled, the report is computed from
that one item set (mapped once: the mapping that found the parents to look up serves
the report when no child changed), and the plan is applied. Each stage gives a plain
immutable value; the per-source outcomes are assembled from them at the end.

A source that fails is reported and skipped; the others still pull and write back.
A source whose children look-up fails writes nothing that cycle: its comments would
publish numbers computed without those children. The next cycle looks them up again.
Write-back records are saved one by one, right after each write lands, so a cycle
cut short never writes the same comment twice on the next run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from okrsync._collector import collector_paused
from okrsync.config import Config
from okrsync.domain import (
    Cycle,
    KRIndex,
    KRSnapshot,
    MappedItems,
    MetricSample,
    Objective,
    Report,
    Rules,
    ScopeItem,
    WorkItem,
    compute_report_and_mapping,
    map_items,
    parents_to_look_up,
    scope_fingerprint,
    snapshots_from,
    start_weights_of,
)
from okrsync.logs import get_logger
from okrsync.metrics import MetricRun, sample_metrics
from okrsync.registry import REGISTRY, Registry
from okrsync.service.connectors import SourceFactory
from okrsync.service.planning import (
    comment_targets,
    comment_writes,
    comments_enabled,
    content_hash,
    plan_retirements,
    plan_writes,
    render_body,
    target_id,
    work_filter,
)
from okrsync.service.reconcile import Reconciled, reconcile, save_reconciled
from okrsync.sources import (
    RETIRED,
    ConditionalSource,
    Operation,
    PlannedWrite,
    RequestCounter,
    RetireTarget,
    SetComment,
    Source,
    SourceError,
    StreamingSource,
    TargetGone,
    TargetOperation,
    WritesOperations,
)
from okrsync.store import Store

__all__ = [
    "MAX_CHILD_DEPTH",
    "ChildrenStage",
    "CommentCounts",
    "CycleResult",
    "MetricImport",
    "PullCounts",
    "PullStage",
    "SourceChildren",
    "SourceOutcome",
    "SourcePull",
    "SourceWrites",
    "StoredReport",
    "WriteStage",
    "comments_enabled",
    "content_hash",
    "current_report",
    "import_metric_files",
    "plan_writes",
    "render_body",
    "report_as_of",
    "run_cycle",
    "target_id",
]

log = get_logger(__name__)

# Sub-issues of sub-issues: how deep a cycle follows children the listing did not bring.
MAX_CHILD_DEPTH = 3


# ------------------------------------------------------------------------ stage values


@dataclass(frozen=True)
class PullCounts:
    """Items: what the source gave (children included) and what that did to the store."""

    pulled: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0


@dataclass(frozen=True)
class CommentCounts:
    """Managed comments: written new, edited, or left alone as unchanged."""

    created: int = 0
    edited: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class SourcePull:
    name: str
    counts: PullCounts = PullCounts()
    error: str | None = None
    # A pull that failed still made requests (every retry is one): its connector's count.
    counter: RequestCounter | None = None


@dataclass(frozen=True)
class PullStage:
    sources: tuple[SourcePull, ...] = ()

    def get(self, name: str) -> SourcePull:
        return next(pull for pull in self.sources if pull.name == name)


@dataclass(frozen=True)
class SourceChildren:
    name: str
    found: int = 0  # children the look-ups returned, at every level
    error: str | None = None


@dataclass(frozen=True)
class ChildrenStage:
    # The store's items as read once after the pulls, plus every child found.
    items: tuple[WorkItem, ...] = ()
    sources: tuple[SourceChildren, ...] = ()
    # The mapping of `items` (`map_items`) when no child was found: the one made to find
    # the parents to look up, which the report then uses instead of mapping them again.
    # None when children were added (the items then are not the ones mapped).
    mapped: MappedItems | None = field(default=None, compare=False, repr=False)

    def get(self, name: str) -> SourceChildren | None:
        return next((looked for looked in self.sources if looked.name == name), None)

    @property
    def failed(self) -> frozenset[str]:
        return frozenset(looked.name for looked in self.sources if looked.error is not None)


@dataclass(frozen=True)
class SourceWrites:
    name: str
    comments: CommentCounts = CommentCounts()
    write_errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class WriteStage:
    sources: tuple[SourceWrites, ...] = ()

    def get(self, name: str) -> SourceWrites:
        return next((writes for writes in self.sources if writes.name == name), SourceWrites(name))


@dataclass(frozen=True)
class SourceOutcome:
    """One source's cycle, assembled from the stages: item counts and comment counts
    are separate values; the flat names (`pulled`, `created`, ...) read through them."""

    name: str
    error: str | None = None
    items: PullCounts = PullCounts()
    comments: CommentCounts = CommentCounts()
    write_errors: tuple[str, ...] = ()
    # What the connector counted: requests by (method, status), and each retry's wait.
    counter: RequestCounter = field(default_factory=RequestCounter)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.write_errors

    @property
    def pulled(self) -> int:
        return self.items.pulled

    @property
    def inserted(self) -> int:
        return self.items.inserted

    @property
    def updated(self) -> int:
        return self.items.updated

    @property
    def deleted(self) -> int:
        return self.items.deleted

    @property
    def created(self) -> int:
        return self.comments.created

    @property
    def edited(self) -> int:
        return self.comments.edited

    @property
    def skipped(self) -> int:
        return self.comments.skipped

    @property
    def requests(self) -> int:
        return self.counter.total


@dataclass(frozen=True)
class CycleResult:
    report: Report
    sources: Sequence[SourceOutcome] = ()
    # A list, as `plan_writes` gives it (readers compare it with lists); a copy of its own.
    plan: Sequence[Operation] = ()
    metric_errors: Sequence[str] = ()

    def __post_init__(self) -> None:
        # Copied on the way in, so no caller's list can change a finished cycle's result.
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "plan", list(self.plan))
        object.__setattr__(self, "metric_errors", tuple(self.metric_errors))

    @property
    def exit_code(self) -> int:
        failed = any(not s.ok for s in self.sources) or bool(self.metric_errors)
        return 1 if failed else 0


@dataclass(frozen=True)
class MetricImport:
    errors: tuple[str, ...] = ()
    added: int = 0  # samples the store did not have yet


# ------------------------------------------------------------------------------ cycle


def current_report(config: Config, store: Store, now: datetime) -> Report:
    """The report from what the store knew at `now`: the items as last learned at or
    before it (see `Store.items`), so a past instant's report never changes."""
    # The collector stays paused until what the report was computed from (every item and
    # its mapping) is freed: resumed before, its first collection would walk them all
    # (about 50 ms with 50,000 items) only to find them alive.
    with collector_paused():
        return report_as_of(config, store, now).report


@dataclass(frozen=True)
class StoredReport:
    """`current_report` and what it was computed from, for the report page: the items as
    of `now` and their mapping, the finite samples at or before `now`, the KR snapshots."""

    report: Report
    items: Sequence[WorkItem]
    mapped: MappedItems
    samples: Sequence[MetricSample]
    snapshots: Sequence[KRSnapshot]


def report_as_of(config: Config, store: Store, now: datetime) -> StoredReport:
    """`current_report`, with what it read: the items at `now` and what `_compute_all`
    reads with them (the scope at the cycle start: kept by a sync cycle, or the items
    then). Writes nothing.

    The cyclic garbage collector waits until the report is done (`collector_paused`:
    with 50,000 items, collections in between were about 40% of the time).
    """
    with collector_paused():
        return _compute_all(config, store.items(as_of=now), store, now)


def run_cycle(
    config: Config,
    store: Store,
    connect: SourceFactory,
    *,
    now: datetime,
    only: Collection[str] | None = None,
    dry_run: bool = False,
    full: bool = False,
    config_dir: Path = Path("."),
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    registry: Registry = REGISTRY,
    metrics: bool = True,
) -> CycleResult:
    """Run one cycle. `now` is the instant the report is evaluated at; `clock` is the
    wall clock, used for bookmarks, which must follow real time even when `now` does not.
    `only` names the sources to run (all enabled ones when None). `metrics`: read every
    non-manual metric once, at `now`, before the report (the daemon reads them on their
    own intervals instead)."""
    names = _selected(config, only)
    connected: dict[str, Source] = {}
    try:
        pulls: list[SourcePull] = []
        is_work = work_filter(config)
        for name in names:
            pull, source = _pull_one(name, connect, store, full, clock, now, is_work)
            pulls.append(pull)
            if source is not None:
                connected[name] = source
        pulled = PullStage(tuple(pulls))
        # From the store's read until the items and their mapping are let go (`children`
        # made light again below), the collector stays paused, as for `current_report`:
        # resumed in between, its first collection would walk every item, ref and entry
        # made meanwhile only to find them alive (a cycle's mapping alone makes three
        # objects per item), and the items go by reference counting anyway.
        with collector_paused():
            children = _complete_children(
                config, store, list(connected.values()), store.items(), now
            )
            metric_errors = (
                sample_metrics(
                    config, store, now, connect, connected=connected, config_dir=config_dir
                )
                if metrics
                else MetricRun()
            ).errors
            report = _compute(
                config, children.items, store, now, keep_scope=not dry_run, mapped=children.mapped
            )
            children = replace(children, items=(), mapped=None)
        if not dry_run:
            store.save_kr_snapshots(snapshots_from(report))
        # A source missing children would publish wrong numbers: it writes nothing now.
        held = children.failed
        writers = {name: source for name, source in connected.items() if name not in held}
        for name in (name for name in names if name in held):
            log.warning("sync.writeback_held", source=name, reason="children look-up failed")
        plan = plan_writes(config, store, report, writers.keys(), registry)
        plan += plan_retirements(config, store, report, writers.keys())
        reconciled = Reconciled()
        if not dry_run:
            reconciled = reconcile(
                config, store, report, plan, writers, now=now, full=full, registry=registry
            )
            plan += reconciled.operations
        writes = _write_stage(
            config, report, names, plan, {} if dry_run else writers, store, registry
        )
        if not dry_run:
            save_reconciled(store, reconciled.done, now)
            writes = _with_errors(writes, reconciled.errors)
        outcomes = tuple(
            _outcome(pulled.get(name), children.get(name), writes.get(name), connected.get(name))
            for name in names
        )
        for outcome in outcomes:
            log.info("sync.source_done", **_outcome_fields(outcome))
        return CycleResult(report, outcomes, plan, metric_errors)
    finally:
        for source in connected.values():
            source.close()


def _selected(config: Config, only: Collection[str] | None) -> list[str]:
    """The enabled sources to run, in the config's order. `only` is read once, so any
    iterable of names selects the same sources; a lone string is a mistake, not names."""
    if only is None:
        return list(config.sources.enabled())
    if isinstance(only, str):
        raise TypeError("only takes a collection of source names, not a single string")
    wanted = frozenset(only)
    return [name for name in config.sources.enabled() if name in wanted]


def _compute(
    config: Config,
    items: Iterable[WorkItem],
    store: Store,
    now: datetime,
    *,
    keep_scope: bool,
    mapped: MappedItems | None = None,
) -> Report:
    """The report at `now` over `items` (see `_compute_all`), the collector paused as for
    `report_as_of`."""
    with collector_paused():
        return _compute_all(config, items, store, now, keep_scope=keep_scope, mapped=mapped).report


def _compute_all(
    config: Config,
    items: Iterable[WorkItem],
    store: Store,
    now: datetime,
    *,
    keep_scope: bool = False,
    mapped: MappedItems | None = None,
) -> StoredReport:
    """The report at `now` over `items`, with what the store knew then: the samples at or
    before it, the scope at the cycle start (`_start_scope`), the KR snapshots (delivery
    forecast) and the metric errors. `keep_scope`: keep the scope at the cycle start when
    it had to be computed (a sync cycle does; `status` and `report` write nothing).
    `mapped`: the mapping of `items` under the config's objectives and rules, when the
    caller made it already (see `ChildrenStage.mapped`)."""
    cycle, objectives, rules = config.domain_cycle(), config.domain_objectives(), config.rules()
    items = list(items)
    start = _start_scope(store, cycle, objectives, rules, now, items)
    snapshots = store.kr_snapshots(until=now)
    done_history: dict[str, list[tuple[datetime, float]]] = {}
    for snapshot in snapshots:
        done_history.setdefault(snapshot.kr_id, []).append((snapshot.at, snapshot.done_weight))
    samples = finite_samples(store.samples(as_of=now))
    report, mapped = compute_report_and_mapping(
        cycle,
        objectives,
        items,
        samples,
        rules,
        now,
        start_items=start.items,
        start_weights=start.weights,
        done_history=done_history,
        metric_errors=store.metric_errors(as_of=now),
        mapped=mapped,
    )
    if keep_scope and start.keep_as is not None:
        _keep_scope(store, start.keep_as, report)
    return StoredReport(report, items, mapped, samples, snapshots)


@dataclass(frozen=True)
class _StartScope:
    """What a report's scope at the cycle start comes from: the weights kept by an earlier
    report, or the items then (`keep_as`: the fingerprint and start to keep the weights
    this report computes from them under)."""

    items: Sequence[WorkItem] | Sequence[ScopeItem] | None = None
    weights: Mapping[str, float] | None = None
    keep_as: tuple[str, datetime] | None = None


def _start_scope(
    store: Store,
    cycle: Cycle,
    objectives: Sequence[Objective],
    rules: Rules,
    now: datetime,
    items: Sequence[WorkItem],
) -> _StartScope:
    """The scope at the cycle start. Not after the start (`now` before or at it): the
    items at `now`, which the report has. After it: the weights kept for this start and
    mapping (`Store.scope_start`), or else the items as the store knew them at the start
    (`Store.scope_items`: one read and one mapping of every item, about 300 ms at 50,000
    items), whose weights a sync cycle then keeps for every later report."""
    start = datetime.combine(cycle.start, time.min, tzinfo=UTC)
    if now <= start:
        return _StartScope(items=items)
    fingerprint = scope_fingerprint(objectives, rules)
    kept = store.scope_start(fingerprint, start)
    if kept is not None:
        return _StartScope(weights=kept)
    return _StartScope(items=store.scope_items(as_of=start), keep_as=(fingerprint, start))


def _keep_scope(store: Store, key: tuple[str, datetime], report: Report) -> None:
    """Keep `report`'s start weights under `key` (fingerprint, start)."""
    weights = start_weights_of(report)
    if weights is not None:
        store.save_scope_start(*key, weights)


def finite_samples(samples: Iterable[MetricSample]) -> list[MetricSample]:
    """The samples with a finite value. NaN or an infinity can only be in the store from
    before okrsync refused them; one would turn every sum into NaN or a ValueError, so it
    is skipped with a warning (delete it with the store's tools)."""
    kept = []
    for sample in samples:
        if math.isfinite(sample.value):
            kept.append(sample)
        else:
            log.warning(
                "metric.sample_skipped",
                kr=sample.kr_id,
                at=sample.at.isoformat(),
                value=str(sample.value),
                reason="not a finite number",
            )
    return kept


def without_credentials(items: Sequence[WorkItem]) -> list[WorkItem]:
    """The items with any `user:password@` taken out of their URLs before they are
    stored: a source configured as https://user:token@host must not leave the token in
    `work_items.url`, nor in the links that comments and reports show. An item whose URL
    has none is kept as it is (a copy per item was a tenth of a 10,000-item pull's CPU)."""
    return [
        item if (url := _strip_userinfo(item.url)) == item.url else replace(item, url=url)
        for item in items
    ]


def _strip_userinfo(url: str) -> str:
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL we can read: keep nothing that may hold a secret
        return ""
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _pull_one(
    name: str,
    connect: SourceFactory,
    store: Store,
    full: bool,
    clock: Callable[[], datetime],
    now: datetime,
    is_work: Callable[[WorkItem], bool] | None = None,
) -> tuple[SourcePull, Source | None]:
    """Pull one source into the store; its bookmark, and the ETags of the pages it read
    (for conditional requests next time), are saved only once the pull finished and its
    items are stored. `is_work`: which pulled items are work (None: all of them)."""
    try:
        source = connect(name)
    except SourceError as error:
        log.error("sync.source_failed", source=name, stage="connect", error=str(error))
        return SourcePull(name, error=str(error)), None
    seen: set[str] = set()
    stored = PullCounts()

    def keep(items: Sequence[WorkItem]) -> None:
        """Store a batch of pulled items (a page, as a streaming source reads them)."""
        nonlocal stored
        # okrsync's own KR issues (`writeback.jira.kr_issues`) are never work items.
        kept = without_credentials(items)
        if is_work is not None:
            kept = [item for item in kept if is_work(item)]
        upserted = store.upsert_items(kept, seen_at=now)
        seen.update(item.key for item in kept)
        stored = PullCounts(
            0, stored.inserted + upserted.inserted, stored.updated + upserted.updated
        )

    streaming = source if isinstance(source, StreamingSource) else None
    try:
        bookmark = None if full else store.cursor(name)
        if isinstance(source, ConditionalSource):
            source.use_etags(store.etags(name))
        # A streaming source's items are stored page by page while it reads the next
        # (the memory of one page, not of the whole pull); whatever it does not stream
        # is stored once it returns. Only then, the pull finished, is anything else
        # done: the unseen items of a full pull deleted, the bookmark and ETags saved.
        if streaming is not None:
            streaming.stream_to(keep)
        try:
            pulled = source.pull(bookmark, started_at=clock())
        finally:
            if streaming is not None:
                streaming.stream_to(None)
        keep(pulled.items)
        deleted = 0
        if pulled.full:
            # A full pull saw everything in scope: what it did not see was deleted or moved out.
            gone = [key for key in store.item_keys(name) if key not in seen]
            deleted = store.delete_items(name, gone, at=now)
        if pulled.bookmark_ms is not None:
            store.set_cursor(name, pulled.bookmark_ms)
        store.save_etags(name, pulled.etags)
    except SourceError as error:
        log.error("sync.source_failed", source=name, stage="pull", error=str(error))
        source.close()
        return SourcePull(name, error=str(error), counter=source.requests), None
    counts = PullCounts(len(seen), stored.inserted, stored.updated, deleted)
    return SourcePull(name, counts), source


def _complete_children(
    config: Config,
    store: Store,
    sources: Sequence[Source],
    stored: Iterable[WorkItem],
    now: datetime,
) -> ChildrenStage:
    """Fetch children that only a look-up shows (Asana subtasks, cross-repo sub-issues),
    for mapped parents only, following grandchildren a few levels down. `stored` is the
    store's one read; the children found are stored and added to it in memory.

    The items are mapped once here; when no child is found (most cycles) the report is of
    the same items, and the stage hands that mapping on for it."""
    items = _ItemSet(list(stored))
    index = KRIndex.from_objectives(config.domain_objectives())
    mapped = map_items(items.values(), index, config.rules())
    parents = parents_to_look_up(mapped)
    looked = tuple(
        _children_of(source, parents.get(source.name, ()), items, store, now) for source in sources
    )
    return ChildrenStage(tuple(items.values()), looked, None if items.changed else mapped)


class _ItemSet:
    """The cycle's items: the store's read (one item per source and key: the store keeps
    one row each), with the children found replacing a read item of the same source and
    key in its place, or after them when new. `changed` once a child is new or differs
    from the item it replaces: until then the items are the read ones (a look-up that
    gives back the stored children, as Asana's subtask lists do every cycle, changes
    nothing), whose mapping the report can use. Keyed only once a child is found, by
    (source, key) (a tuple of strs hashes in C, an ItemRef in Python)."""

    def __init__(self, stored: list[WorkItem]):
        self.stored = stored
        self.changed = False
        self._by_key: dict[tuple[str, str], WorkItem] | None = None

    def values(self) -> Sequence[WorkItem]:
        if not self.changed or self._by_key is None:
            return self.stored
        return list(self._by_key.values())

    def add(self, children: Sequence[WorkItem]) -> None:
        if not children:
            return
        by_key = self._by_key
        if by_key is None:
            by_key = self._by_key = {(item.source, item.key): item for item in self.stored}
        for child in children:
            key = (child.source, child.key)
            if by_key.get(key) != child:
                self.changed = True
                by_key[key] = child


def _children_of(
    source: Source,
    parents: tuple[WorkItem, ...],
    items: _ItemSet,
    store: Store,
    now: datetime,
) -> SourceChildren:
    found = 0
    name = source.name
    for _ in range(MAX_CHILD_DEPTH):
        if not parents:
            break
        known: dict[str, list[WorkItem]] = {}
        for item in items.values():
            if item.parent is not None and item.source == name:  # most items: no parent
                known.setdefault(item.parent, []).append(item)
        try:
            children = source.children(parents, known)
        except SourceError as error:
            log.error("sync.source_failed", source=source.name, stage="children", error=str(error))
            return SourceChildren(source.name, found, str(error))
        children = without_credentials(children)
        store.upsert_items(children, seen_at=now)
        if isinstance(source, ConditionalSource):
            store.save_etags(source.name, source.children_etags)
        items.add(children)
        found += len(children)
        parents = tuple(child for child in children if child.child_count)
    return SourceChildren(source.name, found)


def _write_stage(
    config: Config,
    report: Report,
    names: Sequence[str],
    plan: Sequence[Operation],
    writers: Mapping[str, Source],
    store: Store,
    registry: Registry,
) -> WriteStage:
    """Apply the plan's operations for `writers` (none on a dry run), target by target in
    plan order: its comment, then its other operations (fields, property) in one batch
    that the connector may send as one request. Each operation's record is saved right
    after it succeeded, so a cycle cut short never repeats a write."""
    actions: dict[str, list[str]] = {name: [] for name in names}
    errors: dict[str, list[str]] = {name: [] for name in names}
    for operations in _by_target(plan):
        name = operations[0].source
        if name not in writers:
            continue
        for write in comment_writes(operations):
            action, error = _apply_one(writers[name], write, store)
            if error is not None:
                errors[name].append(error)
            else:
                actions[name].append(action)
        others = [op for op in operations if not isinstance(op, SetComment)]
        if others:
            errors[name] += _apply_operations(writers[name], others, store)
    stage = []
    for name in names:
        planned = sum(1 for write in comment_writes(plan) if write.source == name)
        comments = CommentCounts(
            created=actions[name].count("created"),
            edited=actions[name].count("edited"),
            skipped=comment_targets(config, report, name, registry) - planned,
        )
        stage.append(SourceWrites(name, comments, tuple(errors[name])))
    return WriteStage(tuple(stage))


def _with_errors(stage: WriteStage, errors: Mapping[str, Sequence[str]]) -> WriteStage:
    """The stage with reconciliation's read errors added to their sources'."""
    if not errors:
        return stage
    return WriteStage(
        tuple(
            replace(writes, write_errors=writes.write_errors + tuple(errors.get(writes.name, ())))
            for writes in stage.sources
        )
    )


def _by_target(plan: Sequence[Operation]) -> list[list[Operation]]:
    """The plan's operations grouped by target, targets and operations in plan order."""
    groups: dict[str, list[Operation]] = {}
    for operation in plan:
        groups.setdefault(operation.target, []).append(operation)
    return list(groups.values())


def _apply_one(source: Source, write: PlannedWrite, store: Store) -> tuple[str, str | None]:
    """Write one comment and save its record; (action, None), or ("", error)."""
    try:
        result = source.apply(write)
    except SourceError as error:
        log.error(
            "sync.writeback_failed", source=write.source, target=write.target, error=str(error)
        )
        return "", f"{write.target}: {error}"
    store.save_writeback(result.target, result.content_hash, result.remote_id)
    action = "created" if result.action == "created" else "edited"
    log.info("sync.written", target=write.target, action=result.action, comment_id=result.remote_id)
    return action, None


def _apply_operations(
    source: Source, operations: Sequence[TargetOperation], store: Store
) -> list[str]:
    """Apply one target's fields and property, saving each record as soon as the
    connector reports it done; the errors, each naming the target and what failed."""
    target = operations[0].target
    if not isinstance(source, WritesOperations):
        wanted = ", ".join(op.op_key for op in operations)
        return [f"{target}: {source.name} cannot write {wanted}"]
    found: list[str] = []
    try:
        for outcome in source.apply_operations(operations):
            done = outcome.operation
            if outcome.error is not None:
                log.error(
                    "sync.writeback_failed",
                    source=done.source,
                    target=done.target,
                    operation=done.op_key,
                    error=outcome.error,
                )
                found.append(f"{done.target}: {outcome.error}")
                continue
            if isinstance(done, RetireTarget):
                _save_retired(store, done, outcome.remote_id)
                continue
            store.save_writeback(done.record_key, done.content_hash, outcome.remote_id)
            log.info("sync.written", target=done.target, operation=done.op_key)
    except TargetGone as error:
        retiring = [op for op in operations if isinstance(op, RetireTarget)]
        if not retiring:
            log.error("sync.writeback_failed", source=source.name, target=target, error=str(error))
            return [*found, f"{target}: {error}"]
        # The item itself is gone: nothing of okrsync's is left on it to retire.
        for operation in retiring:
            _save_retired(store, operation, "")
    except SourceError as error:
        log.error("sync.writeback_failed", source=source.name, target=target, error=str(error))
        found.append(f"{target}: {error}")
    return found


def _save_retired(store: Store, operation: RetireTarget, note_id: str) -> None:
    """Mark every record of a retired target (one upsert each): the comment's keeps the
    note's id (none when the comment was deleted), so the next cycle plans nothing and a
    target that maps again later edits its note back into the full comment."""
    for key in operation.records:
        store.save_writeback(key, RETIRED, note_id if key == operation.target else "")
    if operation.target not in operation.records and note_id:
        store.save_writeback(operation.target, RETIRED, note_id)
    log.info(
        "writeback.retired",
        target=operation.target,
        comment=operation.mode if operation.comment_id else "none",
        fields=len(operation.fields),
        labels=len(operation.labels),
        properties=len(operation.properties),
    )


def _outcome(
    pull: SourcePull,
    children: SourceChildren | None,
    writes: SourceWrites,
    source: Source | None,
) -> SourceOutcome:
    found = children.found if children is not None else 0
    error = pull.error
    if children is not None and children.error is not None:
        error = f"{children.error} (children missing: no comments written this cycle)"
    return SourceOutcome(
        pull.name,
        error=error,
        items=replace(pull.counts, pulled=pull.counts.pulled + found),
        comments=writes.comments,
        write_errors=writes.write_errors,
        # A source that pulled hands over its counter; one whose pull failed, what it
        # counted before failing (its retries); one that never connected, nothing.
        counter=source.requests if source is not None else pull.counter or RequestCounter(),
    )


def import_metric_files(config: Config, store: Store, config_dir: Path) -> MetricImport:
    """Read every CSV metric into the store; a bad file is an error, not a crash."""
    csv = [kr.id for o in config.objectives for kr in o.key_results if kr.metric.type == "csv"]
    run = sample_metrics(config, store, datetime.now(UTC), only=csv, config_dir=config_dir)
    return MetricImport(run.errors, run.added)


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
