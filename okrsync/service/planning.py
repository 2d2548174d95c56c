"""What a cycle would write: typed operations on each target, each only when its value changed.

Per target, in this order: the managed comment (`SetComment`), each configured field
(`SetField`, `writeback.<source>.fields`: Jira and Asana alike, one piece of planning),
the `okrsync.status` property (`SetProperty`, `writeback.<source>.property`) and the
health label (`SetLabels`, `writeback.<source>.labels`: GitHub's `okr-health:*`). Each
has an operation key and the hash of its value; planning keeps those whose hash differs
from the store's record for (target, operation key) — see `okrsync.sources.record_key` —
so an unchanged cycle plans nothing.

Planning reads the report, the write-back records and the registry's renderers; it
writes nothing. `run_cycle` applies the plan it returns.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace

from okrsync.config import Config, WritebackValue
from okrsync.domain import Health, KRStatus, Report, Target, WorkItem
from okrsync.registry import REGISTRY, Registry
from okrsync.render._numbers import HEALTH_WORDS
from okrsync.render.jira import render_kr_issue_description
from okrsync.sources import (
    HEALTH_LABEL_PREFIX,
    KR_TARGET_PREFIX,
    RETIRED,
    Operation,
    PlannedWrite,
    RetireTarget,
    SetComment,
    SetField,
    SetKRIssue,
    SetKRLinks,
    SetLabels,
    SetProperty,
)
from okrsync.sources.jira_config import SOURCE as KR_ISSUE_SOURCE
from okrsync.sources.jira_config import JiraWritebackConfig, KRIssuesConfig
from okrsync.store import Store, WritebackRecord

STATUS_PROPERTY = "okrsync.status"
_OP_SUFFIX = re.compile(r"#(field:.+|property:.+|labels|links)$")
# Worst first: the health a target's field shows is the worst of its KRs'. No data ranks
# above on track: a KR nobody measured does not let its item look fine.
_HEALTH_RANK = {Health.OFF_TRACK: 3, Health.AT_RISK: 2, Health.NO_DATA: 1, Health.ON_TRACK: 0}


def plan_writes(
    config: Config,
    store: Store,
    report: Report,
    sources: Iterable[str],
    registry: Registry = REGISTRY,
) -> list[Operation]:
    """What to write: per target, the operations whose value changed since the last write."""
    wanted = frozenset(sources)
    candidates = [
        operation
        for target in report.targets
        if target.item.source in wanted and target.item.source in registry
        for operation in target_operations(config, report, target, registry)
    ]
    records = store.writebacks(operation.record_key for operation in candidates)
    plan: list[Operation] = []
    for operation in candidates:
        record = records.get(operation.record_key)
        if record is not None and record.content_hash == operation.content_hash:
            continue
        plan.append(_with_record(operation, record))
    return plan + plan_kr_issues(config, store, report, wanted, registry)


def target_operations(
    config: Config, report: Report, target: Target, registry: Registry = REGISTRY
) -> Iterator[Operation]:
    """Every operation the config asks for on `target`, with its value's hash (records not
    consulted: `known_remote_id` and `previous` are empty)."""
    source = target.item.source
    settings = config.writeback.for_source(source)
    statuses = [report.kr_status(kr_id) for kr_id in target.kr_ids]
    if comments_enabled(config, source, registry):
        body = render_body(report, target, registry, settings.comment_options())
        yield SetComment(target_id(target), source, target.item.key, body, content_hash(body), None)
    yield from field_operations(settings.field_values(), target, statuses)
    if settings.status_property():
        status = status_value(target, statuses)
        text = json.dumps({**status, "as_of": report.as_of.isoformat()}, sort_keys=True)
        # The hash leaves `as_of` out: a cycle whose numbers did not move writes nothing.
        digest = content_hash(json.dumps(status, sort_keys=True))
        yield SetProperty(target_id(target), source, target.item.key, STATUS_PROPERTY, text, digest)
    if settings.health_labels():
        yield label_operation(target, statuses)


def field_operations(
    fields: Mapping[str, WritebackValue], target: Target, statuses: list[KRStatus]
) -> Iterator[SetField]:
    """One `SetField` per configured field (any source: the connector shapes the value),
    hashed on what it holds and its value."""
    where = (target_id(target), target.item.source, target.item.key)
    for name, holds in fields.items():
        value, display = field_value(holds, target, statuses)
        digest = content_hash(json.dumps({"holds": holds, "value": value}))
        yield SetField(*where, name, holds, value, display, digest)


def label_operation(target: Target, statuses: list[KRStatus]) -> SetLabels:
    """The target's one health label (`okr-health:at-risk`), hashed on that label alone:
    it is written again only when the health changes. The item's other `okr-health:*`
    labels (as pulled) are to be taken off; its other labels are never touched."""
    wanted = health_label(worst_health(statuses))
    present = tuple(
        label for label in target.item.labels if label.lower().startswith(HEALTH_LABEL_PREFIX)
    )
    remove = tuple(label for label in present if label.lower() != wanted)
    digest = content_hash(json.dumps({"labels": [wanted]}))
    where = (target_id(target), target.item.source, target.item.key)
    return SetLabels(*where, (wanted,), remove, digest, present=present)


def health_label(health: Health) -> str:
    """`okr-health:on-track`, `okr-health:at-risk`, `okr-health:off-track`, `okr-health:no-data`."""
    return HEALTH_LABEL_PREFIX + health.value.replace("_", "-")


def _with_record(operation: Operation, record: WritebackRecord | None) -> Operation:
    if record is None:
        return operation
    if isinstance(operation, SetComment):
        # A retired target's record keeps its note's id, or none when it was deleted.
        return replace(operation, known_remote_id=record.remote_id or None)
    if isinstance(operation, SetField):
        # A field's record keeps the display text of the value last written (remote_id).
        return replace(operation, previous=record.remote_id)
    if isinstance(operation, SetProperty):
        return replace(operation, written_before=True)
    return operation


# ------------------------------------------------------------------------------ values


def worst_health(statuses: Iterable[KRStatus]) -> Health:
    return max((s.health for s in statuses), key=_HEALTH_RANK.__getitem__, default=Health.NO_DATA)


def lowest_outcome(statuses: Iterable[KRStatus]) -> float | None:
    return min(
        (s.outcome_progress for s in statuses if s.outcome_progress is not None), default=None
    )


def own_delivery(target: Target) -> float | None:
    """The target's own delivery: the share of its work items done (None: it has none)."""
    counts = target.leaves
    return counts.done / counts.total if counts.total else None


def field_value(
    holds: WritebackValue, target: Target, statuses: list[KRStatus]
) -> tuple[str | float | None, str]:
    """(value, display) of one field: the health word, a percent 0-100 rounded to one
    decimal (None when there is no data), or the KR ids comma-separated."""
    if holds == "health":
        word = HEALTH_WORDS[worst_health(statuses)]
        return word, word
    if holds == "key_results":
        text = ", ".join(target.kr_ids)
        return text, text
    share = lowest_outcome(statuses) if holds == "outcome" else own_delivery(target)
    if share is None:
        return None, "no data"
    percent = round(share * 100, 1)
    return percent, f"{percent:g}%"


def status_value(target: Target, statuses: list[KRStatus]) -> dict[str, object]:
    """The `okrsync.status` property without its `as_of`: KR ids, worst health (its
    machine name), lowest outcome and own delivery as shares 0-1 (4 decimals) or null."""
    outcome, delivery = lowest_outcome(statuses), own_delivery(target)
    return {
        "krs": list(target.kr_ids),
        "health": worst_health(statuses).value,
        "outcome": None if outcome is None else round(outcome, 4),
        "delivery": None if delivery is None else round(delivery, 4),
    }


# ------------------------------------------------------------------------------ comments


def render_body(
    report: Report,
    target: Target,
    registry: Registry = REGISTRY,
    options: Mapping[str, str] | None = None,
) -> str:
    """The managed comment's body; `options` are the source's `comment_options()`."""
    statuses = [report.kr_status(kr_id) for kr_id in target.kr_ids]
    spec = registry.get(target.item.source)
    if spec is None:
        raise KeyError(f"no registered source named {target.item.source!r}")
    body: str = spec.render_comment(target, statuses, report.cycle, **(options or {}))
    return body


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


def comment_writes(plan: Iterable[Operation]) -> list[PlannedWrite]:
    """The plan's managed comments alone."""
    return [operation for operation in plan if isinstance(operation, SetComment)]


def plan_lines(plan: Iterable[Operation]) -> list[str]:
    """The plan as `sync --dry-run` prints it, one line an operation, grouped by target:
    `ONB-12  set field "OKR Health" = At risk (was On track)`."""
    groups: dict[str, list[Operation]] = {}
    for operation in plan:
        groups.setdefault(operation.target, []).append(operation)
    return [
        f"{operation.item_key}  {describe(operation)}"
        for operations in groups.values()
        for operation in operations
    ]


def describe(operation: Operation) -> str:
    if isinstance(operation, RetireTarget):
        return describe_retirement(operation)
    if isinstance(operation, SetComment):
        return f"set comment ({'edit' if operation.known_remote_id else 'create or adopt'})"
    if isinstance(operation, SetField):
        was = "new" if operation.previous is None else f"was {operation.previous}"
        return f'set field "{operation.name}" = {operation.display} ({was})'
    if isinstance(operation, SetProperty):
        return f"set property {operation.key} ({'update' if operation.written_before else 'new'})"
    if isinstance(operation, SetKRIssue | SetKRLinks):
        return describe_kr_issue(operation)
    removed = f", remove {', '.join(operation.remove)}" if operation.remove else ""
    return f"set labels {', '.join(operation.labels) or '(none)'}{removed}"


# ------------------------------------------------------------------------------ unmapped


def plan_retirements(
    config: Config, store: Store, report: Report, sources: Iterable[str]
) -> list[RetireTarget]:
    """One `RetireTarget` per target of `sources` that okrsync wrote to (it has live
    write-back records) but that is no longer a target of the report: its item maps to
    no KR any more, is a child of a mapped item now, or is gone. One store query per
    source; a target whose records are all retired plans nothing."""
    current = {target_id(target) for target in report.targets}
    plan: list[RetireTarget] = []
    for source in sorted(frozenset(sources)):
        groups: dict[str, list[WritebackRecord]] = {}
        for record in store.writebacks_of(source):
            groups.setdefault(split_record_key(record.target)[0], []).append(record)
        for target, records in sorted(groups.items()):
            live = [record for record in records if record.content_hash != RETIRED]
            if target in current or not live or target.startswith(f"{source}:kr:"):
                continue  # a KR's own issue (`kr:<id>`) is no item target: never retired
            plan.append(_retirement(config, source, target, live))
    return plan


def _retirement(
    config: Config, source: str, target: str, live: list[WritebackRecord]
) -> RetireTarget:
    comment_id: str | None = None
    fields: list[str] = []
    properties: list[str] = []
    labels: list[str] = []
    for record in live:
        op_key = split_record_key(record.target)[1]
        kind, _, name = op_key.partition(":")
        if not op_key:
            comment_id = record.remote_id or None
        elif kind == "field":
            fields.append(name)
        elif kind == "property":
            properties.append(name)
        elif kind == "labels":
            labels.extend(label.strip() for label in record.remote_id.split(",") if label.strip())
    return RetireTarget(
        target,
        source,
        target.partition(":")[2],
        config.writeback.unmapped,
        comment_id,
        tuple(sorted(fields)),
        tuple(sorted(properties)),
        tuple(labels),
        tuple(sorted(record.target for record in live)),
    )


def split_record_key(key: str) -> tuple[str, str]:
    """(target, operation key) of a record key: "" for the comment's (the plain target).
    A target may hold "#" itself (GitHub's `owner/repo#12`): the operation key is the
    first `#field:...`, `#property:...` or `#labels` reaching the end."""
    found = _OP_SUFFIX.search(key)
    if found is None:
        return key, ""
    return key[: found.start()], found.group(1)


def describe_retirement(operation: RetireTarget) -> str:
    """`retire (no longer linked): note comment, clear 2 fields, delete property`."""
    parts = []
    if operation.comment_id is not None:
        parts.append("note comment" if operation.mode == "note" else "delete comment")
    if operation.fields:
        count = len(operation.fields)
        parts.append(f"clear {count} field{'s' if count != 1 else ''}")
    if operation.labels:
        parts.append(
            f"remove label{'s' if len(operation.labels) != 1 else ''} "
            + ", ".join(operation.labels)
        )
    if operation.properties:
        parts.append(f"delete propert{'ies' if len(operation.properties) != 1 else 'y'}")
    return f"retire (no longer linked): {', '.join(parts) or 'forget records'}"


# ------------------------------------------------------------------------------ KR issues
#
# `writeback.jira.kr_issues`: one Jira issue per KR of the config, under the target
# `kr:<KR id>` (its record keeps the issue's key): `SetKRIssue` (summary and description:
# the KR's top-level mapped work per source), the configured fields (the KR's own
# health, outcome, delivery), `SetKRLinks` (to its mapped Jira items). Each is planned
# only when its hash differs from its record, so an unchanged cycle plans nothing.

SUMMARY_LIMIT = 255  # Jira's longest summary


def kr_issues_config(config: Config) -> KRIssuesConfig | None:
    """`writeback.jira.kr_issues`, or None when KR issues are off."""
    settings = config.writeback.for_source(KR_ISSUE_SOURCE)
    return settings.kr_issues if isinstance(settings, JiraWritebackConfig) else None


def is_kr_issue(config: Config, item: WorkItem) -> bool:
    """Whether a pulled item is one of okrsync's KR issues (never work: see pipeline)."""
    kr_issues = kr_issues_config(config)
    return kr_issues is not None and kr_issues.is_kr_issue(item)


def work_filter(config: Config) -> Callable[[WorkItem], bool] | None:
    """`not is_kr_issue(config, item)` with the settings read once, for the pulled items
    (every one of a full pull); None when KR issues are off: every item is work."""
    kr_issues = kr_issues_config(config)
    if kr_issues is None:
        return None
    is_kr = kr_issues.is_kr_issue
    return lambda item: not is_kr(item)


def plan_kr_issues(
    config: Config,
    store: Store,
    report: Report,
    sources: Iterable[str],
    registry: Registry = REGISTRY,
) -> list[Operation]:
    """The KR issues' operations whose value changed since the last write (none unless
    `writeback.jira.kr_issues` is set and Jira is among `sources`)."""
    kr_issues = kr_issues_config(config)
    if kr_issues is None or KR_ISSUE_SOURCE not in frozenset(sources):
        return []
    if KR_ISSUE_SOURCE not in registry:
        return []
    settings = config.writeback.for_source(KR_ISSUE_SOURCE)
    comment_format = settings.comment_options().get("comment_format", "auto")
    work = kr_work(report)
    candidates = [
        operation
        for objective in report.objectives
        for status in objective.key_results
        for operation in kr_issue_operations(
            kr_issues, settings.field_values(), status, work.get(status.kr.id, []), comment_format
        )
    ]
    records = store.writebacks(operation.record_key for operation in candidates)
    plan: list[Operation] = []
    for operation in candidates:
        record = records.get(operation.record_key)
        issue = records.get(operation.target)
        key = issue.remote_id if issue is not None else ""
        if isinstance(operation, SetKRIssue):
            if record is not None and record.content_hash == operation.content_hash and key:
                continue
            plan.append(replace(operation, item_key=key))
            continue
        if record is not None and record.content_hash == operation.content_hash:
            continue
        if isinstance(operation, SetField):
            previous = None if record is None else record.remote_id
            plan.append(replace(operation, item_key=key, previous=previous))
        elif isinstance(operation, SetKRLinks):
            before = () if record is None else tuple(k for k in record.remote_id.split(",") if k)
            plan.append(replace(operation, item_key=key, previous=before))
    return plan


def kr_work(report: Report) -> dict[str, list[WorkItem]]:
    """Per KR id, its top-level mapped items: the report's targets carrying it whose
    parent is not a target carrying it too (with `writeback.targets: all`, children)."""
    carrying = {(t.item.source, t.item.key, kr_id) for t in report.targets for kr_id in t.kr_ids}
    work: dict[str, list[WorkItem]] = {}
    for target in report.targets:
        for kr_id in target.kr_ids:
            parent = target.item.parent
            if parent is not None and (target.item.source, parent, kr_id) in carrying:
                continue
            work.setdefault(kr_id, []).append(target.item)
    return work


def kr_issue_operations(
    kr_issues: KRIssuesConfig,
    fields: Mapping[str, WritebackValue],
    status: KRStatus,
    work: list[WorkItem],
    comment_format: str = "auto",
) -> Iterator[SetKRIssue | SetField | SetKRLinks]:
    """One KR's issue, fields and links, hashed (records not consulted: no key yet)."""
    kr = status.kr
    target = f"{KR_TARGET_PREFIX}{kr.id}"
    summary = " ".join(f"{kr.id}: {kr.title}".split())[:SUMMARY_LIMIT]
    description = render_kr_issue_description(kr.id, work, comment_format)
    identity = {
        "project": kr_issues.project,
        "issue_type": kr_issues.issue_type,
        "summary": summary,
        "description": description,
    }
    digest = content_hash(json.dumps(identity, sort_keys=True))
    yield SetKRIssue(
        target,
        KR_ISSUE_SOURCE,
        "",
        kr.id,
        kr_issues.project,
        kr_issues.issue_type,
        summary,
        description,
        digest,
    )
    for name, holds in fields.items():
        value, display = kr_field_value(holds, status)
        field_digest = content_hash(json.dumps({"holds": holds, "value": value}))
        yield SetField(target, KR_ISSUE_SOURCE, "", name, holds, value, display, field_digest)
    links = tuple(sorted({item.key for item in work if item.source == KR_ISSUE_SOURCE}))
    links_digest = content_hash(json.dumps({"type": kr_issues.link_type, "links": list(links)}))
    yield SetKRLinks(target, KR_ISSUE_SOURCE, "", kr.id, kr_issues.link_type, links, links_digest)


def kr_field_value(holds: WritebackValue, status: KRStatus) -> tuple[str | float | None, str]:
    """(value, display) of a field on a KR's own issue: its health word, its outcome or
    delivery progress as a percent 0-100 (one decimal; None without data), its id."""
    if holds == "health":
        word = HEALTH_WORDS[status.health]
        return word, word
    if holds == "key_results":
        return status.kr.id, status.kr.id
    share = status.outcome_progress if holds == "outcome" else status.delivery_progress
    if share is None:
        return None, "no data"
    percent = round(share * 100, 1)
    return percent, f"{percent:g}%"


def describe_kr_issue(operation: SetKRIssue | SetKRLinks) -> str:
    """`KR issue ONB-1 (find or create)`, `link KR issue to APP-1, APP-7 (unlink APP-3)`."""
    if isinstance(operation, SetKRIssue):
        how = "update" if operation.item_key else "find or create"
        return f"KR issue {operation.kr_id} ({how}): {operation.summary}"
    stale = sorted(set(operation.previous) - set(operation.links))
    unlink = f" (unlink {', '.join(stale)})" if stale else ""
    return f"link KR issue {operation.kr_id} to {', '.join(operation.links) or '(none)'}{unlink}"
