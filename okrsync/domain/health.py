"""Health judgements and flags derived from progress numbers."""

from __future__ import annotations

from datetime import datetime

from okrsync.domain.models import (
    ASPIRATIONAL_SHARE,
    PARTIAL_FROM,
    SHIPPING_WITHOUT_IMPACT,
    STALE_METRIC,
    Cycle,
    Final,
    Health,
    KeyResult,
    Rules,
)
from okrsync.domain.progress import cycle_bounds, milestone_reached

# Thresholds are written as decimals (0.4, 0.9 × 0.55) that binary floats cannot
# represent exactly; 0.7 - 0.3 is 0.39999999999999997. Values this close to a
# threshold count as reaching it, so results match the hand-computed numbers.
EPSILON = 1e-9


def reaches(value: float, threshold: float) -> bool:
    """value ≥ threshold, forgiving float rounding error."""
    return value >= threshold - EPSILON


def clamp01(value: float) -> float:
    return min(1.0, max(0.0, value))


def health_for(progress: float | None, expected: float, rules: Rules) -> Health:
    """Compare progress with where the cycle says it should be by now.

    For KRs pass the unclamped outcome progress, so overshooting the target and
    moving away from it are both judged on the real number.
    """
    if progress is None:
        return Health.NO_DATA
    if reaches(progress, rules.on_track * expected):
        return Health.ON_TRACK
    if reaches(progress, rules.at_risk * expected):
        return Health.AT_RISK
    return Health.OFF_TRACK


def judged_expected(kr: KeyResult, expected: float) -> float:
    """The expected progress a KR is judged against: 0.7 of it for an aspirational KR."""
    return expected * ASPIRATIONAL_SHARE if kr.grading == "aspirational" else expected


def kr_health(
    kr: KeyResult,
    outcome: float | None,
    delivery: float | None,
    expected: float,
    rules: Rules,
    *,
    ended: bool = False,
) -> Health:
    """A KR's health by its kind (docs/design.md, "KR kinds").

    `maintain`: on track inside the range, off track outside. `milestone` not reached yet:
    its mapped work's delivery progress against the expected progress when it has any, else
    at risk until the cycle ends and off track after. Otherwise (auto, delivery, a reached
    milestone) the outcome against the (aspirational: 0.7 of the) expected progress.
    """
    if outcome is None:
        return Health.NO_DATA
    if kr.kind == "maintain":
        return Health.ON_TRACK if outcome >= 1.0 else Health.OFF_TRACK
    judged = judged_expected(kr, expected)
    if kr.kind == "milestone" and outcome < 1.0:
        if delivery is not None:
            return health_for(delivery, judged, rules)
        return Health.OFF_TRACK if ended else Health.AT_RISK
    return health_for(outcome, judged, rules)


def final_for(kr: KeyResult, score: float | None) -> Final:
    """How a KR ended: achieved from a score of 1.0 (0.7 aspirational), partial from 0.3,
    else missed; a KR that never had data ended missed."""
    if score is None:
        return "missed"
    if reaches(score, ASPIRATIONAL_SHARE if kr.grading == "aspirational" else 1.0):
        return "achieved"
    return "partial" if reaches(score, PARTIAL_FROM) else "missed"


def stale_metric(
    kr: KeyResult,
    current: float | None,
    last_sample_at: datetime | None,
    cycle: Cycle,
    now: datetime,
    rules: Rules,
) -> bool:
    """The KR's last check-in this cycle is older than `stale_after` (the KR's, else
    `rules.stale_after`), read at `now` or the cycle's end, whichever is first.

    Never without a check-in this cycle (health `no_data` says that already), for a
    `delivery` KR (no metric) nor for a reached milestone.
    """
    if last_sample_at is None or kr.kind == "delivery":
        return False
    if kr.kind == "milestone" and milestone_reached(current):
        return False
    _, end = cycle_bounds(cycle)
    limit = kr.stale_after if kr.stale_after is not None else rules.stale_after
    return min(now, end) - last_sample_at > limit


def shipping_without_impact(delivery: float | None, outcome: float | None, rules: Rules) -> bool:
    """The work ships but the metric does not move: delivery runs ahead of outcome."""
    if delivery is None or outcome is None:
        return False
    return reaches(delivery - clamp01(outcome), rules.divergence)


def flags_for(
    delivery: float | None, outcome: float | None, rules: Rules, *, stale: bool = False
) -> tuple[str, ...]:
    """All flags for one KR, in a fixed order."""
    flags: list[str] = []
    if shipping_without_impact(delivery, outcome, rules):
        flags.append(SHIPPING_WITHOUT_IMPACT)
    if stale:
        flags.append(STALE_METRIC)
    return tuple(flags)
