"""The store's errors, importable without SQLAlchemy (the CLI catches them)."""


class UnsupportedBackendError(RuntimeError):
    """okrsync runs on SQLite and PostgreSQL only."""


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to the one this okrsync needs."""


class SchemaTooNewError(SchemaError):
    """The database was migrated by a newer okrsync: this one must not touch it."""


class SchemaNotCurrentError(SchemaError):
    """The database is behind and the store was opened without migrating."""
