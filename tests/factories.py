"""Small builders so each test states only the fields its rule is about.

The one place tests build domain objects by hand: `work_item()` and friends, used by the
domain, render, store and service tests (import it as `from factories import ...`; the
tests directory is on `sys.path` through its conftest.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from okrsync.config import Config, default_model
from okrsync.domain import (
    Bucket,
    Cycle,
    Grading,
    KeyResult,
    KRIndex,
    KRKind,
    MappedItem,
    MappedItems,
    MetricSample,
    Objective,
    Rules,
    ValueRange,
    WorkItem,
    map_items,
)

Q4 = Cycle("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
UPDATED = datetime(2026, 10, 1, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def work_item(
    key: str,
    *,
    labels: Iterable[str] = (),
    parent: str | None = None,
    bucket: Bucket = Bucket.TODO,
    points: float | None = None,
    status: str = "",
    source: str = "jira",
    updated: datetime = UPDATED,
    title: str | None = None,
    remote_id: str = "",
    child_count: int | None = None,
) -> WorkItem:
    return WorkItem(
        source=source,
        key=key,
        title=f"Item {key}" if title is None else title,
        type="Story",
        status=status or bucket.value,
        bucket=bucket,
        points=points,
        labels=tuple(labels),
        parent=parent,
        updated=updated,
        url=f"https://example.test/{source}/{key}",
        remote_id=remote_id,
        child_count=child_count,
    )


def key_result(
    kr_id: str,
    *,
    baseline: float | None = 0.0,
    target: float | None = 100.0,
    labels: Iterable[str] = (),
    weight: float = 1.0,
    kind: KRKind = "auto",
    grading: Grading = "committed",
    range: ValueRange | None = None,
    stale_after: timedelta | None = None,
) -> KeyResult:
    return KeyResult(
        id=kr_id,
        title=f"KR {kr_id}",
        baseline=baseline,
        target=target,
        labels=tuple(labels),
        weight=weight,
        kind=kind,
        grading=grading,
        range=range,
        stale_after=stale_after,
    )


def objective(
    objective_id: str, *key_results: KeyResult, parent: str | None = None, weight: float = 1.0
) -> Objective:
    return Objective(
        id=objective_id,
        title=f"Objective {objective_id}",
        key_results=key_results,
        parent=parent,
        weight=weight,
    )


def sample(kr_id: str, value: float, at: datetime) -> MetricSample:
    return MetricSample(kr_id=kr_id, value=value, at=at)


def mapped(
    items: Iterable[WorkItem], objectives: Iterable[Objective], rules: Rules | None = None
) -> MappedItems:
    return map_items(items, KRIndex.from_objectives(objectives), rules or Rules())


def leaf(bucket: Bucket, points: float | None = None, key: str = "L") -> MappedItem:
    """A leaf as delivery progress sees it: only bucket and points matter."""
    item = work_item(key, bucket=bucket, points=points)
    return MappedItem(item, bucket, None, frozenset({"KR"}), frozenset({"KR"}))


def make_config(tmp_path: Path, **extra: object) -> Config:
    """A valid config: one Jira source, one objective with ONB-1; `extra` replaces keys."""
    raw: dict[str, object] = {
        "version": 1,
        "cycle": {"name": "Q4", "start": "2026-10-01", "end": "2026-12-31"},
        "store": {"url": f"sqlite:///{tmp_path / 'okrsync.db'}"},
        "sources": {"jira": {"url": "https://acme.atlassian.net", "jql": "project = ONB"}},
        "objectives": [
            {
                "id": "ONB",
                "title": "Onboarding",
                "key_results": [
                    {"id": "ONB-1", "title": "Completion 68 to 85", "baseline": 68, "target": 85}
                ],
            }
        ],
    }
    raw.update(extra)
    return default_model().model_validate(raw)


class Reads(dict[str, Any]):
    """A record that notes every key read from it, as dotted paths from the top."""

    def __init__(self, data: dict[str, Any], seen: set[str], prefix: str = "") -> None:
        super().__init__(data)
        self.seen, self.prefix = seen, prefix

    def _note(self, key: str, value: Any) -> Any:
        path = f"{self.prefix}{key}"
        self.seen.add(path)
        if isinstance(value, dict):
            return Reads(value, self.seen, f"{path}.")
        if isinstance(value, list):
            return [Reads(v, self.seen, f"{path}.") if isinstance(v, dict) else v for v in value]
        return value

    def __getitem__(self, key: str) -> Any:
        return self._note(key, super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        self.seen.add(f"{self.prefix}{key}")
        return default
