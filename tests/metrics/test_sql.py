"""`sql` metrics on a real SQLite file and a real PostgreSQL server, failures included."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from okrsync.config import SqlMetric
from okrsync.metrics import MetricReadError
from okrsync.metrics._base import ReadContext
from okrsync.metrics.sql import read_sql

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SETUP = [
    "create table nps (score float, label text)",
    "insert into nps values (40, 'a'), (60, 'b')",
]


def _read(url: str, query: str, timeout: int = 30) -> float:
    metric = SqlMetric(type="sql", url_env="ANALYTICS_DB_URL", query=query, timeout=timeout)
    context = ReadContext(NOW, {"ANALYTICS_DB_URL": url}, Path("."), lambda name: None)
    return read_sql(metric, context)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        import sqlite3

        path = tmp_path / "analytics.db"
        with sqlite3.connect(path) as connection:
            for statement in SETUP:
                connection.execute(statement)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        c.execute("drop table if exists nps")
        for statement in SETUP:
            c.execute(statement)
    return url


def test_one_number(db_url: str) -> None:
    assert _read(db_url, "select avg(score) from nps") == 50.0
    assert _read(db_url, "select count(*) from nps") == 2.0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("select score from nps where score > 100", "no row (empty result)"),
        ("select score from nps", "one row with one column"),
        ("select score, label from nps where score = 40", "one row with one column"),
        ("select avg(score) from nps where score > 100", "not a number (got null)"),
        ("select label from nps where score = 40", "not a number (got str)"),
        ("select * from no_such_table", "no_such_table"),
    ],
)
def test_failures(db_url: str, query: str, message: str) -> None:
    with pytest.raises(MetricReadError) as failed:
        _read(db_url, query)
    assert message in str(failed.value)


@pytest.mark.postgres
def test_postgres_nan_and_timeout_and_read_only(postgres_url: str) -> None:
    with pytest.raises(MetricReadError, match="not a finite number"):
        _read(postgres_url, "select 'NaN'::float8")
    with pytest.raises(MetricReadError, match="statement timeout"):
        _read(postgres_url, "select pg_sleep(3), 1", timeout=1)
    with pytest.raises(MetricReadError, match="read-only"):
        _read(postgres_url, "create table x as select 1 as n")


def test_bad_or_missing_url() -> None:
    with pytest.raises(MetricReadError, match="ANALYTICS_DB_URL is not set"):
        read_sql(
            SqlMetric(type="sql", url_env="ANALYTICS_DB_URL", query="select 1"),
            ReadContext(NOW, {}, Path("."), lambda name: None),
        )
    with pytest.raises(MetricReadError, match="is not a database URL"):
        _read("not a url", "select 1")


def test_the_password_never_shows(tmp_path: Path) -> None:
    url = "postgresql+psycopg://user:hunter2-secret@127.0.0.1:1/db"
    with pytest.raises(MetricReadError) as failed:
        _read(url, "select 1", timeout=1)
    assert "hunter2-secret" not in str(failed.value)
