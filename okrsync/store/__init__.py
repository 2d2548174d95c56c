"""Persistence for work items and their history, metric samples and errors, KR snapshots,
sync cursors, write-back records, job leases and webhook secrets; the schema is migrated
with Alembic (`upgrade`)."""

from okrsync.store._locks import UnsupportedBackendError
from okrsync.store._repository import SampleRecord, Store, UpsertResult, WritebackRecord
from okrsync.store._schema import (
    SchemaError,
    SchemaNotCurrentError,
    SchemaTooNewError,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)

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
