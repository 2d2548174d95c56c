"""Plain data the whole pipeline speaks: work items, OKRs, samples and computed status.

Everything here is immutable and free of I/O so the computation can be replayed
for any `now` and tested without a network or a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
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
# The KR's last check-in this cycle is older than `stale_after` (docs/design.md, "KR kinds").
STALE_METRIC = "stale_metric"

# How a KR's outcome is read (docs/design.md, "KR kinds"):
# auto: from baseline to target; maintain: inside a range; milestone: reached or not;
# delivery: the delivery progress of its mapped work.
KRKind = Literal["auto", "maintain", "milestone", "delivery"]
KR_KINDS: tuple[KRKind, ...] = ("auto", "maintain", "milestone", "delivery")
# An aspirational KR is judged against 0.7 of the expected progress and achieved from 0.7.
Grading = Literal["committed", "aspirational"]
ASPIRATIONAL_SHARE = 0.7
# At the cycle's end: achieved from 1.0 (0.7 aspirational), partial from 0.3, else missed.
Final = Literal["achieved", "partial", "missed"]
PARTIAL_FROM = 0.3
DEFAULT_STALE_AFTER = timedelta(days=14)

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

    @staticmethod
    def from_fields(
        source: str,
        key: str,
        title: str,
        type: str,
        status: str,
        bucket: Bucket,
        points: float | None,
        labels: tuple[str, ...],
        parent: str | None,
        updated: datetime,
        url: str,
        remote_id: str,
        child_count: int | None,
    ) -> WorkItem:
        """`WorkItem(...)` with every field given in order, for reads of many items: the
        same object, made by setting each slot directly instead of through the frozen
        class's `object.__setattr__` per field (about 40% less time per item)."""
        item: WorkItem = _new_object(WorkItem)
        _set_source(item, source)
        _set_key(item, key)
        _set_title(item, title)
        _set_type(item, type)
        _set_status(item, status)
        _set_bucket(item, bucket)
        _set_points(item, points)
        _set_labels(item, labels)
        _set_parent(item, parent)
        _set_updated(item, updated)
        _set_url(item, url)
        _set_remote_id(item, remote_id)
        _set_child_count(item, child_count)
        return item


# The slots' own setters, which a frozen dataclass's __setattr__ does not guard
# (`WorkItem.from_fields`); a field added to WorkItem must be added here too (a test
# compares the two constructions field by field).
_new_object = object.__new__
(
    _set_source,
    _set_key,
    _set_title,
    _set_type,
    _set_status,
    _set_bucket,
    _set_points,
    _set_labels,
    _set_parent,
    _set_updated,
    _set_url,
    _set_remote_id,
    _set_child_count,
) = (getattr(WorkItem, name).__set__ for name in WorkItem.__match_args__)


@dataclass(frozen=True, slots=True)
class ValueRange:
    """A `maintain` KR's band: on target while `minimum <= current <= maximum`."""

    minimum: float
    maximum: float

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.minimum <= value <= self.maximum


@dataclass(frozen=True, slots=True)
class KeyResult:
    """One key result. `baseline`/`target` are required for kind `auto` only; `range` for
    `maintain`. `stale_after` None: the rules' default (`health.stale_after`)."""

    id: str
    title: str
    baseline: float | None
    target: float | None
    unit: str = ""
    labels: tuple[str, ...] = ()
    weight: float = 1.0
    kind: KRKind = "auto"
    grading: Grading = "committed"
    range: ValueRange | None = None
    stale_after: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Objective:
    """An objective; `parent` names the objective it rolls up into (None: a root), and
    `weight` is its share in the parent's score, next to the parent's own KRs.
    `allocation` is the share of in-flight weight its own KRs should get, a percentage
    0-100 (None: no target; see okrsync/domain/allocation.py)."""

    id: str
    title: str
    key_results: tuple[KeyResult, ...]
    owner: str = ""
    parent: str | None = None
    weight: float = 1.0
    allocation: float | None = None


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
    stale_after: timedelta = DEFAULT_STALE_AFTER


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
class Scope:
    """The total weight of a KR's leaves at the cycle start and now.

    `growth` = (weight − start_weight) / start_weight, a fraction like every progress value
    (a story going from 5 to 8 points: 0.6); None when the start is unknown or weighed 0.
    `start_weight` is None when the items at the cycle start were not given.
    """

    start_weight: float | None
    weight: float
    growth: float | None


@dataclass(frozen=True, slots=True)
class DeliveryForecast:
    """When the KR's remaining weight is done, from a Monte Carlo over its weekly done weight:
    the days by which half (`p50`) and 85 % (`p85`) of the runs finished; None where the
    runs did not finish within the horizon (no throughput)."""

    p50: date | None
    p85: date | None
    remaining: float


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
    # The clamped outcome progress: what the objective score and `final` are made of.
    score: float | None = None
    final: Final | None = None
    samples: int = 0
    last_sample_at: datetime | None = None
    metric_error: str | None = None
    scope: Scope | None = None
    delivery_forecast: DeliveryForecast | None = None


@dataclass(frozen=True, slots=True)
class KRSnapshot:
    """One KR's computed status at one cycle's `now`: a row of history (trends, Monte Carlo)."""

    kr_id: str
    at: datetime
    current: float | None
    outcome_progress: float | None
    delivery_progress: float | None
    expected_progress: float
    health: str
    done_weight: float
    total_weight: float


@dataclass(frozen=True, slots=True)
class ObjectiveStatus:
    """An objective's score: its KRs and its children's scores, weighted. `children` are
    the ids of the objectives whose `parent` it is, in config order."""

    objective: Objective
    score: float | None
    health: Health
    key_results: tuple[KRStatus, ...]
    children: tuple[str, ...] = ()


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
    """`objectives` holds every objective, flat and in config order (children too): code that
    walks KRs sees them all; `roots()` and `children_of()` give the tree."""

    cycle: Cycle
    as_of: datetime
    objectives: tuple[ObjectiveStatus, ...]
    unmapped_count: int
    targets: tuple[Target, ...]
    # The unmapped items themselves, sorted by (source, key); `unmapped_count` is their number.
    unmapped: tuple[ItemRef, ...] = ()
    problems: tuple[Problem, ...] = ()

    def roots(self) -> tuple[ObjectiveStatus, ...]:
        """The objectives without a parent (or whose parent is not known), in config order."""
        known = {status.objective.id for status in self.objectives}
        return tuple(
            status
            for status in self.objectives
            if status.objective.parent is None or status.objective.parent not in known
        )

    def objective_status(self, objective_id: str) -> ObjectiveStatus:
        for status in self.objectives:
            if status.objective.id == objective_id:
                return status
        raise KeyError(objective_id)

    def children_of(self, status: ObjectiveStatus) -> tuple[ObjectiveStatus, ...]:
        return tuple(self.objective_status(child) for child in status.children)

    def kr_status(self, kr_id: str) -> KRStatus:
        for objective in self.objectives:
            for status in objective.key_results:
                if status.kr.id == kr_id:
                    return status
        raise KeyError(kr_id)
