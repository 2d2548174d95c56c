"""Kept so `domain.factories` still imports: the builders live in tests/factories.py."""

from factories import (
    Q4,
    UPDATED,
    key_result,
    leaf,
    mapped,
    objective,
    sample,
    utc,
    work_item,
)

__all__ = [
    "Q4",
    "UPDATED",
    "key_result",
    "leaf",
    "mapped",
    "objective",
    "sample",
    "utc",
    "work_item",
]
