"""One writer, whatever runs: `okrsync sync --once` takes the daemon's `pull:<source>`
leases, so two syncs, or a sync and a daemon, never write one target at once; a sync
killed with SIGKILL at any moment leaves nothing a normal cycle cannot finish; relative
SQLite paths are read from the config's directory. Real CLI subprocesses against the
Jira sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import delete

from okrsync.cli import main
from okrsync.service.writer import (
    SourceBusyError,
    SourceLeases,
    holder_is_gone,
    lease_name,
    process_owner,
)
from okrsync.store import Store
from okrsync.store._tables import writebacks
from okrsync_sandbox import HttpRequest, HttpResponse, JiraSandbox

EMAIL, TOKEN = "bot@acme.example", "daemon-secret-token"  # test_daemon.start_daemon's
ENV = dict(os.environ, OKR_JIRA_EMAIL=EMAIL, OKR_JIRA_TOKEN=TOKEN)
TARGETS = ("ONB-1", "ONB-3")  # the two epics; ONB-2 and ONB-4 are their stories


# -- the lease wait, with an injected clock ------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def leases(store: Store, sources: list[str], fake: FakeTime, **options: object) -> SourceLeases:
    return SourceLeases(
        store,
        sources,
        owner="cli-a",
        clock=fake.clock,
        sleep=fake.sleep,
        poll=0.5,
        renew=False,
        is_gone=lambda holder: False,
        **options,  # type: ignore[arg-type]
    )


def test_free_leases_are_taken_at_once_in_sorted_order(store: Store) -> None:
    fake = FakeTime()
    taken: list[str] = []
    original = store.acquire_lease

    def spy(name: str, owner: str, ttl_seconds: float, now: datetime | None = None) -> bool:
        taken.append(name)
        return original(name, owner, ttl_seconds, now)

    store.acquire_lease = spy  # type: ignore[method-assign]
    with leases(store, ["jira", "asana", "github"], fake, wait=10):
        assert taken == ["pull:asana", "pull:github", "pull:jira"]
        assert all(store.lease_holder(lease_name(s)) == "cli-a" for s in ("asana", "jira"))
    assert fake.sleeps == []
    assert store.lease_holder("pull:jira") is None  # released on the way out


def test_a_held_source_is_polled_until_wait_then_named_with_its_holder(store: Store) -> None:
    fake = FakeTime()
    assert store.acquire_lease("pull:jira", "daemon-b", 600)

    with pytest.raises(SourceBusyError) as busy:
        leases(store, ["github", "jira"], fake, wait=3).acquire()

    assert sum(fake.sleeps) == pytest.approx(3) and len(fake.sleeps) == 6
    message = str(busy.value)
    assert "jira" in message and "daemon-b" in message and "\n" not in message
    assert store.lease_holder("pull:github") is None  # what it had taken is given back
    assert store.lease_holder("pull:jira") == "daemon-b"


def test_a_lease_released_while_waiting_is_taken(store: Store) -> None:
    fake = FakeTime()
    assert store.acquire_lease("pull:jira", "daemon-b", 600)
    sleep = fake.sleep

    def sleep_then_release(seconds: float) -> None:
        sleep(seconds)
        if len(fake.sleeps) == 3:
            store.release_lease("pull:jira", "daemon-b")

    fake.sleep = sleep_then_release  # type: ignore[method-assign]
    with leases(store, ["jira"], fake, wait=60) as held:
        assert held.held == ["pull:jira"] and store.lease_holder("pull:jira") == "cli-a"
    assert len(fake.sleeps) == 3


def test_wait_zero_tries_once(store: Store) -> None:
    fake = FakeTime()
    assert store.acquire_lease("pull:jira", "daemon-b", 600)
    with pytest.raises(SourceBusyError):
        leases(store, ["jira"], fake, wait=0).acquire()
    assert fake.sleeps == []


def test_a_dead_holder_is_taken_over_at_once(store: Store) -> None:
    fake = FakeTime()
    assert store.acquire_lease("pull:jira", "dead-c", 600)
    held = leases(store, ["jira"], fake, wait=60)
    held._is_gone = lambda holder: holder == "dead-c"
    with held:
        assert store.lease_holder("pull:jira") == "cli-a"
    assert fake.sleeps == []


def test_holder_is_gone_only_for_a_dead_process_of_this_machine() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    mine = process_owner().split(":")
    alive = ":".join([mine[0], str(child.pid), "abcd1234", mine[3]])
    assert not holder_is_gone(alive)
    child.kill()
    child.wait()
    assert holder_is_gone(alive)
    daemon_format = ":".join(alive.split(":")[:3])  # no namespace: cannot tell, so alive
    assert not holder_is_gone(daemon_format)
    assert not holder_is_gone(alive.replace(mine[0], "other-host", 1))
    assert not holder_is_gone(process_owner())  # ourselves


def test_a_cycle_longer_than_the_ttl_keeps_its_lease(store: Store) -> None:
    with SourceLeases(store, ["jira"], ttl=0.4, owner="cli-a"):
        time.sleep(1.2)  # three TTLs; renewed every 0.1 s
        assert store.acquire_lease("pull:jira", "daemon-b", 60) is False
    assert store.lease_holder("pull:jira") is None


# -- sandbox, config, CLI -------------------------------------------------------------------


class SlowJira(JiraSandbox):
    """The Jira sandbox, answering each request `latency` seconds late (outside its lock)."""

    latency = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight = 0
        self._settled = threading.Condition()

    def dispatch(self, request: HttpRequest) -> HttpResponse:
        with self._settled:
            self._in_flight += 1
        try:
            if self.latency:
                time.sleep(self.latency)
            return super().dispatch(request)
        finally:
            with self._settled:
                self._in_flight -= 1
                self._settled.notify_all()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until every request received is applied: one a killed process sent is
        still on its way meanwhile (the latency), and would land during the next cycle."""
        with self._settled:
            assert self._settled.wait_for(lambda: self._in_flight == 0, timeout)


@pytest.fixture
def jira() -> Iterator[SlowJira]:
    with SlowJira(mode="cloud", email=EMAIL, token=TOKEN) as sandbox:
        for n in range(2):
            epic = sandbox.add_issue(
                project="ONB",
                summary=f"Epic {n}",
                issuetype="Epic",
                status="In Progress",
                labels=["okr:ONB-1"],
            )
            sandbox.add_issue(
                project="ONB", summary="Step", issuetype="Story", status="Done", parent=epic
            )
        yield sandbox
        assert sandbox.violations == []


def write_config(directory: Path, jira_url: str, store_url: str, listen: int | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    service = f"service: {{listen: 127.0.0.1:{listen}}}\n" if listen else ""
    path = directory / "okrsync.yaml"
    path.write_text(f"""\
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "{store_url}"}}
sources:
  jira:
    url: {jira_url}
    auth: {{email_env: OKR_JIRA_EMAIL, token_env: OKR_JIRA_TOKEN}}
    jql: "project = ONB"
    interval: 1s
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - id: ONB-1
        title: Completion from 68% to 85%
        baseline: 68
        target: 85
{service}""")
    return path


def okrsync(config: Path, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "okrsync.cli", "--config", str(config), "--log-format", "json",
         *args],
        env=ENV, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


# The real CLI, started ahead and held at a gate until `go()`: the interpreter's start-up
# (about a second) stays out of each round, and the processes of a round begin together.
GATED = (
    "import sys; from okrsync.cli import main; sys.stdin.readline(); sys.exit(main(sys.argv[1:]))"
)


def gated(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", GATED, "--config", str(config), "--log-format", "json", *args],
        env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def go(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.close()
        process.stdin = None  # so that communicate() does not flush it


def managed_counts(jira: JiraSandbox) -> dict[str, int]:
    return {key: len(jira.comments(key)) for key in TARGETS}


def delete_comments(jira: JiraSandbox) -> None:
    """Delete the managed comments through the API, as a person would."""
    for key in TARGETS:
        for comment in jira.comments(key):
            answer = requests.delete(
                f"{jira.url}/rest/api/2/issue/{key}/comment/{comment['id']}",
                auth=(EMAIL, TOKEN),
                timeout=10,
            )
            assert answer.status_code == 204, answer.text


def forget_writebacks(store_url: str) -> None:
    with Store(store_url) as store, store.engine.begin() as connection:
        connection.execute(delete(writebacks))


# -- two writers ----------------------------------------------------------------------------

ROUNDS = 20


@pytest.mark.integration
def test_two_syncs_started_together_never_post_twice(
    tmp_path: Path, store_url: str, jira: SlowJira
) -> None:
    config = write_config(tmp_path, jira.url, store_url)
    jira.latency = 0.02  # each cycle's write-back spans a while: the two would overlap
    codes: Counter[int] = Counter()
    pair = [gated(config, "sync", "--once", "--wait", "20") for _ in range(2)]
    for round_ in range(ROUNDS):
        if round_:
            delete_comments(jira)
            forget_writebacks(store_url)  # so both processes believe there is work to do
        current, pair = pair, [gated(config, "sync", "--once", "--wait", "20") for _ in range(2)]
        go(*current)
        for process in current:
            out, err = process.communicate(timeout=120)
            codes[process.returncode] += 1
            assert "Traceback" not in err, err
            assert process.returncode in (0, 1), err
            if process.returncode == 1:
                assert "is being synced by" in err, err
        assert managed_counts(jira) == dict.fromkeys(TARGETS, 1), f"round {round_}"
    for process in pair:
        process.kill()
        process.communicate()
    print(f"\n{ROUNDS} rounds, exit codes {dict(codes)}, 0 duplicates")
    with Store(store_url) as store:
        assert store.lease_holder("pull:jira") is None


@pytest.mark.integration
def test_a_daemon_and_a_manual_sync_never_post_twice(tmp_path: Path, jira: SlowJira) -> None:
    from test_daemon import free_port, start_daemon, wait_for

    store_url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    port = free_port()
    config = write_config(tmp_path, jira.url, store_url, listen=port)
    jira.latency = 0.02
    daemon = start_daemon(config, tmp_path / "daemon.log", port)
    manual_created = 0
    try:
        for _ in range(6):
            wait_for("both comments", lambda: managed_counts(jira) == dict.fromkeys(TARGETS, 1))
            delete_comments(jira)
            forget_writebacks(store_url)
            manual = okrsync(config, "sync", "--once", "--wait", "20")
            out, err = manual.communicate(timeout=120)
            assert manual.returncode == 0 and "Traceback" not in err, err
            manual_created += int(out.split("comments created ")[1].split(",")[0])
            assert max(managed_counts(jira).values()) <= 1
        wait_for("both comments", lambda: managed_counts(jira) == dict.fromkeys(TARGETS, 1))
        time.sleep(2)  # a few more daemon ticks
    finally:
        assert daemon.stop() == 0
    assert managed_counts(jira) == dict.fromkeys(TARGETS, 1)
    assert "Traceback" not in daemon.logs()
    posts = sum(1 for r in jira.writes if r.method == "POST")
    print(f"\n7 creations of 2 comments: {posts} POSTs, {manual_created} by the manual sync")
    assert posts == 14


# -- kill -9 ----------------------------------------------------------------------------------

KILLS = 30


def kill_after_requests(
    victim: subprocess.Popen[str], jira: SlowJira, before: int, answered: int, rng: random.Random
) -> None:
    """Wait until the sandbox has answered `answered` of the victim's requests (0: a
    moment after its start), then a random part of one request's latency: kills spread
    over opening the store, the pull, the computation and each write, however loaded
    the machine is."""
    if answered == 0:
        time.sleep(rng.uniform(0.0, 0.3))
        return
    deadline = time.monotonic() + 30
    while victim.poll() is None and len(jira.requests) - before < answered:
        assert time.monotonic() < deadline, "the victim made no progress"
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, jira.latency))


def phase_at_kill(jira: JiraSandbox, before: int) -> str:
    """Where a cycle was, by the requests it had been answered."""
    paths = [r.path for r in jira.requests[before:]]
    if not paths:
        return "store/lease"
    if any("/comment" in path for path in paths):
        return "write-back"
    return "pull/compute"


@pytest.mark.integration
def test_syncs_killed_at_any_moment_leave_one_comment_per_target_and_every_sample(
    tmp_path: Path,
    jira: SlowJira,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OKR_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("OKR_JIRA_TOKEN", TOKEN)
    store_url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    config = write_config(tmp_path, jira.url, store_url)
    rng = random.Random(20261206)
    recorded: list[tuple[float, datetime]] = []
    phases: Counter[str] = Counter()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    cli = ["--config", str(config), "--log-format", "json"]
    victim = gated(config, "sync", "--once", "--wait", "30")
    kill = -1
    while sum(phases.values()) - phases["finished"] < KILLS:  # 30 kills of running syncs
        kill += 1
        assert kill < 2 * KILLS
        value, at = 68.0 + kill / 2, start + timedelta(hours=kill)
        assert main([*cli, "metric", "set", "ONB-1", str(value), "--at", at.isoformat()]) == 0
        recorded.append((value, at))
        if kill % 6 == 5:
            delete_comments(jira)  # some kills land while comments are being created
        before = len(jira.requests)
        jira.latency = 0.1  # a cycle of 5-7 requests spans 0.5-0.7 s after its start-up
        current, victim = victim, gated(config, "sync", "--once", "--wait", "30")
        go(current)
        kill_after_requests(current, jira, before, rng.randint(0, 7), rng)
        phase = phase_at_kill(jira, before) if current.poll() is None else "finished"
        current.send_signal(signal.SIGKILL)
        current.communicate(timeout=30)
        phases[phase] += 1
        if kill % 2 == 1:  # two kills in a row, then a normal cycle
            jira.latency = 0.0
            jira.settle()
            assert main([*cli, "sync", "--once", "--wait", "30"]) == 0
            assert managed_counts(jira) == dict.fromkeys(TARGETS, 1), f"after kill {kill}"
    victim.kill()
    victim.communicate()
    jira.latency = 0.0
    jira.settle()
    assert main([*cli, "sync", "--once", "--wait", "30"]) == 0  # the normal cycle after the last
    capsys.readouterr()

    status = okrsync(config, "status", "--format", "json", cwd=tmp_path.parent)
    out, err = status.communicate(timeout=60)
    assert status.returncode == 0, err
    onb1 = json.loads(out)["objectives"][0]["key_results"][0]
    assert onb1["current"] == recorded[-1][0]
    with Store(store_url) as store:
        stored = {(s.value, s.at) for s in store.samples("ONB-1")}
        assert stored == set(recorded)  # no sample lost
        assert store.lease_holder("pull:jira") is None
    assert managed_counts(jira) == dict.fromkeys(TARGETS, 1)
    print(f"\n{kill + 1} SIGKILLs by phase: {dict(phases)}; 0 duplicates, 0 samples lost")
    # Spread over the phases (the figures vary with the machine's load; each must occur).
    assert phases["write-back"] >= 1 and phases["pull/compute"] >= 1


# -- exit 1 with a message; dry runs take no lease -------------------------------------------


def test_a_busy_source_exits_1_with_one_line_naming_it_and_its_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OKR_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("OKR_JIRA_TOKEN", TOKEN)
    store_url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    config = write_config(
        tmp_path, "http://127.0.0.1:9", store_url
    )  # never reached: it waits first
    with Store(store_url) as store:
        assert store.acquire_lease("pull:jira", "box:4242:cafe0123", 600)

    code = main(["--config", str(config), "sync", "--once", "--wait", "0"])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1] == (
        "okrsync: source jira is being synced by box:4242:cafe0123 (lease pull:jira); "
        "gave up after waiting 0 s (--wait)"
    )


def test_a_dry_run_needs_no_lease(tmp_path: Path, jira: SlowJira) -> None:
    store_url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    config = write_config(tmp_path, jira.url, store_url)
    with Store(store_url) as store:
        assert store.acquire_lease("pull:jira", "box:4242:cafe0123", 600)
    dry = okrsync(config, "sync", "--once", "--dry-run", "--wait", "0")
    out, err = dry.communicate(timeout=60)
    assert dry.returncode == 0, err
    assert "nothing written" in out and jira.writes == []


# -- relative SQLite paths ------------------------------------------------------------------


def test_a_relative_sqlite_path_is_read_from_the_config_directory(
    tmp_path: Path, jira: SlowJira
) -> None:
    config = write_config(tmp_path / "config", jira.url, "sqlite:///okrsync.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    for cwd in (elsewhere, tmp_path):
        sync = okrsync(config, "sync", "--once", cwd=cwd)
        out, err = sync.communicate(timeout=60)
        assert sync.returncode == 0, err
    status = okrsync(config, "status", "--format", "json", cwd=elsewhere)
    out, err = status.communicate(timeout=60)

    assert status.returncode == 0, err
    assert (tmp_path / "config" / "okrsync.db").exists()
    assert list(elsewhere.iterdir()) == [] and not (tmp_path / "okrsync.db").exists()
    assert json.loads(out)["objectives"][0]["key_results"][0]["items"]["total"] == 2  # two leaves
    assert managed_counts(jira) == dict.fromkeys(TARGETS, 1)  # the 2nd run used the same store
