"""`http` and `prometheus` metrics against a real local HTTP server, failures included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from okrsync.config import HttpMetric, PrometheusMetric
from okrsync.metrics import MetricReadError
from okrsync.metrics._base import ReadContext
from okrsync.metrics.http import read_http
from okrsync.metrics.prometheus import read_prometheus

from ._local_http import Route, body, serve

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ENV = {"BI_AUTH": "Bearer s3cret-token"}


def _context(environ: dict[str, str] | None = None) -> ReadContext:
    def no_source(name: str) -> object:
        raise AssertionError(name)

    return ReadContext(NOW, ENV if environ is None else environ, Path("."), no_source)


def _kpi(query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, str]:
    if headers.get("authorization") != ENV["BI_AUTH"]:
        return 401, body({"error": "unauthorized"})
    return 200, body({"data": {"rate": 0.74, "list": [1, 2], "text": "74%", "flag": True}})


ROUTES: dict[str, Route] = {
    "/kpi": _kpi,
    "/broken": lambda q, h: (500, body({"error": "database is down"})),
    "/slow": lambda q, h: (200, body({"data": {"rate": 1}}), 1.5),
    "/nan": lambda q, h: (200, body({"data": {"rate": float("nan")}})),
    "/inf": lambda q, h: (200, '{"data": {"rate": 1e999}}'),
    "/html": lambda q, h: (200, "<html>proxy login</html>"),
}


@pytest.fixture
def server() -> Iterator[str]:
    with serve(ROUTES) as (url, _):
        yield url


def _http(url: str, path: str = "$.data.rate", **extra: object) -> HttpMetric:
    return HttpMetric.model_validate(
        {"type": "http", "url": url, "path": path, "headers_env": {"Authorization": "BI_AUTH"}}
        | extra
    )


def test_http_reads_the_number_at_the_path_with_secret_headers(server: str) -> None:
    assert read_http(_http(f"{server}/kpi"), _context()) == 0.74
    assert read_http(_http(f"{server}/kpi", "$.data.list[1]"), _context()) == 2.0


def test_http_header_from_a_file(server: str, tmp_path: Path) -> None:
    secret = tmp_path / "auth"
    secret.write_text("Bearer s3cret-token\n")
    metric = HttpMetric.model_validate(
        {"type": "http", "url": f"{server}/kpi", "path": "$.data.rate",
         "headers_file": {"Authorization": str(secret)}}
    )  # fmt: skip
    assert read_http(metric, _context({})) == 0.74


@pytest.mark.parametrize(
    ("path", "route", "message"),
    [
        ("$.data.rate", "/broken", "HTTP 500: database is down"),
        ("$.data.missing", "/kpi", "no value at $.data.missing"),
        ("$.data.list[*]", "/kpi", "matches 2 values"),
        ("$.data.text", "/kpi", "is not a number (got str)"),
        ("$.data.flag", "/kpi", "is not a number (got bool)"),
        ("$.data.rate", "/nan", "not a finite number"),
        ("$.data.rate", "/inf", "not a finite number"),
        ("$.data.rate", "/html", "not JSON"),
        ("$.data.rate", "/nowhere", "HTTP 404"),
    ],
)
def test_http_failures_are_read_errors(server: str, path: str, route: str, message: str) -> None:
    with pytest.raises(MetricReadError) as failed:
        read_http(_http(f"{server}{route}", path), _context())
    assert message in str(failed.value)


def test_http_timeout(server: str) -> None:
    with pytest.raises(MetricReadError, match="timed out after 1s"):
        read_http(_http(f"{server}/slow", timeout=1), _context())


def test_http_missing_header_secret_never_sends(server: str) -> None:
    with pytest.raises(MetricReadError, match="environment variable BI_AUTH is not set"):
        read_http(_http(f"{server}/kpi"), _context({}))


def test_http_connection_refused() -> None:
    with serve({}) as (url, _):
        pass  # the server is gone now
    with pytest.raises(MetricReadError, match="ConnectionError"):
        read_http(_http(f"{url}/kpi"), _context())


def test_http_secret_never_in_the_error(server: str) -> None:
    with pytest.raises(MetricReadError) as failed:
        read_http(_http(f"{server}/broken?token=s3cret-token"), _context())
    assert "s3cret" not in str(failed.value)


# --- prometheus --------------------------------------------------------------------


def _vector(*values: str) -> str:
    result = [
        {"metric": {"i": str(n)}, "value": [NOW.timestamp(), v]} for n, v in enumerate(values)
    ]
    return body({"status": "success", "data": {"resultType": "vector", "result": result}})


def _query(query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, str]:
    text = query["query"][0]
    assert float(query["time"][0]) == NOW.timestamp()  # evaluated at the cycle's instant
    answers = {
        "one": (200, _vector("0.93")),
        "empty": (200, _vector()),
        "two": (200, _vector("1", "2")),
        "nan": (200, _vector("NaN")),
        "inf": (200, _vector("+Inf")),
        "scalar": (200, body({"status": "success",
                              "data": {"resultType": "scalar", "result": [1.0, "42"]}})),
        "matrix": (200, body({"status": "success",
                              "data": {"resultType": "matrix", "result": []}})),
        "bad(": (400, body({"status": "error", "errorType": "bad_data",
                            "error": "parse error: unclosed left parenthesis"})),
        "down": (503, "upstream unavailable"),
    }  # fmt: skip
    return answers[text]


@pytest.fixture
def prometheus() -> Iterator[str]:
    with serve({"/api/v1/query": _query, "/slow/api/v1/query": lambda q, h: (200, "{}", 1.5)}) as (
        url,
        _,
    ):
        yield url


def _prom(url: str, query: str, **extra: object) -> PrometheusMetric:
    return PrometheusMetric.model_validate(
        {"type": "prometheus", "url": url, "query": query} | extra
    )


def test_prometheus_instant_vector_and_scalar(prometheus: str) -> None:
    assert read_prometheus(_prom(prometheus, "one"), _context()) == 0.93
    assert read_prometheus(_prom(prometheus, "scalar"), _context()) == 42.0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("empty", "no series (empty result)"),
        ("two", "2 series, not one"),
        ("nan", "not a finite number"),
        ("inf", "not a finite number"),
        ("matrix", "a matrix result is not one number"),
        ("bad(", "HTTP 400: parse error"),
        ("down", "HTTP 503"),
    ],
)
def test_prometheus_failures(prometheus: str, query: str, message: str) -> None:
    with pytest.raises(MetricReadError) as failed:
        read_prometheus(_prom(prometheus, query), _context())
    assert message in str(failed.value)


def test_prometheus_timeout(prometheus: str) -> None:
    with pytest.raises(MetricReadError, match="timed out"):
        read_prometheus(_prom(f"{prometheus}/slow", "one", timeout=1), _context())
