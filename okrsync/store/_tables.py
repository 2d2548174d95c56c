"""Every table of the store, in one module so migrations (Alembic) have a single source:
SQLAlchemy Core tables on one `MetaData` (no ORM: the everyday commands do not load one).

The SQL stays portable between SQLite and PostgreSQL: no dialect-specific column types,
JSON through SQLAlchemy's generic `JSON`, datetimes through `UtcDateTime`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from okrsync.store._values import as_utc, to_utc


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC, read back as UTC on every dialect.

    PostgreSQL keeps the offset (timestamptz) but SQLite stores text without one, so
    values are normalised to UTC on the way in and the lost tzinfo restored on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else to_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


metadata = MetaData()


def _text(name: str, **options: Any) -> Column[str]:
    return Column(name, String(), nullable=False, **options)


def _key(name: str) -> Column[str]:
    return Column(name, String(), primary_key=True, nullable=False)


def _at(name: str, *, nullable: bool = False, primary_key: bool = False) -> Column[datetime]:
    return Column(name, UtcDateTime(), nullable=nullable, primary_key=primary_key)


def _item_columns() -> list[Column[Any]]:
    """The item's fields, after its primary key, as both item tables store them."""
    return [
        _text("title"),
        _text("type"),
        _text("status"),
        _text("bucket"),
        Column("points", Float(), nullable=True),
        Column("labels", JSON(), nullable=False, default=list),
        Column("parent", String(), nullable=True),
        _at("updated"),
        _text("url"),
        _text("remote_id", default=""),
        Column("child_count", Integer(), nullable=True),
    ]


work_items = Table(
    "work_items",
    metadata,
    _key("source"),
    _key("key"),
    *_item_columns(),
    _at("seen_at"),
    # Set by the upsert (see `Store.upsert_items`): NULL for rows stored before 0003.
    _at("first_seen_at", nullable=True),
    _at("changed_at", nullable=True),
    # The upsert that last changed a versioned field (all but `updated`): a new
    # `item_versions` row is written for the rows whose stamp is that upsert's (0004).
    _at("versioned_at", nullable=True),
    Index("ix_work_items_source_parent", "source", "parent"),
)

# A work item as okrsync learned it at `learned_at` (the cycle's `now`), written only when
# a versioned field changed, or `deleted` when a full pull no longer saw it (then the
# other fields are its last state). The primary key (source, key, learned_at) is the
# index of the as-of read: each item's latest version at or before an instant.
item_versions = Table(
    "item_versions",
    metadata,
    _key("source"),
    _key("key"),
    _at("learned_at", primary_key=True),
    Column("deleted", Boolean(), nullable=False, default=False),
    *_item_columns(),
)

metric_samples = Table(
    "metric_samples",
    metadata,
    Column("id", Integer(), primary_key=True, nullable=False),
    _text("kr_id"),
    Column("value", Float(), nullable=False),
    _at("at"),
    _text("origin"),
    _at("recorded_at"),
    Column("note", String(), nullable=True),
    Column("confidence", Float(), nullable=True),
    # One check-in per KR and instant: re-importing the same CSV or check-in adds
    # nothing, and the unique index is the index of the as-of read (`at <= T`).
    UniqueConstraint("kr_id", "at", name="uq_metric_samples_kr_id_at"),
)

# Each KR's computed status at each cycle's `now` (trends, charts, delivery forecast).
kr_snapshots = Table(
    "kr_snapshots",
    metadata,
    _key("kr_id"),
    _at("at", primary_key=True),
    Column("current", Float(), nullable=True),
    Column("outcome_progress", Float(), nullable=True),
    Column("delivery_progress", Float(), nullable=True),
    Column("expected_progress", Float(), nullable=False),
    _text("health"),
    Column("done_weight", Float(), nullable=False),
    Column("total_weight", Float(), nullable=False),
)

# Why a KR's metric could not be read, from `at` on; a row with a NULL error clears it.
# A row is written only when the error changes, so a reading failing every cycle the
# same way is one row.
metric_errors = Table(
    "metric_errors",
    metadata,
    _key("kr_id"),
    _at("at", primary_key=True),
    Column("error", String(), nullable=True),
)

sync_cursors = Table(
    "sync_cursors",
    metadata,
    _key("source"),
    # Epoch milliseconds overflow 32 bits.
    Column("bookmark_ms", BigInteger(), nullable=False),
    _at("updated_at"),
)

writebacks = Table(
    "writebacks",
    metadata,
    _key("target"),
    _text("content_hash"),
    _text("remote_id"),
    _at("written_at"),
)

# Which replica runs a job until when; see `Store.acquire_lease`.
job_leases = Table(
    "job_leases",
    metadata,
    _key("name"),
    _text("owner"),
    _at("expires_at"),
)

# A secret a webhook negotiated at run time (Asana's X-Hook-Secret handshake). Stored as
# is: the secret verifies signatures, so it must be readable back.
webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    _key("name"),
    _text("secret"),
    _at("saved_at"),
)

# The `ETag` a source's server gave for a list page, by the page's full URL: the next
# pull asks for that page with `If-None-Match` (0005).
http_etags = Table(
    "http_etags",
    metadata,
    _key("source"),
    _key("url"),
    _text("etag"),
    _at("stored_at"),
)

# Each KR's scope (leaf weight) over the items as known at a cycle's `start`, by the
# fingerprint of the mapping it was computed with (0006); see `Store.scope_start`.
scope_starts = Table(
    "scope_starts",
    metadata,
    _key("fingerprint"),
    _at("start", primary_key=True),
    Column("weights", JSON(), nullable=False),
    _at("saved_at"),
)
