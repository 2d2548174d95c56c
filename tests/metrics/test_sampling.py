"""`sample_metrics` with a real store: readings stored at the cycle's instant, failures
kept local (metric_error, last good sample kept, the others still read), and the
`sync --once` wiring (`run_cycle` exits 1 on a metric error)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from factories import make_config

from okrsync.metrics import sample_metrics
from okrsync.metrics._base import TokenBucket
from okrsync.service.pipeline import run_cycle
from okrsync.service.telemetry import Telemetry
from okrsync.store import Store

from ._local_http import body, serve

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _kr(kr_id: str, metric: dict[str, Any]) -> dict[str, Any]:
    return {"id": kr_id, "title": kr_id, "baseline": 0, "target": 100, "metric": metric}


@pytest.fixture
def kpi() -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"status": 200, "rate": 41.5}

    def route(query: dict[str, list[str]], headers: dict[str, str]) -> tuple[int, str]:
        return state["status"], body({"rate": state["rate"]})

    with serve({"/kpi": route}) as (url, _):
        state["url"] = f"{url}/kpi"
        yield state


def _config(tmp_path: Path, kpi_url: str) -> Any:
    return make_config(
        tmp_path,
        objectives=[
            {
                "id": "ONB",
                "title": "Onboarding",
                "key_results": [
                    _kr("KPI-1", {"type": "http", "url": kpi_url, "path": "$.rate"}),
                    _kr("MAN-1", {"type": "manual"}),
                    _kr("JQL-1", {"type": "jql_count", "jql": "project = SUP"}),
                    _kr("SQL-1", {"type": "sql", "url_env": "DB_URL", "query": "select 7"}),
                ],
            }
        ],
    )


def _connect_fails(name: str) -> Any:
    from okrsync.sources import AuthError

    raise AuthError(name, "connect: HTTP 401: check the token and its permissions", 401)


def test_readings_are_stored_at_now_and_failures_stay_local(
    tmp_path: Path, kpi: dict[str, Any]
) -> None:
    config = _config(tmp_path, kpi["url"])
    env = {"DB_URL": f"sqlite:///{tmp_path / 'a.db'}"}
    with Store(config.store.url) as store:
        run = sample_metrics(config, store, NOW, _connect_fails, environ=env)
        assert [(r.kr_id, r.type, r.value, r.ok) for r in run.readings] == [
            ("KPI-1", "http", 41.5, True),
            ("JQL-1", "jql_count", None, False),
            ("SQL-1", "sql", 7.0, True),
        ]
        assert run.errors == (
            "JQL-1: jira: connect: HTTP 401: check the token and its permissions",
        )
        assert [(r.value, r.at, r.origin) for r in store.sample_records("KPI-1")] == [
            (41.5, NOW, "http")
        ]
        assert set(store.metric_errors()) == {"JQL-1"}

        # The KPI breaks: its error shows, its last good sample stays, SQL still reads.
        kpi["status"] = 500
        later = NOW + timedelta(hours=1)
        run = sample_metrics(config, store, later, _connect_fails, environ=env)
        assert [r.kr_id for r in run.readings if not r.ok] == ["KPI-1", "JQL-1"]
        assert "HTTP 500" in store.metric_errors()["KPI-1"]
        assert [r.value for r in store.sample_records("KPI-1")] == [41.5]
        assert [r.value for r in store.sample_records("SQL-1")] == [7.0, 7.0]

        # It recovers: the error clears.
        kpi["status"], kpi["rate"] = 200, float("nan")
        run = sample_metrics(config, store, later + timedelta(hours=1), _connect_fails, environ=env)
        assert "not a finite number" in store.metric_errors()["KPI-1"]
        kpi["rate"] = 44
        sample_metrics(config, store, later + timedelta(hours=2), _connect_fails, environ=env)
        assert "KPI-1" not in store.metric_errors()
        assert [r.value for r in store.sample_records("KPI-1")] == [41.5, 44.0]

        telemetry = Telemetry()
        telemetry.register_metrics(["KPI-1"])
        telemetry.record_metric_run(run)
        text = telemetry.render()[0].decode()
        assert 'okrsync_metric_readings_total{kr="KPI-1",result="failed"} 1.0' in text
        assert 'okrsync_metric_readings_total{kr="SQL-1",result="ok"} 1.0' in text


def test_only_reads_the_named_krs_and_a_crash_is_local(
    tmp_path: Path, kpi: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from okrsync.metrics import registry

    config = _config(tmp_path, kpi["url"])

    def boom(metric: Any, kr_id: str, context: Any) -> Any:
        raise ZeroDivisionError("bug")

    monkeypatch.setitem(registry.METRIC_READERS, "sql", registry.MetricType("sql", boom))
    with Store(config.store.url) as store:
        run = sample_metrics(config, store, NOW, _connect_fails, only=["sql-1", "kpi-1"])
        assert [(r.kr_id, r.ok) for r in run.readings] == [("KPI-1", True), ("SQL-1", False)]
        assert run.errors == ("SQL-1: ZeroDivisionError: bug",)


def test_sync_once_samples_before_the_report_and_exits_one(
    tmp_path: Path, kpi: dict[str, Any]
) -> None:
    config = make_config(
        tmp_path,
        sources={},
        objectives=[
            {
                "id": "ONB",
                "title": "Onboarding",
                "key_results": [
                    _kr("KPI-1", {"type": "http", "url": kpi["url"], "path": "$.rate"}),
                    _kr("GH-1", {"type": "github_search_count", "query": "label:bug"}),
                ],
            }
        ],
    )
    with Store(config.store.url) as store:
        result = run_cycle(config, store, _connect_fails, now=NOW)
        assert result.exit_code == 1
        assert result.metric_errors == (
            "GH-1: github: connect: HTTP 401: check the token and its permissions",
        )
        (status,) = [
            kr for o in result.report.objectives for kr in o.key_results if kr.kr.id == "KPI-1"
        ]
        assert status.current == 41.5
        # The daemon's per-source cycles leave metrics to their own jobs.
        skipped = run_cycle(
            config, store, _connect_fails, now=NOW + timedelta(hours=1), metrics=False
        )
        assert skipped.exit_code == 0
        assert len(store.sample_records("KPI-1")) == 1


def test_bucket_is_taken_once_per_search_reading() -> None:
    taken: list[float] = []
    bucket = TokenBucket(1, 60, clock=lambda: 0.0, sleep=taken.append)
    assert bucket.take() == 0.0
    assert bucket.take() == 1.0
    assert taken == [1.0]
