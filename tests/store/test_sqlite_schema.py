"""A new SQLite store is made at head from `_sqlite_schema`'s SQL, without SQLAlchemy: that
SQL must be what `metadata.create_all` sends for the tables' definitions, and the store it
makes the one SQLAlchemy's path makes, byte for byte in `sqlite_master`."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from okrsync.store import Store, current_revision, head_revision
from okrsync.store._schema import _VERSIONS, _created_at_head
from okrsync.store._sqlite import SqliteStore, connect
from okrsync.store._sqlite_schema import STATEMENTS, TABLES, VERSION_TABLE_STATEMENT
from okrsync.store._tables import metadata


def compiled() -> tuple[tuple[str, ...], str]:
    """What SQLAlchemy's `create_all` sends SQLite for the tables, and Alembic's table."""
    dialect = sqlite_dialect.dialect()
    statements: list[str] = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        for index in sorted(table.indexes, key=lambda index: index.name or ""):
            statements.append(str(CreateIndex(index).compile(dialect=dialect)).strip())
    return tuple(statements), str(CreateTable(_VERSIONS).compile(dialect=dialect)).strip()


def master(path: Path) -> list[tuple[str, str, str, str | None]]:
    with sqlite3.connect(path) as connection:
        listed = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
        return list(connection.execute(listed))


def test_the_schema_sql_is_what_sqlalchemy_compiles_for_the_tables() -> None:
    statements, versions = compiled()
    # On a failure, paste these into okrsync/store/_sqlite_schema.py.
    assert statements == STATEMENTS, "\n".join(repr(s) for s in statements)
    assert versions == VERSION_TABLE_STATEMENT
    assert frozenset(metadata.tables) == TABLES


def test_a_store_made_without_sqlalchemy_is_the_one_sqlalchemy_makes(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    probe = (
        "import sys\n"
        "from okrsync.store import Store\n"
        f"Store({f'sqlite:///{ours}'!r}).close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    engine = create_engine(f"sqlite:///{theirs}")
    try:
        assert _created_at_head(engine)
    finally:
        engine.dispose()

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert master(ours) == master(theirs)
    assert current_revision(f"sqlite:///{ours}") == head_revision()


def test_a_database_with_okrsyncs_tables_but_no_revision_is_left_to_the_migrations(
    tmp_path: Path,
) -> None:
    """A store from before migrations existed is Alembic's to adopt: left untouched here."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE work_items (source VARCHAR, key VARCHAR)")
    before = master(path)
    raw = SqliteStore(lambda: connect(str(path)))
    try:
        assert not raw.create_at_head()
    finally:
        raw.close()
    assert master(path) == before


def test_two_stores_opening_one_new_database_at_once_make_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_store() -> None:
        try:
            start.wait()
            Store(url).close()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert current_revision(url) == head_revision()
    with sqlite3.connect(tmp_path / "shared.db") as connection:
        assert connection.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
