"""`okrsync explain ITEM`: why one item counts where it counts, from the store and the config.

The reasoning is the domain's (`okrsync.domain.explain_item`); this module finds the
item in the store, adds what okrsync last wrote there and the KRs' current numbers,
and prints it as text or as the JSON of docs/design.md ("Mapping an admin can see
through"). The store keeps only each item's latest state, so the answer is about the
item as last pulled, whatever `now` is; `now` only dates the KR numbers shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from okrsync.config import Config
from okrsync.domain import (
    Explanation,
    ItemCounts,
    KRReason,
    KRStatus,
    Report,
    Target,
    WorkItem,
    compute_report,
    explain_item,
    resolve_item,
)
from okrsync.render._numbers import percent, plain_number
from okrsync.render.status import weight_text
from okrsync.service.planning import target_id
from okrsync.store import Store, WritebackRecord


class UnknownItem(LookupError):
    """No stored item, or more than one, answers to the ITEM given: `str()` says which."""


@dataclass(frozen=True, slots=True)
class ItemExplanation:
    explanation: Explanation
    writeback: WritebackRecord | None
    report: Report

    @property
    def target_id(self) -> str:
        return item_target_id(self.explanation.item)


def item_target_id(item: WorkItem) -> str:
    """The write-back record's id for an item, as planning spells it."""
    return target_id(Target(item=item, kr_ids=(), leaves=ItemCounts()))


def find_item(text: str, items: list[WorkItem]) -> WorkItem:
    found = resolve_item(text, items)
    if not found:
        raise UnknownItem(
            f"okrsync: no item {text!r} in the store (try source:key, e.g. jira:ONB-12)"
        )
    if len(found) > 1:
        candidates = ", ".join(str(item.ref) for item in found)
        raise UnknownItem(f"okrsync: {text!r} is ambiguous: {candidates}; name one as source:key")
    return found[0]


def explain(config: Config, store: Store, text: str, now: datetime) -> ItemExplanation:
    """Explain the item `text` names. Raises UnknownItem when none or several match."""
    items = store.items()
    item = find_item(text, items)
    objectives, rules = config.domain_objectives(), config.rules()
    explanation = explain_item(item, items, objectives, rules)
    report = compute_report(config.domain_cycle(), objectives, items, store.samples(), rules, now)
    return ItemExplanation(explanation, store.writeback(item_target_id(item)), report)


# --------------------------------------------------------------------------- JSON


def explanation_to_json(result: ItemExplanation) -> dict[str, Any]:
    """`{"item", "krs", "bucket", "bucket_from", "weight", "target", "writeback"}`."""
    explained = result.explanation
    return {
        "item": str(explained.item.ref),
        "krs": [_reason_json(reason) for reason in explained.krs],
        "bucket": explained.bucket.bucket.value,
        "bucket_from": {"rule": explained.bucket.rule, "value": explained.bucket.value},
        "weight": None
        if explained.weight is None
        else {
            "value": plain_number(explained.weight),
            "from": explained.weight_from,
            "counts_toward": list(explained.counts_toward),
        },
        "target": explained.target,
        "writeback": _writeback_json(result.writeback),
    }


def _reason_json(reason: KRReason) -> dict[str, Any]:
    origin = str(reason.inherited_from) if reason.inherited_from is not None else reason.rule
    return {"id": reason.kr_id, "via": reason.via, "label": reason.label, "from": origin}


def _writeback_json(record: WritebackRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "target": record.target,
        "content_hash": record.content_hash,
        "remote_id": record.remote_id,
        "written_at": _instant(record.written_at),
    }


def _instant(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def reason_text(reason: KRReason) -> str:
    """`label okr:ONB-1 (label_pattern)`, `label onboarding-completion (ONB-1 labels)`, or
    `inherited from jira:ONB-10 (label okr:ONB-1, label_pattern)`."""
    rule = "label_pattern" if reason.rule == "label_pattern" else f"{reason.kr_id} labels"
    label = _one_line(reason.label)
    if reason.inherited_from is None:
        return f"label {label} ({rule})"
    through = f" through {', '.join(map(str, reason.through))}" if reason.through else ""
    return f"inherited from {reason.inherited_from}{through} (label {label}, {rule})"


def _bucket_text(explained: Explanation) -> str:
    decision = explained.bucket
    if decision.rule == "source":
        return f'{decision.bucket.value} (the source\'s reading of status "{decision.value}")'
    return f'{decision.bucket.value} ({decision.rule} entry "{decision.value}")'


def _weight_text(explained: Explanation) -> str:
    if explained.weight is None:
        return "none: excluded items count nowhere"
    origin = {
        "points": "the item's points",
        "default_points": "default_points: the item has no points",
        "count": "weight: count, one per item",
    }[explained.weight_from or "count"]
    return f"{plain_number(explained.weight)} ({origin})"


def _kr_numbers(status: KRStatus) -> str:
    return (
        f"delivery {percent(status.delivery_progress)}, {weight_text(status.weight)}, "
        f"{status.items.done}/{status.items.total} items done"
    )


def explanation_text(result: ItemExplanation) -> list[str]:
    explained = result.explanation
    item = explained.item
    lines = [f"{item.ref}  {_one_line(item.title)}", f"  url: {item.url}"]
    if explained.parent is not None:
        lines.append(f"  parent: {explained.parent}")
    if explained.excluded:
        would = ", ".join(explained.excluded_krs)
        lines.append(
            "  KRs: none: excluded items count nowhere"
            + (f" (its labels name {would})" if would else "")
        )
    elif not explained.krs:
        lines.append("  KRs: none: unmapped (no label names a configured KR, none inherited)")
    else:
        lines.append("  KRs:")
        for reason in explained.krs:
            role = "counts itself" if reason.leaf else "rolled up from its children"
            lines.append(f"    {reason.kr_id}  {reason_text(reason)}; {role}")
            lines.append(f"      {reason.kr_id} as of the report: {_kr_status(result, reason)}")
    lines.append(f"  bucket: {_bucket_text(explained)}")
    lines.append(f"  weight: {_weight_text(explained)}")
    answer = "yes" if explained.target else "no"
    lines.append(f"  write-back target: {answer}: {explained.target_reason}")
    record = result.writeback
    if record is None:
        lines.append(f"  last written: nothing recorded for {result.target_id}")
    else:
        lines.append(
            f"  last written: {_instant(record.written_at)}, comment {record.remote_id or '?'}, "
            f"content sha256 {record.content_hash[:12]}"
        )
    for problem in explained.problems:
        lines.append(f"  problem: {problem.kind}: {problem.detail}")
    return lines


def _kr_status(result: ItemExplanation, reason: KRReason) -> str:
    try:
        return _kr_numbers(result.report.kr_status(reason.kr_id))
    except KeyError:
        return "not in the report"
