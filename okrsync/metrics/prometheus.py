"""`prometheus`: an instant query (`GET /api/v1/query`) at the cycle's instant; the answer
must be a scalar or exactly one series (aggregate in the query: `sum(...)`, `avg(...)`)."""

from __future__ import annotations

from typing import Any

from okrsync.config import PrometheusMetric
from okrsync.metrics._base import MetricReadError, ReadContext, finite_number
from okrsync.metrics.http import get_json, secret_headers


def read_prometheus(metric: PrometheusMetric, context: ReadContext) -> float:
    params = {"query": metric.query, "time": f"{context.now.timestamp():.3f}"}
    body = get_json(
        f"{metric.url}/api/v1/query",
        params,
        secret_headers(metric, context.environ),
        metric.timeout,
    )
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise MetricReadError(f"prometheus: {error or 'the answer is not a success'}")
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return _sample_value(result)
    if kind == "vector" and isinstance(result, list):
        if not result:
            raise MetricReadError("prometheus: the query returned no series (empty result)")
        if len(result) > 1:
            raise MetricReadError(
                f"prometheus: the query returned {len(result)} series, not one: aggregate it"
            )
        return _sample_value((result[0] or {}).get("value"))
    raise MetricReadError(f"prometheus: a {kind} result is not one number: use an instant vector")


def _sample_value(pair: Any) -> float:
    """A `[timestamp, "value"]` pair's value: Prometheus writes numbers as strings."""
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
        raise MetricReadError("prometheus: the sample is not [time, value]")
    try:
        value = float(pair[1])
    except ValueError:
        raise MetricReadError(f"prometheus: the value {pair[1][:40]!r} is not a number") from None
    return finite_number(value, "prometheus: the value")
