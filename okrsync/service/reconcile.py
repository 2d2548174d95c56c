"""Reconciliation: read managed comments back, restore a person's edit, recreate a deletion.

Every `writeback.reconcile` interval (default 24 h) per source, and on `sync --full`, each
target of the report whose comment okrsync wrote (a live comment record) and that the
plan does not rewrite anyway is read back with ONE request (`ReadsComments.check_comment`)
and compared with its current planned body, in a form the system's normalisation keeps:

- edited (by a person, or anything else): a `SetComment` that edits it back, logged as
  `writeback.restored` (target and comment id, never the text);
- deleted: a `SetComment` without a known id, so the comment is adopted or posted again,
  logged as `writeback.recreated`. A comment deleted again before the next reconcile is
  not chased until then (at most one recreation per interval);
- the same: nothing.

A reconcile of a source costs one GET per such target; its instant is kept in the store
under `reconcile:<source>` (a write-back record: `remote_id` holds the ISO instant), saved
only when every read answered, so a cut-short reconcile is done again on the next cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from okrsync.config import Config
from okrsync.domain import Report
from okrsync.logs import get_logger
from okrsync.registry import REGISTRY, Registry
from okrsync.service.planning import comments_enabled, target_operations
from okrsync.sources import RETIRED, Operation, ReadsComments, SetComment, Source, SourceError
from okrsync.store import Store

log = get_logger(__name__)

RECONCILE_KIND = "reconcile"


def reconcile_key(source: str) -> str:
    """The store record that remembers the last reconcile of `source`."""
    return f"{RECONCILE_KIND}:{source}"


def reconcile_due(config: Config, store: Store, source: str, now: datetime, full: bool) -> bool:
    """Whether `source`'s comments are to be read back this cycle: on `sync --full`, when
    never reconciled, or when the last reconcile is `writeback.reconcile` or more ago."""
    if full:
        return True
    record = store.writeback(reconcile_key(source))
    if record is None:
        return True
    try:
        last = datetime.fromisoformat(record.remote_id)
    except ValueError:
        return True
    return now - last >= timedelta(seconds=config.writeback.reconcile)


@dataclass(frozen=True)
class Reconciled:
    """What reconciling added to the plan, the errors (a read that failed), and the
    sources whose reconcile finished (their instant is to be saved)."""

    operations: tuple[Operation, ...] = ()
    errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    done: tuple[str, ...] = ()


def reconcile(
    config: Config,
    store: Store,
    report: Report,
    plan: Sequence[Operation],
    writers: Mapping[str, Source],
    *,
    now: datetime,
    full: bool,
    registry: Registry = REGISTRY,
) -> Reconciled:
    """Read back the managed comments of each writer that is due (see the module)."""
    rewritten = {op.target for op in plan if isinstance(op, SetComment)}
    added: list[Operation] = []
    errors: dict[str, tuple[str, ...]] = {}
    done: list[str] = []
    for name, source in writers.items():
        if not isinstance(source, ReadsComments) or not comments_enabled(config, name, registry):
            continue
        if not reconcile_due(config, store, name, now, full):
            continue
        targets = [t for t in report.targets if t.item.source == name]
        comments = [
            op
            for target in targets
            for op in target_operations(config, report, target, registry)
            if isinstance(op, SetComment) and op.target not in rewritten
        ]
        records = store.writebacks(op.target for op in comments)
        failed: list[str] = []
        for write in comments:
            record = records.get(write.target)
            if record is None or record.content_hash == RETIRED or not record.remote_id:
                continue
            operation = _check(source, write, record.remote_id, failed)
            if operation is not None:
                added.append(operation)
        log.info("writeback.reconciled", source=name, read=len(comments), failed=len(failed))
        if failed:
            errors[name] = tuple(failed)
        else:
            done.append(name)
    return Reconciled(tuple(added), errors, tuple(done))


def _check(
    source: ReadsComments, write: SetComment, comment_id: str, failed: list[str]
) -> SetComment | None:
    try:
        state = source.check_comment(write.item_key, comment_id, write.body)
    except SourceError as error:
        log.error("writeback.reconcile_failed", target=write.target, error=str(error))
        failed.append(f"{write.target}: reconcile: {error}")
        return None
    if state == "edited":
        log.warning("writeback.restored", target=write.target, comment_id=comment_id)
        return SetComment(
            write.target, write.source, write.item_key, write.body, write.content_hash, comment_id
        )
    if state == "deleted":
        log.warning("writeback.recreated", target=write.target, comment_id=comment_id)
        return SetComment(
            write.target, write.source, write.item_key, write.body, write.content_hash, None
        )
    return None


def save_reconciled(store: Store, sources: Iterable[str], now: datetime) -> None:
    """Remember that each of `sources` was reconciled at `now` (one upsert each)."""
    for name in sources:
        store.save_writeback(reconcile_key(name), RECONCILE_KIND, now.isoformat())
