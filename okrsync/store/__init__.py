"""Persistence for work items, metric samples, sync cursors, write-back records, job leases
and webhook secrets; the schema is migrated with Alembic (`upgrade`)."""

from okrsync.store._locks import UnsupportedBackendError
from okrsync.store._repository import Store, UpsertResult, WritebackRecord
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
