"""The daemon's metric jobs (`metric:<KR>`): in process with an injected clock (the job
called by hand, the scheduler not started), then as real `okrsync run` subprocesses
against the Jira sandbox and a local HTTP metric server whose number the test changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from apscheduler.schedulers.background import BackgroundScheduler
from test_daemon import (
    EMAIL,
    HOOK_SECRET,
    TOKEN,
    Daemon,
    free_port,
    jira,
    managed_body,
    wait_for,
)

from okrsync.config import load_config
from okrsync.service.daemon import Daemon as DaemonService
from okrsync.service.daemon import _Shared
from okrsync.store import Store
from okrsync_sandbox import JiraSandbox

__all__ = ["jira"]  # the sandbox fixture, shared with test_daemon.py

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@dataclass
class Kpi:
    """A local HTTP metric: GET /kpi answers `{"data": {"rate": value}}` or `status`."""

    url: str = ""
    value: float = 72.0
    status: int = 200
    hits: list[float] = field(default_factory=list)  # time.monotonic() of each GET
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def kpi() -> Iterator[Kpi]:
    state = Kpi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            with state.lock:
                state.hits.append(time.monotonic())
                status, value = state.status, state.value
            if status == 200:
                data = json.dumps({"data": {"rate": value}}).encode()
            else:
                data = json.dumps({"error": "warehouse down"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/kpi"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def write_config(
    path: Path, *, store_url: str, jira_url: str, kpi_url: str, metric_interval: str, port: int
) -> None:
    path.write_text(f"""\
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "{store_url}"}}
sources:
  jira:
    url: {jira_url}
    auth: {{email_env: OKR_JIRA_EMAIL, token_env: OKR_JIRA_TOKEN}}
    jql: "project = ONB"
    interval: 1h
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - id: ONB-1
        title: Completion
        baseline: 68
        target: 85
        metric: {{type: http, url: "{kpi_url}", path: "$.data.rate", interval: {metric_interval}}}
service:
  listen: 127.0.0.1:{port}
""")


# ------------------------------------------------------------------ in process


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def in_process_daemon(
    tmp_path: Path, kpi: Kpi, clock: Clock, owner: str, interval: str = "1h"
) -> DaemonService:
    """A daemon whose jobs are called by hand: config and store open, its scheduler not
    started (jobs it adds wait there, to be looked at)."""
    config = tmp_path / "okrsync.yaml"
    if not config.exists():
        write_config(
            config,
            store_url=f"sqlite:///{tmp_path / 'okrsync.db'}",
            jira_url="http://127.0.0.1:9",
            kpi_url=kpi.url,
            metric_interval=interval,
            port=free_port(),
        )
    daemon = DaemonService(config, clock=clock)
    daemon.owner = owner  # two replicas in one process
    loaded = load_config(config)
    seconds = {"1h": 3600.0, "1s": 1.0}[interval]
    daemon._shared = _Shared(loaded, periods={"jira": 3600.0, "metric:ONB-1": seconds})
    daemon._store = Store(loaded.config.store.url)
    daemon._scheduler = BackgroundScheduler(timezone=UTC)
    return daemon


def urgent_jobs(daemon: DaemonService) -> list[str]:
    assert daemon._scheduler is not None
    jobs = sorted(job.id for job in daemon._scheduler.get_jobs())
    for job in jobs:
        daemon._scheduler.remove_job(job)
    return jobs


def samples(store_url: str) -> list[tuple[float, datetime, str]]:
    with Store(store_url) as store:
        return [(r.value, r.at, r.origin) for r in store.sample_records("ONB-1")]


def test_a_reading_is_stored_at_the_clocks_now_and_new_samples_run_every_source(
    tmp_path: Path, kpi: Kpi
) -> None:
    clock = Clock(NOW)
    daemon = in_process_daemon(tmp_path, kpi, clock, "replica-a")
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    try:
        run = daemon.sample_metric("ONB-1")
        assert [(r.kr_id, r.value, r.added, r.error) for r in run.readings] == [
            ("ONB-1", 72.0, 1, None)
        ]
        assert samples(url) == [(72.0, NOW, "http")]
        assert urgent_jobs(daemon) == ["urgent:jira"]

        # A changed value an interval later: a new sample, and the sources' cycles again.
        kpi.value = 80.0
        clock.now = NOW + timedelta(hours=1)
        daemon.sample_metric("ONB-1")
        assert samples(url) == [(72.0, NOW, "http"), (80.0, NOW + timedelta(hours=1), "http")]
        assert urgent_jobs(daemon) == ["urgent:jira"]

        # A failing reading: the KR's metric_error, the last good sample kept, no cycle.
        kpi.status = 500
        clock.now = NOW + timedelta(hours=2)
        run = daemon.sample_metric("ONB-1")
        assert run.added == 0 and len(run.errors) == 1
        assert "HTTP 500" in run.errors[0] and "warehouse down" in run.errors[0]
        assert samples(url)[-1] == (80.0, NOW + timedelta(hours=1), "http")
        assert urgent_jobs(daemon) == []
        with Store(url) as store:
            assert "HTTP 500" in store.metric_errors()["ONB-1"]
        failed = 'okrsync_metric_readings_total{kr="ONB-1",result="failed"} 1.0'
        assert failed in daemon.telemetry.render()[0].decode()

        # The next good reading clears it.
        kpi.status = 200
        clock.now = NOW + timedelta(hours=3)
        daemon.sample_metric("ONB-1")
        with Store(url) as store:
            assert store.metric_errors() == {}
        assert samples(url)[-1] == (80.0, NOW + timedelta(hours=3), "http")
        assert urgent_jobs(daemon) == []  # the same value as before moves nothing: no pulls
    finally:
        daemon._require_store().close()


def test_two_replicas_read_a_metric_once_per_interval(tmp_path: Path, kpi: Kpi) -> None:
    clock = Clock(NOW)
    a = in_process_daemon(tmp_path, kpi, clock, "replica-a")
    b = in_process_daemon(tmp_path, kpi, clock, "replica-b")
    try:
        assert a.sample_metric("ONB-1").added == 1
        # B's tick in the same interval skips it: no request, no sample, no cycle.
        assert b.sample_metric("ONB-1").readings == ()
        assert len(kpi.hits) == 1 and urgent_jobs(b) == []
        # A's own next tick reads (it holds the lease, and renews it).
        clock.now = NOW + timedelta(hours=1)
        assert a.sample_metric("ONB-1").added == 1
        assert b.sample_metric("ONB-1").readings == ()
        assert len(kpi.hits) == 2
        # A stops and hands the job over at once: B's next tick reads.
        a._store_release_leases()
        clock.now = NOW + timedelta(hours=2)
        assert b.sample_metric("ONB-1").added == 1
        assert a.sample_metric("ONB-1").readings == ()
        assert len(kpi.hits) == 3
    finally:
        a._require_store().close()
        b._require_store().close()


# ------------------------------------------------------------------ real daemons


def start_daemon(config: Path, log: Path, port: int) -> Daemon:
    """`okrsync run` with JSON logs at debug level (a skipped metric job is logged there)."""
    env = dict(
        os.environ, OKR_JIRA_EMAIL=EMAIL, OKR_JIRA_TOKEN=TOKEN, OKR_JIRA_HOOK_SECRET=HOOK_SECRET
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "okrsync.cli", "--config", str(config), "--log-format", "json",
             "--log-level", "debug", "run", "--shutdown-timeout", "20"],
            stdout=sink, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    daemon = Daemon(process, port, log)
    wait_for("/healthz", lambda: requests.get(f"{daemon.url}/healthz", timeout=1).ok)
    return daemon


def events(daemon: Daemon) -> list[dict[str, Any]]:
    found = []
    for line in daemon.logs().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def metric_ticks(daemon: Daemon) -> int:
    """The daemon's metric jobs for ONB-1 so far: readings here, and skips."""
    return sum(
        1
        for e in events(daemon)
        if (e.get("event") in ("metric.read", "metric.failed") and e.get("kr") == "ONB-1")
        or (e.get("event") == "job.skipped" and e.get("job") == "metric:ONB-1")
    )


def status_of(config: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "okrsync.cli", "--config", str(config), "--log-level", "error",
         "status", "--format", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found: dict[str, Any] = json.loads(done.stdout)["objectives"][0]["key_results"][0]
    return found


@pytest.mark.integration
def test_run_samples_on_the_metrics_interval_and_moves_the_comment(
    tmp_path: Path, jira: JiraSandbox, kpi: Kpi
) -> None:
    port = free_port()
    config = tmp_path / "okrsync.yaml"
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    write_config(
        config, store_url=url, jira_url=jira.url, kpi_url=kpi.url, metric_interval="1s", port=port
    )
    daemon = start_daemon(config, tmp_path / "daemon.log", port)
    try:
        # The first reading is stored and the (hourly) Jira cycle shows it.
        wait_for("a first sample", lambda: any(v == 72.0 for v, _, _ in samples(url)))
        wait_for("the comment with 72", lambda: "now 72;" in managed_body(jira))
        assert all(origin == "http" for _, _, origin in samples(url))

        # A changed value: a new sample, and a Jira cycle long before the hour is up.
        kpi.value = 80.0
        wait_for("a sample of 80", lambda: samples(url)[-1][0] == 80.0)
        wait_for("the comment with 80", lambda: "now 80;" in managed_body(jira))
        assert status_of(config)["current"] == 80

        # A failing reading: metric_error in the status, the last good sample kept.
        kpi.status = 500
        wait_for("the metric error", lambda: status_of(config)["metric_error"] is not None)
        last = samples(url)[-1]
        assert last[0] == 80.0
        status = status_of(config)
        assert status["current"] == 80 and "HTTP 500" in status["metric_error"]
        # More failed readings add no sample; the comment keeps the last good value.
        seen = len(kpi.hits)
        wait_for("two more failed readings", lambda: len(kpi.hits) >= seen + 2)
        assert samples(url)[-1] == last
        assert "now 80;" in managed_body(jira)

        # It reads again: the error is cleared.
        kpi.status = 200
        wait_for("the error cleared", lambda: status_of(config)["metric_error"] is None)
        assert daemon.stop() == 0
    finally:
        daemon.stop()
    assert any(e.get("event") == "metric.failed" for e in events(daemon))


@pytest.mark.integration
@pytest.mark.parametrize("interval", ["1h", "2s"])
def test_two_daemons_on_one_store_read_the_metric_once_per_interval(
    tmp_path: Path, jira: JiraSandbox, kpi: Kpi, interval: str
) -> None:
    """Hourly: both replicas tick at their start and exactly one reads. Every 2 s: over a
    few intervals, never more readings than one per lease (0.8 of the interval)."""
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    Store(url).close()  # the schema, before two processes race to create it
    daemons: list[Daemon] = []
    try:
        for name in ("a", "b"):
            port = free_port()
            config = tmp_path / f"{name}.yaml"
            write_config(
                config, store_url=url, jira_url=jira.url, kpi_url=kpi.url,
                metric_interval=interval, port=port,
            )  # fmt: skip
            daemons.append(start_daemon(config, tmp_path / f"{name}.log", port))
        if interval == "1h":
            wait_for("both replicas' first metric tick", lambda: all(map(metric_ticks, daemons)))
            assert len(kpi.hits) == 1 and len(samples(url)) == 1
        else:
            wait_for(
                "both replicas' third metric tick", lambda: min(map(metric_ticks, daemons)) >= 3
            )
            wait_for("six readings", lambda: len(kpi.hits) >= 6, timeout=30)
            with kpi.lock:
                hits = list(kpi.hits)
            # Between two readings by different replicas, the lease's 1.6 s at least (one
            # second of slack for when each request left after its lease was taken); one
            # replica's own readings are an interval apart.
            span = hits[-1] - hits[0]
            assert len(hits) - 1 <= (span + 1.0) / 1.6, hits
        for daemon in daemons:
            assert daemon.stop() == 0
    finally:
        for daemon in daemons:
            daemon.stop()
