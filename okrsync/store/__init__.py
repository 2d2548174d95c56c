"""Persistence for work items and their history, metric samples and errors, KR snapshots,
sync cursors, write-back records, job leases and webhook secrets; the schema is migrated
with Alembic (`upgrade`).

Importing this package and using a SQLite `Store` for the everyday operations imports no
SQLAlchemy: the schema functions below load it (with `_schema`) when first named."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from okrsync.store._errors import (
    SchemaError,
    SchemaNotCurrentError,
    SchemaTooNewError,
    UnsupportedBackendError,
)
from okrsync.store._records import SampleRecord, UpsertResult, WritebackRecord
from okrsync.store._repository import Store

if TYPE_CHECKING:
    from okrsync.store._schema import alembic_config, current_revision, head_revision, upgrade

_SCHEMA_FUNCTIONS = frozenset(["alembic_config", "current_revision", "head_revision", "upgrade"])


def __getattr__(name: str) -> Any:
    if name in _SCHEMA_FUNCTIONS:
        from okrsync.store import _schema

        return getattr(_schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SampleRecord",
    "SchemaError",
    "SchemaNotCurrentError",
    "SchemaTooNewError",
    "Store",
    "UnsupportedBackendError",
    "UpsertResult",
    "WritebackRecord",
    "alembic_config",
    "current_revision",
    "head_revision",
    "upgrade",
]
