"""Health judgements and flags derived from progress numbers."""

from __future__ import annotations

from okrsync.domain.models import SHIPPING_WITHOUT_IMPACT, Health, Rules

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


def shipping_without_impact(delivery: float | None, outcome: float | None, rules: Rules) -> bool:
    """The work ships but the metric does not move: delivery runs ahead of outcome."""
    if delivery is None or outcome is None:
        return False
    return reaches(delivery - clamp01(outcome), rules.divergence)


def flags_for(delivery: float | None, outcome: float | None, rules: Rules) -> tuple[str, ...]:
    """All flags for one KR, in a fixed order."""
    flags: list[str] = []
    if shipping_without_impact(delivery, outcome, rules):
        flags.append(SHIPPING_WITHOUT_IMPACT)
    return tuple(flags)
