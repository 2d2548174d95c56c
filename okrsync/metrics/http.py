"""`http`: GET a JSON document; a JSONPath picks the one number. Secret headers come from
`headers_env` / `headers_file`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from okrsync.config import HttpMetric, PrometheusMetric, SecretError, read_secret
from okrsync.metrics._base import MetricReadError, ReadContext, finite_number
from okrsync.metrics._jsonpath import matches


def secret_headers(
    metric: HttpMetric | PrometheusMetric, environ: Mapping[str, str]
) -> dict[str, str]:
    headers = {}
    for name, ref in metric.header_refs():
        try:
            headers[name] = read_secret(ref, environ)
        except SecretError as error:
            raise MetricReadError(f"header {name}: {error}") from None
    return headers


def get_json(
    url: str, params: Mapping[str, str] | None, headers: Mapping[str, str], timeout: float
) -> Any:
    """The JSON of a GET, or a MetricReadError naming the URL (without its query) and why."""
    where = _shown(url)
    try:
        response = requests.get(
            url,
            params=params,
            headers={"Accept": "application/json", **headers},
            timeout=timeout,
        )
    except requests.Timeout:
        raise MetricReadError(f"GET {where}: timed out after {timeout:g}s") from None
    except requests.RequestException as error:
        raise MetricReadError(f"GET {where}: {type(error).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
        if response.ok:
            raise MetricReadError(f"GET {where}: the answer is not JSON") from None
    if not response.ok:
        raise MetricReadError(f"GET {where}: HTTP {response.status_code}{_detail(body)}")
    return body


def read_http(metric: HttpMetric, context: ReadContext) -> float:
    body = get_json(metric.url, None, secret_headers(metric, context.environ), metric.timeout)
    found = matches(metric.path, body)
    if not found:
        raise MetricReadError(f"no value at {metric.path} in the answer of {_shown(metric.url)}")
    if len(found) > 1:
        raise MetricReadError(f"{metric.path} matches {len(found)} values, not one")
    return finite_number(found[0], f"the value at {metric.path}")


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            if isinstance(body.get(key), str):
                return f": {body[key][:200]}"
    return ""
