"""Column values as SQLite stores them, written once for both paths to the database: the
stdlib `sqlite3` path (`_sqlite`) converts with these functions, and `UtcDateTime`
(`_tables`) normalises with `to_utc`/`as_utc` for SQLAlchemy. The stored bytes are
SQLAlchemy's: its SQLite `DateTime` text (`YYYY-MM-DD HH:MM:SS.ffffff`), `json.dumps`
text for `JSON`, 1/0 for `Boolean`, `float()` for `Float` (tests/store/test_sqlite_raw.py
compares each with SQLAlchemy's bind and result processors)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def to_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is ambiguous (local time? UTC?): refused."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} cannot be stored: add a tzinfo")
    return value.astimezone(UTC)


def as_utc(value: datetime) -> datetime:
    """A stored datetime read back aware: SQLite's text has no offset, and only UTC is
    ever written."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def datetime_to_sqlite(value: datetime) -> str:
    """A `UtcDateTime` as SQLAlchemy's SQLite `DateTime` stores it."""
    utc = to_utc(value)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}"
    )


def datetime_from_sqlite(text: str) -> datetime:
    """A stored `UtcDateTime` (SQLAlchemy reads it with `datetime.fromisoformat`)."""
    return as_utc(datetime.fromisoformat(text))


def json_to_sqlite(value: Any) -> str:
    """A `JSON` column's value: SQLAlchemy's default serializer is `json.dumps`."""
    return json.dumps(value)


def json_from_sqlite(text: str) -> Any:
    return json.loads(text)


def bool_to_sqlite(value: bool) -> int:
    """A `Boolean` as SQLite stores it (no native type: 1 or 0)."""
    return 1 if value else 0


def float_to_sqlite(value: float | None) -> float | None:
    """A `Float` column's value: SQLAlchemy sends `float(value)` to SQLite."""
    return None if value is None else float(value)
