"""`github_search_count`: the `total_count` of an issue search through the configured
GitHub source, spaced for the search API's own limit of 30 requests a minute."""

from __future__ import annotations

from okrsync.config import GithubSearchCountMetric
from okrsync.metrics._base import CountsSearch, MetricReadError, ReadContext


def read_github_search_count(metric: GithubSearchCountMetric, context: ReadContext) -> float:
    source = context.source("github")
    if not isinstance(source, CountsSearch):
        raise MetricReadError("github_search_count: the github source cannot search")
    context.search_bucket.take()  # 30 searches a minute, whatever else is due
    return float(source.search_count(metric.query))
