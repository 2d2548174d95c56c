"""Every table of the store, in one module so migrations (Alembic) have a single source.

The SQL stays portable between SQLite and PostgreSQL: no dialect-specific column types,
JSON through SQLAlchemy's generic `JSON`, datetimes through `UtcDateTime`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Index, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC, read back as UTC on every dialect.

    PostgreSQL keeps the offset (timestamptz) but SQLite stores text without one, so
    values are normalised to UTC on the way in and the lost tzinfo restored on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # A naive datetime is ambiguous (local time? UTC?): refuse rather than guess.
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored: add a tzinfo")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # only UTC is ever written
        return value.astimezone(UTC)


class WorkItemRow(SQLModel, table=True):
    __tablename__ = "work_items"
    __table_args__ = (Index("ix_work_items_source_parent", "source", "parent"),)

    source: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    title: str
    type: str
    status: str
    bucket: str
    points: float | None = None
    labels: list[str] = Field(default_factory=list, sa_type=JSON)
    parent: str | None = None
    updated: datetime = Field(sa_type=UtcDateTime)
    url: str
    remote_id: str = ""
    child_count: int | None = None
    seen_at: datetime = Field(sa_type=UtcDateTime)
    # Set by the upsert (see `Store.upsert_items`): NULL for rows stored before 0003.
    first_seen_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    changed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # The upsert that last changed a versioned field (all but `updated`): a new
    # `item_versions` row is written for the rows whose stamp is that upsert's (0004).
    versioned_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class ItemVersionRow(SQLModel, table=True):
    """A work item as okrsync learned it at `learned_at` (the cycle's `now`), written only
    when a versioned field changed, or `deleted` when a full pull no longer saw it (then
    the other fields are its last state). The primary key (source, key, learned_at) is the
    index of the as-of read: each item's latest version at or before an instant."""

    __tablename__ = "item_versions"

    source: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    learned_at: datetime = Field(primary_key=True, sa_type=UtcDateTime)
    deleted: bool = False
    title: str
    type: str
    status: str
    bucket: str
    points: float | None = None
    labels: list[str] = Field(default_factory=list, sa_type=JSON)
    parent: str | None = None
    updated: datetime = Field(sa_type=UtcDateTime)
    url: str
    remote_id: str = ""
    child_count: int | None = None


class MetricSampleRow(SQLModel, table=True):
    __tablename__ = "metric_samples"
    # One check-in per KR and instant: re-importing the same CSV or check-in adds nothing,
    # and the unique index is the index of the as-of read (`at <= T`).
    __table_args__ = (UniqueConstraint("kr_id", "at", name="uq_metric_samples_kr_id_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kr_id: str
    value: float
    at: datetime = Field(sa_type=UtcDateTime)
    origin: str
    recorded_at: datetime = Field(sa_type=UtcDateTime)
    note: str | None = None
    confidence: float | None = None


class KRSnapshotRow(SQLModel, table=True):
    """Each KR's computed status at each cycle's `now` (trends, charts, delivery forecast)."""

    __tablename__ = "kr_snapshots"

    kr_id: str = Field(primary_key=True)
    at: datetime = Field(primary_key=True, sa_type=UtcDateTime)
    current: float | None = None
    outcome_progress: float | None = None
    delivery_progress: float | None = None
    expected_progress: float
    health: str
    done_weight: float
    total_weight: float


class MetricErrorRow(SQLModel, table=True):
    """Why a KR's metric could not be read, from `at` on; a row with a NULL error clears it.
    A row is written only when the error changes, so a reading failing every cycle the
    same way is one row."""

    __tablename__ = "metric_errors"

    kr_id: str = Field(primary_key=True)
    at: datetime = Field(primary_key=True, sa_type=UtcDateTime)
    error: str | None = None


class SyncCursorRow(SQLModel, table=True):
    __tablename__ = "sync_cursors"

    source: str = Field(primary_key=True)
    bookmark_ms: int = Field(sa_type=BigInteger)  # epoch milliseconds overflow 32 bits
    updated_at: datetime = Field(sa_type=UtcDateTime)


class WritebackRow(SQLModel, table=True):
    __tablename__ = "writebacks"

    target: str = Field(primary_key=True)
    content_hash: str
    remote_id: str
    written_at: datetime = Field(sa_type=UtcDateTime)


class JobLeaseRow(SQLModel, table=True):
    """Which replica runs a job until when; see `Store.acquire_lease`."""

    __tablename__ = "job_leases"

    name: str = Field(primary_key=True)
    owner: str
    expires_at: datetime = Field(sa_type=UtcDateTime)


class WebhookSecretRow(SQLModel, table=True):
    """A secret a webhook negotiated at run time (Asana's X-Hook-Secret handshake).

    Stored as is: the secret verifies signatures, so it must be readable back.
    """

    __tablename__ = "webhook_secrets"

    name: str = Field(primary_key=True)
    secret: str
    saved_at: datetime = Field(sa_type=UtcDateTime)


class HttpEtagRow(SQLModel, table=True):
    """The `ETag` a source's server gave for a list page, by the page's full URL: the next
    pull asks for that page with `If-None-Match` (0005)."""

    __tablename__ = "http_etags"

    source: str = Field(primary_key=True)
    url: str = Field(primary_key=True)
    etag: str
    stored_at: datetime = Field(sa_type=UtcDateTime)


metadata = SQLModel.metadata

# The Core tables, for statements that bypass the ORM's per-row bookkeeping.
work_items = metadata.tables["work_items"]
item_versions = metadata.tables["item_versions"]
kr_snapshots = metadata.tables["kr_snapshots"]
metric_errors = metadata.tables["metric_errors"]
metric_samples = metadata.tables["metric_samples"]
sync_cursors = metadata.tables["sync_cursors"]
writebacks = metadata.tables["writebacks"]
job_leases = metadata.tables["job_leases"]
webhook_secrets = metadata.tables["webhook_secrets"]
http_etags = metadata.tables["http_etags"]
