"""`okrsync run` as a real subprocess against the Jira sandbox: schedule, endpoints,
webhooks, reload, SIGTERM, and two replicas sharing one PostgreSQL database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import pytest
import requests
from apscheduler.schedulers.background import BackgroundScheduler
from signing import jira_headers

from okrsync.config import load_config
from okrsync.logs import redact_secrets
from okrsync.service.daemon import Daemon as DaemonService
from okrsync.service.daemon import _Shared
from okrsync.store import Store
from okrsync_sandbox import GitHubSandbox, JiraSandbox

pytestmark = pytest.mark.integration

EMAIL, TOKEN, HOOK_SECRET = "bot@acme.example", "daemon-secret-token", "jira-hook-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> float:
    """Poll until `check()`; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def write_config(
    path: Path, jira: JiraSandbox, store_url: str, port: int, interval: str, title: str
) -> None:
    path.write_text(f"""\
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "{store_url}"}}
sources:
  jira:
    url: {jira.url}
    auth: {{email_env: OKR_JIRA_EMAIL, token_env: OKR_JIRA_TOKEN}}
    jql: "project = ONB"
    interval: {interval}
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - id: ONB-1
        title: {title}
        baseline: 68
        target: 85
service:
  listen: 127.0.0.1:{port}
  webhooks: {{jira_secret_env: OKR_JIRA_HOOK_SECRET}}
""")


def start_daemon(config: Path, log: Path, port: int) -> Daemon:
    env = dict(
        os.environ, OKR_JIRA_EMAIL=EMAIL, OKR_JIRA_TOKEN=TOKEN, OKR_JIRA_HOOK_SECRET=HOOK_SECRET
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "okrsync.cli", "--config", str(config), "--log-format", "json",
             "run", "--shutdown-timeout", "20"],
            stdout=sink, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    daemon = Daemon(process, port, log)
    wait_for(
        "/healthz", lambda: requests.get(f"{daemon.url}/healthz", timeout=1).status_code == 200
    )
    return daemon


@pytest.fixture
def jira() -> Iterator[JiraSandbox]:
    with JiraSandbox(mode="cloud", email=EMAIL, token=TOKEN) as sandbox:
        epic = sandbox.add_issue(
            project="ONB",
            summary="Wizard",
            issuetype="Epic",
            status="In Progress",
            labels=["okr:ONB-1"],
        )
        sandbox.add_issue(
            project="ONB", summary="Step one", issuetype="Story", status="Done", parent=epic
        )
        sandbox.add_issue(
            project="ONB", summary="Step two", issuetype="Story", status="To Do", parent=epic
        )
        yield sandbox
        assert sandbox.violations == []


def managed_body(jira: JiraSandbox) -> str:
    comments = jira.comments("ONB-1")
    assert len(comments) <= 1, "a second managed comment"
    return comments[0]["body"] if comments else ""


def signed(body: bytes, secret: str = HOOK_SECRET) -> dict[str, str]:
    return jira_headers(secret, body)


def test_daemon_syncs_serves_reacts_to_webhooks_reloads_and_stops_cleanly(
    tmp_path: Path, jira: JiraSandbox
) -> None:
    port = free_port()
    config = tmp_path / "okrsync.yaml"
    write_config(
        config, jira, f"sqlite:///{tmp_path / 'okrsync.db'}", port, "1h", "Completion 68 to 85"
    )
    daemon = start_daemon(config, tmp_path / "daemon.log", port)
    try:
        # The first scheduled cycle runs at start.
        wait_for("the first comment", lambda: "1 of 2 work items done" in managed_body(jira))
        # Ready once the first cycle has finished (the comment is written inside it).
        wait_for("ready", lambda: requests.get(f"{daemon.url}/readyz", timeout=2).ok)
        ready = requests.get(f"{daemon.url}/readyz", timeout=2)
        assert ready.status_code == 200 and ready.json()["store"] == "ok"
        wait_for(
            "a recorded cycle",
            lambda: "jira" in requests.get(f"{daemon.url}/readyz", timeout=2).json()["last_cycles"],
        )
        metrics = requests.get(f"{daemon.url}/metrics", timeout=2).text
        assert 'okrsync_cycles_total{result="ok",source="jira"} 1.0' in metrics
        assert 'okrsync_api_requests_total{method="POST",source="jira",status="201"} 1.0' in metrics
        # The HTML report, from the store: the KR, its two charts, a link to its epic.
        page = requests.get(f"{daemon.url}/report", timeout=5)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert 'data-kr-id="ONB-1"' in page.text and page.text.count("<svg") == 2
        assert f'href="{jira.url}/browse/ONB-1"' in page.text

        # A signed webhook makes the change show within seconds, not at the hourly interval.
        jira.set_status("ONB-3", "Done")
        payload = json.dumps(
            {"webhookEvent": "jira:issue_updated", "issue": {"key": "ONB-3"}}
        ).encode()
        answer = requests.post(
            f"{daemon.url}/webhooks/jira", data=payload, headers=signed(payload), timeout=2
        )
        assert answer.status_code < 300
        took = wait_for(
            "the webhook's edit", lambda: "2 of 2 work items done" in managed_body(jira), timeout=5
        )
        assert took < 5

        # An unsigned one is refused and changes nothing.
        writes_before = len(jira.writes)
        forged = requests.post(
            f"{daemon.url}/webhooks/jira",
            data=payload,
            headers=signed(payload, "wrong-secret"),
            timeout=2,
        )
        assert forged.status_code == 401
        time.sleep(1)
        assert len(jira.writes) == writes_before

        # A changed config file is picked up; an invalid one is reported and the old one kept.
        write_config(
            config, jira, f"sqlite:///{tmp_path / 'okrsync.db'}", port, "1h", "Completion 68 to 90"
        )
        wait_for(
            "the reloaded title", lambda: "Completion 68 to 90" in managed_body(jira), timeout=10
        )
        config.write_text(config.read_text().replace("version: 1", "version: 1\nbogus_key: 1"))
        wait_for("the rejection", lambda: "config.reload_rejected" in daemon.logs(), timeout=60)
        assert f"{config}:2: bogus_key: unknown key" in daemon.logs()
        assert requests.get(f"{daemon.url}/healthz", timeout=2).status_code == 200
    finally:
        code = daemon.stop()
    assert code == 0
    assert TOKEN not in daemon.logs() and HOOK_SECRET not in daemon.logs()
    assert len(jira.comments("ONB-1")) == 1


def test_sigterm_mid_cycle_finishes_the_cycle_and_keeps_its_writes(
    tmp_path: Path, jira: JiraSandbox
) -> None:
    port = free_port()
    config = tmp_path / "okrsync.yaml"
    store_url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    write_config(config, jira, store_url, port, "1h", "Completion 68 to 85")
    jira.fail_next(1, status=429, retry_after="3")  # holds the first cycle in flight for 3 s
    daemon = start_daemon(config, tmp_path / "daemon.log", port)
    wait_for("the rate-limited request", lambda: any(r.status == 429 for r in jira.requests))

    code = daemon.stop(signal.SIGTERM)

    assert code == 0
    assert "1 of 2 work items done" in managed_body(jira)  # the cycle finished before the exit
    with Store(store_url) as store:
        assert store.writeback("jira:ONB-1") is not None  # and its record was saved
        assert store.lease_holder("pull:jira") is None  # the lease was handed back


def start_replicas(
    tmp_path: Path, jira: JiraSandbox, store_url: str, interval: str
) -> list[Daemon]:
    daemons = []
    for name in ("a", "b"):
        port = free_port()
        config = tmp_path / f"{name}.yaml"
        write_config(config, jira, store_url, port, interval, "Completion 68 to 85")
        daemons.append(start_daemon(config, tmp_path / f"{name}.log", port))
    return daemons


def cycles_logged(daemon: Daemon) -> int:
    return daemon.logs().count('"event": "sync.source_done"')


@pytest.mark.postgres
def test_two_replicas_on_postgres_never_write_twice_and_go_on_when_one_dies(
    tmp_path: Path, jira: JiraSandbox, postgres_url: str
) -> None:
    daemons = start_replicas(tmp_path, jira, postgres_url, "1s")
    try:
        wait_for("the first comment", lambda: "1 of 2 work items done" in managed_body(jira))
        time.sleep(4)  # several intervals in which both replicas tick
        assert [r.method for r in jira.writes] == ["POST"]  # one comment, written once
        total = sum(cycles_logged(d) for d in daemons)
        assert 2 <= total <= 7  # about one cycle an interval between them, not one each
        victim, survivor = daemons
        survivor_before = cycles_logged(survivor)

        victim.stop(signal.SIGKILL)  # no chance to hand anything back
        jira.set_status("ONB-3", "Done")

        took = wait_for(
            "the survivor's edit",
            lambda: "2 of 2 work items done" in managed_body(jira),
            timeout=15,
        )
        assert took < 8  # the dead replica's leases lapse within an interval
        wait_for(  # the survivor wrote it: its cycle log follows the write by a moment
            "the survivor's cycle log",
            lambda: cycles_logged(survivor) > survivor_before,
            timeout=5,
        )
        assert [r.method for r in jira.writes].count("POST") == 1
    finally:
        for daemon in daemons:
            daemon.stop(signal.SIGKILL) if daemon.process.poll() is None else None


@pytest.mark.postgres
def test_a_webhook_to_the_replica_that_did_not_run_last_is_acted_on_at_once(
    tmp_path: Path, jira: JiraSandbox, postgres_url: str
) -> None:
    daemons = start_replicas(tmp_path, jira, postgres_url, "1h")
    try:
        wait_for("the first comment", lambda: "1 of 2 work items done" in managed_body(jira))
        with Store(postgres_url) as store:
            last = wait_for("the ran lease", lambda: store.lease_holder("ran:jira") is not None)
            holder = store.lease_holder("ran:jira")
        assert last < 5 and holder is not None
        other = next(d for d in daemons if d.process.pid != int(holder.split(":")[1]))
        jira.set_status("ONB-3", "Done")
        payload = json.dumps(
            {"webhookEvent": "jira:issue_updated", "issue": {"key": "ONB-3"}}
        ).encode()

        answer = requests.post(
            f"{other.url}/webhooks/jira", data=payload, headers=signed(payload), timeout=2
        )

        assert answer.status_code < 300
        took = wait_for(
            "the edit", lambda: "2 of 2 work items done" in managed_body(jira), timeout=5
        )
        assert took < 5 and len(jira.comments("ONB-1")) == 1
    finally:
        for daemon in daemons:
            daemon.stop(signal.SIGKILL) if daemon.process.poll() is None else None


def test_a_slow_source_does_not_hold_up_another(
    tmp_path: Path, jira: JiraSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    with GitHubSandbox(token="ghp_daemontoken") as github:
        github.add_repo("acme/web")
        number = github.add_issue("acme/web", "Checklist", labels=["okr:ONB-1"])
        port = free_port()
        config = tmp_path / "okrsync.yaml"
        write_config(config, jira, f"sqlite:///{tmp_path / 'okrsync.db'}", port, "1h", "Completion")
        config.write_text(
            config.read_text().replace(
                "objectives:",
                f"""\
  github:
    url: {github.url}
    token_env: OKR_GITHUB_TOKEN
    repos: [acme/web]
    interval: 1h
    seconds_between_requests: 0
    seconds_between_writes: 0
objectives:""",
            )
        )
        os.environ["OKR_GITHUB_TOKEN"] = "ghp_daemontoken"
        github.fail_next(1, status=429, retry_after="6")  # GitHub's first cycle waits 6 s
        try:
            daemon = start_daemon(config, tmp_path / "daemon.log", port)
            try:
                took = wait_for(
                    "Jira's comment", lambda: "1 of 2 work items done" in managed_body(jira)
                )
                assert took < 4  # Jira did not wait for GitHub's rate limit
                assert github.comments("acme/web", number) == []  # GitHub is still waiting
                wait_for("GitHub's comment", lambda: len(github.comments("acme/web", number)) == 1)
            finally:
                assert daemon.stop() == 0
        finally:
            del os.environ["OKR_GITHUB_TOKEN"]
        assert github.violations == []


# ------------------------------------------------------------ readiness, in process


def in_process_daemon(tmp_path: Path) -> DaemonService:
    """A daemon with its config and store open, its jobs called by hand (no scheduler)."""
    config, database = tmp_path / "okrsync.yaml", tmp_path / "okrsync.db"
    config.write_text(f"""\
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "sqlite:///{database}"}}
sources:
  jira:
    url: http://127.0.0.1:9
    auth: {{email_env: OKR_JIRA_EMAIL, token_env: OKR_JIRA_TOKEN}}
    jql: "project = ONB"
  github:
    repos: [acme/web]
objectives:
  - id: ONB
    title: Onboarding
    key_results: [{{id: ONB-1, title: Completion, baseline: 68, target: 85}}]
""")
    daemon = DaemonService(config)
    loaded = load_config(config)
    daemon._shared = _Shared(loaded)
    daemon._store = Store(loaded.config.store.url)
    return daemon


def test_readyz_waits_for_every_source_and_names_a_crashed_job(tmp_path: Path) -> None:
    daemon = in_process_daemon(tmp_path)
    crash: dict[str, Exception] = {}

    def cycle(name: str, shared: object) -> None:
        if name in crash:
            raise crash[name]

    daemon._cycle = cycle  # type: ignore[method-assign]
    try:
        ready, body = daemon.readiness()
        assert not ready and body["waiting_for_first_cycle"] == ["jira", "github"]

        daemon.sync_source("jira", urgent=True)
        ready, body = daemon.readiness()
        assert not ready and body["waiting_for_first_cycle"] == ["github"]

        # An exception that escapes the job: logged, kept, and /readyz says which and why.
        crash["github"] = RuntimeError("boom at https://bot:s3cr3t-t0ken@api.example")
        redact_secrets.add("s3cr3t-t0ken")
        daemon.sync_source("github", urgent=True)  # nothing escapes to the scheduler
        ready, body = daemon.readiness()
        assert not ready
        assert body["waiting_for_first_cycle"] == ["github"]
        assert body["crashed"] == {
            "github": "RuntimeError: boom at https://bot:[redacted]@api.example"
        }

        # The next good run clears it.
        del crash["github"]
        daemon.sync_source("github", urgent=True)
        ready, body = daemon.readiness()
        assert ready and "crashed" not in body and "waiting_for_first_cycle" not in body

        # A crash after a good first cycle is 503 too, until the next good one.
        crash["jira"] = ValueError("bad")
        daemon.sync_source("jira", urgent=True)
        ready, body = daemon.readiness()
        assert (ready, body["crashed"]) == (False, {"jira": "ValueError: bad"})
        assert "waiting_for_first_cycle" not in body
    finally:
        daemon._require_store().close()


def test_a_tick_skipped_because_another_replica_ran_counts_as_finished(tmp_path: Path) -> None:
    daemon = in_process_daemon(tmp_path)
    store = daemon._require_store()
    try:
        for name in ("jira", "github"):
            assert store.acquire_lease(f"ran:{name}", "the-other-replica", 600)
            daemon.sync_source(name)  # a scheduled tick: skipped, the store is fresh
        assert daemon.readiness()[0] is True
    finally:
        store.close()


def test_start_up_exports_per_source_counters_at_zero(tmp_path: Path) -> None:
    daemon = in_process_daemon(tmp_path)
    daemon._scheduler = BackgroundScheduler(timezone=UTC)
    try:
        assert daemon._shared is not None
        daemon._schedule_all(daemon._shared.loaded.config)
        body = daemon.telemetry.render()[0].decode()
        for name in ("jira", "github"):
            assert f'okrsync_cycles_total{{result="failed",source="{name}"}} 0.0' in body
            assert f'okrsync_writebacks_total{{action="created",source="{name}"}} 0.0' in body
    finally:
        daemon._require_store().close()
