"""The Alembic environment: migrates over the connection `okrsync.store` hands in.

`okrsync.store.upgrade` opens the connection, takes the schema lock and passes the
connection in `config.attributes["connection"]` with its transaction already begun, so
Alembic runs inside that transaction and the lock covers every step. Without one (a
developer's `command.revision(..., autogenerate=True)`), it connects to `sqlalchemy.url`.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, TypeDecorator, create_engine

from okrsync.store._tables import metadata


def render_item(kind: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    """Autogenerate the tables' own column types as the plain types they store as.

    A revision describes the schema at its step, so it must not import okrsync's types:
    `UtcDateTime` renders as its `sa.DateTime(timezone=True)`.
    """
    if kind != "type":
        return False
    if isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: autogenerate copy-and-move batches instead.
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("okrsync migrations run online only (no --sql)")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url", ""))
    try:
        with engine.begin() as own_connection:
            run_migrations(own_connection)
    finally:
        engine.dispose()


main()
