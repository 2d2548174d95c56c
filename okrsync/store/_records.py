"""What the store's reads and upserts answer besides domain objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class UpsertResult:
    inserted: int
    updated: int
    unchanged: int


@dataclass(frozen=True, slots=True)
class SampleRecord:
    """A stored metric sample with what came with it (`metric list`)."""

    kr_id: str
    value: float
    at: datetime
    origin: str
    note: str | None = None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class WritebackRecord:
    """What was last written to a target, so an unchanged cycle writes nothing."""

    target: str
    content_hash: str
    remote_id: str
    written_at: datetime
