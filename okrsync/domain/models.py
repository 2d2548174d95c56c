"""Plain data the whole pipeline speaks: work items, OKRs, samples and computed status.

Everything here is immutable and free of I/O so the computation can be replayed
for any `now` and tested without a network or a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal


class Bucket(StrEnum):
    """Where an item stands. EXCLUDED items (closed as not planned) count nowhere."""

    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    EXCLUDED = "excluded"


class Health(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    NO_DATA = "no_data"


SHIPPING_WITHOUT_IMPACT = "shipping_without_impact"

WeightMode = Literal["points", "count"]
WritebackTargets = Literal["top_level", "all", "none"]


@dataclass(frozen=True, slots=True)
class ItemRef:
    """Identity of a work item across sources: `key` is unique within `source`."""

    source: str
    key: str

    def __str__(self) -> str:
        return f"{self.source}:{self.key}"


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One epic, story, issue or task as pulled from a source.

    `parent` is the key of the parent item in the same source, or None.
    `bucket` is the source's native reading (statusCategory, open/closed, completed);
    config overrides by status name or label are applied by the domain.
    """

    source: str
    key: str
    title: str
    type: str
    status: str
    bucket: Bucket
    points: float | None
    labels: tuple[str, ...]
    parent: str | None
    updated: datetime
    url: str
    remote_id: str = ""
    # How many children the source says the item has (GitHub sub-issues, Asana
    # subtasks), or None where the source does not say (Jira).
    child_count: int | None = None

    @property
    def ref(self) -> ItemRef:
        return ItemRef(self.source, self.key)

    @property
    def parent_ref(self) -> ItemRef | None:
        return ItemRef(self.source, self.parent) if self.parent else None


@dataclass(frozen=True, slots=True)
class KeyResult:
    id: str
    title: str
    baseline: float
    target: float
    unit: str = ""
    labels: tuple[str, ...] = ()
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class Objective:
    id: str
    title: str
    key_results: tuple[KeyResult, ...]
    owner: str = ""


@dataclass(frozen=True, slots=True)
class Cycle:
    """An OKR cycle; both dates are inclusive and read in UTC."""

    name: str
    start: date
    end: date


@dataclass(frozen=True, slots=True)
class MetricSample:
    kr_id: str
    value: float
    at: datetime


# A label such as `okr:ONB-1`, `kr/ONB-1` or `KR-ONB-1` names the KR after the separator.
DEFAULT_LABEL_PATTERN = r"^(?:okr|kr)[:/-](?P<kr>.+)$"


@dataclass(frozen=True, slots=True)
class Rules:
    """The tunable rules of the computation (docs/design.md, "Rules of the computation")."""

    label_pattern: str = DEFAULT_LABEL_PATTERN
    inherit_from_parent: bool = True
    weight: WeightMode = "points"
    default_points: float = 1.0
    credit: Mapping[Bucket, float] = field(
        default_factory=lambda: {Bucket.TODO: 0.0, Bucket.IN_PROGRESS: 0.0, Bucket.DONE: 1.0}
    )
    status_buckets: Mapping[str, Bucket] = field(default_factory=dict)
    label_buckets: Mapping[str, Bucket] = field(default_factory=dict)
    on_track: float = 0.9
    at_risk: float = 0.6
    divergence: float = 0.4
    writeback_targets: WritebackTargets = "top_level"


@dataclass(frozen=True, slots=True)
class ItemCounts:
    total: int = 0
    done: int = 0
    in_progress: int = 0
    todo: int = 0


@dataclass(frozen=True, slots=True)
class Weights:
    """The weight of a KR's leaves: all of them, and those done.

    `mode` says what a unit of weight is (`mapping.weight`): story points, or one per item.
    With the default credit, delivery progress is `done / total`; in general it is
    Σ credit × weight / `total`.
    """

    done: float = 0.0
    total: float = 0.0
    mode: WeightMode = "points"


@dataclass(frozen=True, slots=True)
class KRStatus:
    kr: KeyResult
    current: float | None
    outcome_progress: float | None
    delivery_progress: float | None
    expected_progress: float
    health: Health
    forecast: float | None
    flags: tuple[str, ...]
    items: ItemCounts
    weight: Weights = Weights()


@dataclass(frozen=True, slots=True)
class ObjectiveStatus:
    objective: Objective
    score: float | None
    health: Health
    key_results: tuple[KRStatus, ...]


@dataclass(frozen=True, slots=True)
class Target:
    """An item that gets a managed comment: its KRs and its own leaf counts."""

    item: WorkItem
    kr_ids: tuple[str, ...]
    leaves: ItemCounts


ProblemKind = Literal["unknown_kr", "kr_label_on_child_only", "cycle_in_parents"]
PROBLEM_KINDS: tuple[ProblemKind, ...] = (
    "unknown_kr",
    "kr_label_on_child_only",
    "cycle_in_parents",
)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something found while mapping that an admin most likely wants to fix.

    Kinds are defined in okrsync/domain/problems.py; problems sort by item, kind, detail.
    """

    item: ItemRef
    kind: ProblemKind
    detail: str

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.item.source, self.item.key, self.kind, self.detail)


@dataclass(frozen=True, slots=True)
class Report:
    cycle: Cycle
    as_of: datetime
    objectives: tuple[ObjectiveStatus, ...]
    unmapped_count: int
    targets: tuple[Target, ...]
    # The unmapped items themselves, sorted by (source, key); `unmapped_count` is their number.
    unmapped: tuple[ItemRef, ...] = ()
    problems: tuple[Problem, ...] = ()

    def kr_status(self, kr_id: str) -> KRStatus:
        for objective in self.objectives:
            for status in objective.key_results:
                if status.kr.id == kr_id:
                    return status
        raise KeyError(kr_id)
