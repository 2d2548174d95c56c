"""What a managed comment says, as plain text: each target markup only formats and escapes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from okrsync.domain import (
    SHIPPING_WITHOUT_IMPACT,
    STALE_METRIC,
    Cycle,
    Final,
    Health,
    KRStatus,
    Target,
)
from okrsync.render._numbers import FINAL_WORDS, HEALTH_WORDS, metric, percent

HEADING = "OKR status"
COLUMNS = (
    "Key result",
    "Outcome",
    "Delivery",
    "Expected by now",
    "Health",
    "Forecast at cycle end",
)
FOOTER_NOTE = "Kept up to date by okrsync; edits to this comment are overwritten."
# What the columns mean, said once under the table: a reader of one issue should not take
# the KR's numbers for the issue's own.
EXPLANATION = (
    "Outcome and delivery are each key result's, across every system it is tracked in; "
    "expected by now is the share of the target the metric should have reached, given "
    "the time elapsed in the cycle."
)


@dataclass(frozen=True)
class KRLine:
    kr_id: str
    title: str
    outcome: str
    delivery: str
    expected: str
    health: Health
    forecast: str
    final: Final | None = None

    @property
    def health_word(self) -> str:
        """The health, or once the cycle ended the KR's final verdict: `Achieved (final)`."""
        if self.final is not None:
            return f"{FINAL_WORDS[self.final]} (final)"
        return HEALTH_WORDS[self.health]


@dataclass(frozen=True)
class CommentContent:
    lines: tuple[KRLine, ...]
    summary: str
    warnings: tuple[str, ...]
    cycle: str
    explanation: str = EXPLANATION


def comment_content(
    target: Target, statuses: list[KRStatus], cycle: Cycle, item: str = "issue"
) -> CommentContent:
    """Deterministic for the same numbers: no clock in it, so the content hash is stable.
    `item` is what the system calls the target ("issue", Asana's "task")."""
    counts = target.leaves
    return CommentContent(
        lines=tuple(_kr_line(status) for status in statuses),
        summary=(
            f"This {item}'s own part: {counts.done} of {counts.total} work items done, "
            f"{counts.in_progress} in progress, {counts.todo} to do."
        ),
        warnings=tuple(
            _shipping_warning(status)
            for status in statuses
            if SHIPPING_WITHOUT_IMPACT in status.flags
        )
        + tuple(_stale_warning(status) for status in statuses if STALE_METRIC in status.flags),
        cycle=f"Cycle {cycle.name}, {cycle.start} to {cycle.end}.",
    )


def _kr_line(status: KRStatus) -> KRLine:
    kr = status.kr
    return KRLine(
        kr_id=kr.id,
        title=kr.title,
        outcome=f"{percent(status.outcome_progress)} ({outcome_basis(status)})",
        delivery=percent(status.delivery_progress),
        expected=percent(status.expected_progress),
        health=status.health,
        forecast=forecast_text(status),
        final=status.final,
    )


def forecast_text(status: KRStatus) -> str:
    """The metric's forecast at cycle end and whether it reaches the target (or stays
    in the band of a `maintain` KR): `80.27% (short of 85%)`."""
    kr, forecast = status.kr, status.forecast
    shown = metric(forecast, kr.unit)
    if forecast is None:
        return shown
    if kr.kind == "maintain" and kr.range is not None:
        inside = kr.range.minimum <= forecast <= kr.range.maximum
        return f"{shown} ({'within' if inside else 'outside'} the band)"
    if kr.kind != "auto" or kr.target is None or kr.baseline is None:
        return shown
    rising = kr.target >= kr.baseline
    reaches = forecast >= kr.target if rising else forecast <= kr.target
    verdict = "reaches" if reaches else "short of"
    return f"{shown} ({verdict} {metric(kr.target, kr.unit)})"


def outcome_basis(status: KRStatus) -> str:
    """What the outcome percentage is read from, by the KR's kind."""
    kr = status.kr
    now = metric(status.current, kr.unit)
    if kr.kind == "delivery":
        return "delivery of the mapped work"
    if kr.kind == "milestone":
        if status.current is None:
            return "milestone, no check-in yet"
        return "milestone reached" if status.outcome_progress == 1.0 else "milestone not reached"
    if kr.kind == "maintain" and kr.range is not None:
        band = f"{metric(kr.range.minimum, kr.unit)} to {metric(kr.range.maximum, kr.unit)}"
        return f"now {now}; keep within {band}"
    return f"now {now}; {metric(kr.baseline, kr.unit)} to {metric(kr.target, kr.unit)}"


def _stale_warning(status: KRStatus) -> str:
    # The date, not "N days ago": the comment must not change while nothing else does.
    last = status.last_sample_at
    when = f"{last.astimezone(UTC):%Y-%m-%d}" if last is not None else "never"
    return (
        f"{status.kr.id}: stale metric, last check-in {when}; "
        f"record one with okrsync metric set {status.kr.id} VALUE."
    )


def _shipping_warning(status: KRStatus) -> str:
    outcome = max(0.0, min(1.0, status.outcome_progress or 0.0))
    gap = (status.delivery_progress or 0.0) - outcome
    return (
        f"{status.kr.id}: shipping without impact, delivery is {gap * 100:.0f} "
        "percentage points ahead of the outcome."
    )
