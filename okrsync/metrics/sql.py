"""`sql`: a query returning one number (one row, one column), through SQLAlchemy, on a
database whose URL is a secret (`url_env` / `url_file`).

Each reading opens one connection (no pool is kept between readings) and rolls back;
on PostgreSQL the session is read-only and the query is cut at `timeout`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from okrsync.config import SecretError, SqlMetric, read_secret
from okrsync.logs import redact_secrets
from okrsync.metrics._base import MetricReadError, ReadContext, finite_number


def read_sql(metric: SqlMetric, context: ReadContext) -> float:
    try:
        url = make_url(read_secret(metric.url(), context.environ))
    except SecretError as error:
        raise MetricReadError(f"sql: {error}") from None
    except ArgumentError:
        raise MetricReadError(f"sql: {metric.url().described} is not a database URL") from None
    if url.password:
        redact_secrets.add(str(url.password))
    try:
        engine = create_engine(url, poolclass=NullPool, connect_args=_connect_args(url, metric))
    except (SQLAlchemyError, ImportError) as error:
        raise MetricReadError(f"sql: cannot use {url.drivername}: {type(error).__name__}") from None
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(metric.query)).fetchmany(2)
            connection.rollback()
    except SQLAlchemyError as error:
        raise MetricReadError(f"sql: {_reason(error)}") from None
    finally:
        engine.dispose()
    if not rows:
        raise MetricReadError("sql: the query returned no row (empty result)")
    if len(rows) > 1 or len(rows[0]) != 1:
        raise MetricReadError("sql: the query must return one row with one column")
    return finite_number(rows[0][0], "sql: the result")


def _connect_args(url: Any, metric: SqlMetric) -> dict[str, Any]:
    backend = url.get_backend_name()
    if backend == "postgresql":
        options = (
            f"-c statement_timeout={metric.timeout * 1000} -c default_transaction_read_only=on"
        )
        return {"connect_timeout": metric.timeout, "options": options}
    if backend == "sqlite":
        return {"timeout": metric.timeout}
    return {}


def _reason(error: SQLAlchemyError) -> str:
    """The driver's first line (not SQLAlchemy's text, which repeats the statement)."""
    original = getattr(error, "orig", None) or error
    first = (str(original).strip().splitlines() or [""])[0]
    return f"{type(original).__name__}: {first}"[:250]
