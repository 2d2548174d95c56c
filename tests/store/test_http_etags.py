"""ETags of list pages (revision 0005): saved in one upsert, read back per source, on SQLite
and a real PostgreSQL server."""

from __future__ import annotations

from alembic import command
from sql_trace import store_statements
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from okrsync.store import Store, alembic_config, current_revision
from okrsync.store._engine import create_store_engine

PAGE = "https://api.github.com/repos/acme/web/issues?state=all&since=2026-11-24T08%3A58%3A00Z"
OTHER = "https://api.github.com/repos/acme/api/issues?state=all"


def test_etags_are_saved_replaced_and_read_per_source(store: Store) -> None:
    assert store.etags("github") == {}

    store.save_etags("github", {PAGE: 'W/"one"', OTHER: 'W/"two"'})
    store.save_etags("github", {PAGE: 'W/"three"'})
    store.save_etags("asana", {PAGE: '"elsewhere"'})

    assert store.etags("github") == {PAGE: 'W/"three"', OTHER: 'W/"two"'}
    assert store.etags("asana") == {PAGE: '"elsewhere"'}


def test_saving_etags_is_one_upsert_statement_and_nothing_saves_nothing(store: Store) -> None:
    with store_statements(store) as sent:
        for _ in range(2):  # inserting, then meeting the rows it inserted
            store.save_etags("github", {PAGE: 'W/"a"', OTHER: 'W/"b"'})
        store.save_etags("github", {})

    statements = [" ".join(statement.split()).upper() for statement in sent]
    assert len(statements) == 2, statements
    assert all(s.startswith("INSERT") and "ON CONFLICT" in s for s in statements)


def test_revision_0005_adds_the_table_and_its_downgrade_drops_it(store_url: str) -> None:
    config = alembic_config(store_url)
    command.upgrade(config, "0004")
    engine = create_store_engine(make_url(store_url))
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO sync_cursors VALUES ('github', 42, '2026-10-01 00:00:00')")
            )
        assert "http_etags" not in inspect(engine).get_table_names()

        command.upgrade(config, "0005")
        with Store(store_url) as store:
            assert store.cursor("github") == 42  # the data before it is kept
            store.save_etags("github", {PAGE: 'W/"a"'})
            assert store.etags("github") == {PAGE: 'W/"a"'}

        command.downgrade(config, "0004")
        assert "http_etags" not in inspect(engine).get_table_names()
        assert current_revision(store_url) == "0004"
    finally:
        engine.dispose()
