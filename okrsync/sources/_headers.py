"""Reading HTTP response headers the same way for every connector."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


def header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header's value by case-insensitive name (clients differ in how they keep them)."""
    found = headers.get(name)  # as servers spell it (and any case-insensitive mapping)
    if found is not None:
        return str(found)
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            return str(value)
    return None


def server_date(headers: Mapping[str, Any]) -> datetime | None:
    """The server's clock from `Date`: what a bookmark should follow, not ours."""
    value = header(headers, "Date")
    try:
        moment = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # "-0000": UTC with no claim about local time
    return moment
