"""Outcome metric sources: where a KR's `current` value comes from.

One module per type (`csv`, `http`, `sql`, `counts` for `jql_count` and
`github_search_count`, `prometheus`), their registry (`registry.METRIC_READERS`), and
`sample_metrics`, which reads every non-manual metric once and stores the samples or errors.
"""

from okrsync.metrics._base import MetricReadError, TokenBucket
from okrsync.metrics.csv import MetricFileError, read_csv_samples
from okrsync.metrics.sampling import MetricReading, MetricRun, sample_metrics

__all__ = [
    "MetricFileError",
    "MetricReadError",
    "MetricReading",
    "MetricRun",
    "TokenBucket",
    "read_csv_samples",
    "sample_metrics",
]
