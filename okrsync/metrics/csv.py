"""Samples from a CSV file: `at,value` rows, or `kr,at,value` when one file serves many KRs."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from okrsync.domain import MetricSample


class MetricFileError(ValueError):
    pass


def read_csv_samples(path: Path, kr_id: str) -> list[MetricSample]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise MetricFileError(f"{path}: cannot read: {error.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = {"at", "value"} - set(reader.fieldnames or ())
        if missing:
            raise MetricFileError(
                f"{path}: needs columns at,value (missing {', '.join(sorted(missing))})"
            )
        samples = []
        for line, row in enumerate(reader, start=2):
            if "kr" in row and row["kr"] and row["kr"].casefold() != kr_id.casefold():
                continue
            samples.append(
                MetricSample(
                    kr_id=kr_id,
                    value=_number(row["value"], path, line),
                    at=_instant(row["at"], path, line),
                )
            )
        return samples


def _number(text: str, path: Path, line: int, what: str = "value") -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise MetricFileError(f"{path}:{line}: {what} {text!r} is not a number") from None
    # NaN and the infinities (also 1e999, which overflows) parse, but no KR can use them:
    # one would make every sum over the KR's samples NaN or an error.
    if not math.isfinite(value):
        raise MetricFileError(f"{path}:{line}: {what} {text!r} is not a finite number")
    return value


def _instant(text: str, path: Path, line: int) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except (AttributeError, ValueError):
        raise MetricFileError(
            f"{path}:{line}: at {text!r} is not an ISO-8601 date or time"
        ) from None
    # A bare date or a time without a zone is read as UTC, the cycle's own zone.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Checkin:
    kr_id: str
    value: float
    at: datetime
    note: str | None = None
    confidence: float | None = None
    line: int = 0  # in the file it was read from, for messages


def read_checkins(path: Path) -> list[Checkin]:
    """`okrsync metric import`: rows of `kr,at,value`, optionally `note` and `confidence`
    (0 to 1). Every row is checked before any is stored: one bad row refuses the file."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise MetricFileError(f"{path}: cannot read: {error.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = {"kr", "at", "value"} - set(reader.fieldnames or ())
        if missing:
            raise MetricFileError(
                f"{path}: needs columns kr,at,value (missing {', '.join(sorted(missing))})"
            )
        checkins = []
        for line, row in enumerate(reader, start=2):
            kr = (row["kr"] or "").strip()
            if not kr:
                raise MetricFileError(f"{path}:{line}: kr is empty")
            confidence = None
            if (row.get("confidence") or "").strip():
                confidence = _number(row["confidence"], path, line, "confidence")
                if not 0 <= confidence <= 1:
                    raise MetricFileError(f"{path}:{line}: confidence is not between 0 and 1")
            checkins.append(
                Checkin(
                    kr_id=kr,
                    value=_number(row["value"], path, line),
                    at=_instant(row["at"], path, line),
                    note=(row.get("note") or "").strip() or None,
                    confidence=confidence,
                    line=line,
                )
            )
        return checkins
