"""How numbers read in every output: fractions as percentages, metric values trimmed."""

from __future__ import annotations

from okrsync.domain import Health

HEALTH_WORDS = {
    Health.ON_TRACK: "On track",
    Health.AT_RISK: "At risk",
    Health.OFF_TRACK: "Off track",
    Health.NO_DATA: "No data",
}


FINAL_WORDS = {"achieved": "Achieved", "partial": "Partial", "missed": "Missed"}


def percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{_no_negative_zero(f'{fraction * 100:.0f}')}%"


def metric(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    text = _no_negative_zero(f"{value:.2f}".rstrip("0").rstrip("."))
    if unit == "%":
        return f"{text}%"
    return f"{text} {unit}".rstrip()


def _no_negative_zero(text: str) -> str:
    # -0.001 rounds to "-0": a sign on nothing reads as a regression that is not there.
    return "0" if text == "-0" else text


def plain_number(value: float) -> float | int:
    """68.0 reads as 68 in JSON; other values keep their fraction."""
    return int(value) if float(value).is_integer() else value


def optional_number(value: float | None) -> float | int | None:
    return None if value is None else plain_number(value)


def rounded(value: float | None, digits: int = 3) -> float | int | None:
    return None if value is None else plain_number(round(value, digits))
