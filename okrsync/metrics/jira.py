"""`jql_count`: a count of issues through the configured Jira source (its credentials,
connection, retries and rate-limit handling)."""

from __future__ import annotations

from okrsync.config import JqlCountMetric
from okrsync.metrics._base import CountsJql, MetricReadError, ReadContext


def read_jql_count(metric: JqlCountMetric, context: ReadContext) -> float:
    source = context.source("jira")
    if not isinstance(source, CountsJql):
        raise MetricReadError("jql_count: the jira source cannot count issues")
    return float(source.count(metric.jql))
