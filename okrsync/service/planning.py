"""What a cycle would write: the managed comments whose rendered content changed.

Planning reads the report, the write-back records and the registry's renderers; it
writes nothing. `run_cycle` applies the plan it returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from okrsync.config import Config
from okrsync.domain import Report, Target
from okrsync.registry import REGISTRY, Registry
from okrsync.sources import PlannedWrite
from okrsync.store import Store


def plan_writes(
    config: Config,
    store: Store,
    report: Report,
    sources: Iterable[str],
    registry: Registry = REGISTRY,
) -> list[PlannedWrite]:
    """What to write: only targets whose rendered content changed since the last write."""
    wanted = frozenset(sources)
    targets = [
        target
        for target in report.targets
        if target.item.source in wanted and comments_enabled(config, target.item.source, registry)
    ]
    records = store.writebacks(target_id(target) for target in targets)
    plan = []
    for target in targets:
        body = render_body(report, target, registry)
        digest = content_hash(body)
        record = records.get(target_id(target))
        if record is not None and record.content_hash == digest:
            continue
        plan.append(
            PlannedWrite(
                target=target_id(target),
                source=target.item.source,
                item_key=target.item.key,
                body=body,
                content_hash=digest,
                known_remote_id=record.remote_id if record else None,
            )
        )
    return plan


def render_body(report: Report, target: Target, registry: Registry = REGISTRY) -> str:
    statuses = [report.kr_status(kr_id) for kr_id in target.kr_ids]
    spec = registry.get(target.item.source)
    if spec is None:
        raise KeyError(f"no registered source named {target.item.source!r}")
    return spec.render_comment(target, statuses, report.cycle)


def content_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def target_id(target: Target) -> str:
    return f"{target.item.source}:{target.item.key}"


def comments_enabled(config: Config, source: str, registry: Registry = REGISTRY) -> bool:
    """Whether the source has a renderer and its config asks for managed comments."""
    return source in registry and config.writeback.for_source(source).comment


def comment_targets(
    config: Config, report: Report, source: str, registry: Registry = REGISTRY
) -> int:
    """How many of the report's targets would carry a managed comment in `source`."""
    if not comments_enabled(config, source, registry):
        return 0
    return sum(1 for target in report.targets if target.item.source == source)
