"""The metric types: each type's reader, by the name `key_results[].metric.type` uses.

A reader gets the KR's metric config and a `ReadContext` and returns the samples to store
(most read one number, stored at the cycle's instant; `csv` gives the file's rows), or
raises `MetricReadError` (a `SourceError` from a connector counts the same).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from okrsync.config import METRIC_TYPES, CsvMetric
from okrsync.domain import MetricSample
from okrsync.metrics._base import MetricReadError, ReadContext
from okrsync.metrics.csv import MetricFileError, read_csv_samples

Reader = Callable[[Any, str, ReadContext], list[MetricSample]]


@dataclass(frozen=True)
class MetricType:
    name: str
    read: Reader
    # The source whose connection it reads through (jira, github), if any.
    source: str | None = None


def _one_number(read: Callable[[Any, ReadContext], float]) -> Reader:
    def reader(metric: Any, kr_id: str, context: ReadContext) -> list[MetricSample]:
        return [MetricSample(kr_id=kr_id, value=read(metric, context), at=context.now)]

    return reader


def _later(module: str, function: str) -> Callable[[Any, ReadContext], float]:
    """`module.function`, imported on the first reading: the readers'
    libraries (requests, jsonpath, SQLAlchemy's engines) cost start-up to import."""

    def read(metric: Any, context: ReadContext) -> float:
        reader: Callable[[Any, ReadContext], float] = getattr(import_module(module), function)
        return reader(metric, context)

    return read


def _read_csv(metric: CsvMetric, kr_id: str, context: ReadContext) -> list[MetricSample]:
    path = Path(metric.path)
    try:
        return read_csv_samples(path if path.is_absolute() else context.config_dir / path, kr_id)
    except MetricFileError as error:
        raise MetricReadError(str(error)) from None


METRIC_READERS: dict[str, MetricType] = {
    "csv": MetricType("csv", _read_csv),
    "http": MetricType("http", _one_number(_later("okrsync.metrics.http", "read_http"))),
    "sql": MetricType("sql", _one_number(_later("okrsync.metrics.sql", "read_sql"))),
    "jql_count": MetricType(
        "jql_count", _one_number(_later("okrsync.metrics.jira", "read_jql_count")), source="jira"
    ),
    "github_search_count": MetricType(
        "github_search_count",
        _one_number(_later("okrsync.metrics.github", "read_github_search_count")),
        source="github",
    ),
    "prometheus": MetricType(
        "prometheus", _one_number(_later("okrsync.metrics.prometheus", "read_prometheus"))
    ),
}
# Every configurable type has a reader, except manual (check-ins only).
assert set(METRIC_READERS) == set(METRIC_TYPES) - {"manual"}
