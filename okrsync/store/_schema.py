"""Bringing a database's schema to what this okrsync needs, through Alembic, in code.

Migrations own the schema of every database with okrsync's tables. Opening a `Store`
upgrades the database to head under the schema lock (see `_locks.schema_lock`), unless
it is at head already, which costs one query and takes no lock, and does not import
Alembic: the stored revision is compared with `HEAD_REVISION` (`_revision`; tests keep it
equal to the migrations directory's head). On SQLite a `Store` makes that comparison
itself, without SQLAlchemy (`_sqlite`), and comes here only when it fails. A database
without any of okrsync's tables is made at head from the tables' definitions and stamped
`HEAD_REVISION` (Alembic's "building an up to date database from scratch"), the schema
every migration together makes (a test compares them), without importing Alembic or
replaying each revision.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)
from sqlalchemy.engine import make_url

from okrsync.store._engine import create_store_engine
from okrsync.store._errors import SchemaError, SchemaNotCurrentError, SchemaTooNewError
from okrsync.store._locks import schema_lock
from okrsync.store._revision import HEAD_REVISION, VERSION_TABLE

if TYPE_CHECKING:  # Alembic loads only to migrate, or to read a revision that is not head
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Revision 0001 is the schema `create_all` made before migrations existed. A database
# with exactly these tables and no alembic_version is stamped 0001, not migrated.
BASELINE_REVISION = "0001"
_BASELINE_COLUMNS: dict[str, frozenset[str]] = {
    "work_items": frozenset(
        [
            "source",
            "key",
            "title",
            "type",
            "status",
            "bucket",
            "points",
            "labels",
            "parent",
            "updated",
            "url",
            "remote_id",
            "child_count",
            "seen_at",
        ]
    ),
    "metric_samples": frozenset(["id", "kr_id", "value", "at", "origin", "recorded_at"]),
    "sync_cursors": frozenset(["source", "bookmark_ms", "updated_at"]),
    "writebacks": frozenset(["target", "content_hash", "remote_id", "written_at"]),
}

# Alembic's `context` and `op` are module-level proxies: two threads of one process
# migrating two databases at once would swap each other's. Taken inside the schema lock
# (never while waiting for it), so it cannot deadlock with another process's lock.
_ALEMBIC_IN_PROCESS = threading.Lock()


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config for the packaged migrations, without any alembic.ini.

    `connection`, when given, is the one env.py migrates over (in its open transaction);
    otherwise env.py connects to `url` itself (developers' `command.revision`).
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # The option goes through configparser interpolation: escape `%` of encoded URLs.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this okrsync knows."""
    head = _scripts().get_current_head()
    if head is None:  # only a broken install has no revisions
        raise SchemaError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at; None before any migration."""
    engine = create_store_engine(make_url(url))
    try:
        return _current(engine)
    finally:
        engine.dispose()


def upgrade(url: str) -> str:
    """Bring the database at `url` to head (see `upgrade_engine`); returns the revision."""
    engine = create_store_engine(make_url(url))
    try:
        return upgrade_engine(engine)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine) -> str:
    """Bring the database to head, once even when processes start together.

    Raises SchemaTooNewError, touching nothing, when a newer okrsync migrated it.
    """
    stored = _current(engine)
    if stored == HEAD_REVISION:
        return HEAD_REVISION  # the common case: no lock, no write, no Alembic
    if stored is None and _created_at_head(engine):
        return HEAD_REVISION
    head = head_revision()
    if _refuse_unknown(engine, stored) == head:
        return head
    with engine.connect() as connection, schema_lock(connection):
        # Again under the lock: whoever held it before may have upgraded already.
        current = _refuse_unknown(engine, _revision_of(connection))
        if current == head:
            return head
        if current is None:
            _adopt_pre_migration_schema(connection)
        from alembic import command

        with _ALEMBIC_IN_PROCESS:
            command.upgrade(alembic_config(connection=connection), head)
    return head


def require_head(engine: Engine) -> None:
    """Raise unless the database is at head; for stores opened without migrating."""
    stored = _current(engine)
    if stored == HEAD_REVISION:
        return
    current = _refuse_unknown(engine, stored)
    if current != head_revision():
        raise SchemaNotCurrentError(
            f"the database {_safe_url(engine)} is at schema revision {current or 'none'}, "
            f"this okrsync needs {head_revision()}: run `okrsync db upgrade`"
        )


# -- helpers ------------------------------------------------------------------------------


def _current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return _revision_of(connection)


def _created_at_head(engine: Engine) -> bool:
    """Make an empty database (none of okrsync's tables, no revision) at head; False,
    touching nothing, when it is not empty: the migrations take it from there."""
    from okrsync.store._tables import metadata

    with engine.connect() as connection, schema_lock(connection):
        # Under the lock: another process may have made it meanwhile.
        revision = _revision_of(connection)
        if revision is not None:
            return revision == HEAD_REVISION
        if set(inspect(connection).get_table_names()) & metadata.tables.keys():
            return False
        metadata.create_all(connection)
        _VERSIONS.create(connection)
        connection.execute(_VERSIONS.insert().values(version_num=HEAD_REVISION))
    return True


# Alembic's own definition of its table (alembic.runtime.migration), for `_created_at_head`.
_VERSIONS = Table(
    VERSION_TABLE,
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)


def _revision_of(connection: Connection) -> str | None:
    """What Alembic's `get_current_revision` answers, read without Alembic when the table
    holds one row (always, for a linear history); anything else is left to Alembic."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    if len(versions) == 1:
        return str(versions[0][0])
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _refuse_unknown(engine: Engine, revision: str | None) -> str | None:
    """`revision`, unless this okrsync does not know it: a newer one wrote it."""
    if revision is None or revision in _known_revisions():
        return revision
    raise SchemaTooNewError(
        f"the database {_safe_url(engine)} is at schema revision {revision!r}, which this "
        f"okrsync does not know (its newest is {head_revision()!r}): a newer okrsync "
        "migrated it. Run that version, or restore a backup taken before the upgrade; "
        "this one leaves the database untouched."
    )


@cache
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def _adopt_pre_migration_schema(connection: Connection) -> None:
    """Stamp a database `create_all` made before migrations with the baseline revision.

    Leaves a database without okrsync tables alone (it is migrated from scratch). Raises
    when only some of the tables exist, or with other columns: the data would not fit
    the migrations' idea of it.
    """
    present = set(inspect(connection).get_table_names()) & _BASELINE_COLUMNS.keys()
    if not present:
        return
    problems = _baseline_differences(connection, present)
    if problems:
        raise SchemaError(
            "the database has okrsync tables but no migration history (alembic_version), "
            f"and they differ from revision {BASELINE_REVISION}: {'; '.join(problems)}. "
            "Export what you need and start from an empty database."
        )
    from alembic import command

    with _ALEMBIC_IN_PROCESS:
        command.stamp(alembic_config(connection=connection), BASELINE_REVISION)


def _baseline_differences(connection: Connection, present: set[str]) -> list[str]:
    inspector = inspect(connection)
    problems = []
    for table, expected in _BASELINE_COLUMNS.items():
        if table not in present:
            problems.append(f"{table} is missing")
            continue
        found = {column["name"] for column in inspector.get_columns(table)}
        if missing := sorted(expected - found):
            problems.append(f"{table} lacks {', '.join(missing)}")
        if extra := sorted(found - expected):
            problems.append(f"{table} has unknown {', '.join(extra)}")
    return problems


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
