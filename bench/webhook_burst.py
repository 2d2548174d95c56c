"""Webhook bursts against a real `okrsync run`: pulls per burst, and how soon the last
change lands in the store.

A real daemon (`okrsync run`, a subprocess) syncs a Jira sandbox (Cloud by default, each
answer delayed by `--latency`, like a network hop) on an hourly interval. Each burst
posts `--events` signed `jira:issue_updated` webhooks to its HTTP endpoint, evenly within
`--span` seconds; right before the last one, an issue's status really changes in the
sandbox. Per burst: the pulls (searches in the sandbox's request log, from the burst's
first event until just before the next burst, which starts `--gap` seconds after the
change landed) and the time from the last event to the new status in the store
(polled every 5 ms). Prints the figures and writes them to their section of
bench/RESULTS.md (one per `--label`).

The goal (docs/design.md, "Speed and politeness"): at most 2 pulls a burst, and the last
change in the store within 2 s (p95).

    python bench/webhook_burst.py [--bursts 100] [--events 100] [--span 0.9] [--gap 1.0]
                                  [--latency 0.05] [--mode cloud|server]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from okrsync.store import Store
from okrsync_sandbox import JiraSandbox

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # tests/signing.py: how Jira signs a delivery
from signing import jira_headers  # noqa: E402
from standard import Report, machine, with_latency, write_results  # noqa: E402

BEGIN, END = "<!-- bench/webhook_burst.py: begin -->", "<!-- bench/webhook_burst.py: end -->"
EMAIL, TOKEN, SECRET = "bench@acme.example", "bench-token", "bench-hook-secret"
STORIES = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(jira: JiraSandbox) -> list[str]:
    last_week = datetime.now(UTC) - timedelta(days=7)
    epic = jira.add_issue(
        "ONB", "Wizard", issuetype="Epic", status="In Progress", labels=["okr:ONB-1"],
        updated=last_week,
    )  # fmt: skip
    return [
        jira.add_issue("ONB", f"Step {n}", parent=epic, story_points=2.0, updated=last_week)
        for n in range(STORIES)
    ]


def write_config(path: Path, jira: JiraSandbox, store_url: str, port: int) -> None:
    path.write_text(f"""\
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "{store_url}"}}
sources:
  jira:
    url: {jira.url}
    auth: {{email_env: OKR_JIRA_EMAIL, token_env: OKR_JIRA_TOKEN}}
    jql: "project = ONB"
    interval: 1h
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - {{id: ONB-1, title: Completion, baseline: 0, target: 100}}
service:
  listen: 127.0.0.1:{port}
  webhooks: {{jira_secret_env: OKR_JIRA_HOOK_SECRET}}
""")


def wait_for(what: str, check: object, timeout: float = 60.0) -> None:
    assert callable(check)
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def searches(jira: JiraSandbox) -> int:
    """Pulls so far: one search a pull (a few issues: one page)."""
    return sum(
        1
        for r in jira.requests
        if r.method == "GET" and r.path.endswith(("/search/jql", "/search"))
    )


def status_in_store(store: Store, key: str) -> str | None:
    return next((i.status for i in store.items(source="jira") if i.key == key), None)


def cycles_counted(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("okrsync_cycles_total{") and 'source="jira"' in line
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def shown(milliseconds: float) -> str:
    return "never (lost)" if math.isinf(milliseconds) else f"{milliseconds:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bursts", type=int, default=100)
    parser.add_argument("--events", type=int, default=100, help="webhooks a burst")
    parser.add_argument("--span", type=float, default=0.9, help="seconds a burst lasts")
    parser.add_argument("--gap", type=float, default=1.0, help="quiet seconds after landing")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds a sandbox answer")
    parser.add_argument("--mode", choices=("cloud", "server"), default="cloud")
    parser.add_argument(
        "--land-timeout", type=float, default=30.0, help="a change not landed by then is lost"
    )
    parser.add_argument("--label", default="", help="added to the section's title")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as scratch,
        JiraSandbox(mode=args.mode, email=EMAIL, token=TOKEN) as jira,
    ):
        with_latency(jira, args.latency)
        keys = seed(jira)
        port, folder = free_port(), Path(scratch)
        store_url = f"sqlite:///{folder / 'okrsync.db'}"
        config = folder / "okrsync.yaml"
        write_config(config, jira, store_url, port)
        env = dict(
            os.environ,
            OKR_JIRA_EMAIL=EMAIL,
            OKR_JIRA_TOKEN=TOKEN,
            OKR_JIRA_HOOK_SECRET=SECRET,
        )
        log = folder / "daemon.log"
        with log.open("wb") as sink:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "okrsync.cli", "--config", str(config),
                 "--log-format", "json", "run"],
                stdout=sink, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        pulls: list[int] = []
        landed: list[float] = []
        spans: list[float] = []
        lost = 0
        try:
            wait_for("ready", lambda: requests.get(f"{url}/readyz", timeout=2).ok)
            cycles_before = cycles_counted(url)
            session = requests.Session()
            with Store(store_url) as store:
                for burst in range(args.bursts):
                    key = keys[burst % len(keys)]
                    status = "Done" if status_in_store(store, key) != "Done" else "To Do"
                    before = searches(jira)
                    began = time.perf_counter()
                    for n in range(args.events):
                        due = began + args.span * n / max(1, args.events - 1)
                        time.sleep(max(0.0, due - time.perf_counter()))
                        last = n == args.events - 1
                        if last:
                            jira.set_status(key, status)  # the change the last event tells of
                            sent = time.perf_counter()
                        named = key if last else keys[n % len(keys)]
                        body = json.dumps(
                            {"webhookEvent": "jira:issue_updated", "issue": {"key": named}}
                        ).encode()
                        answer = session.post(
                            f"{url}/webhooks/jira", data=body,
                            headers=jira_headers(SECRET, body), timeout=5,
                        )  # fmt: skip
                        answer.raise_for_status()
                    spans.append(time.perf_counter() - began)
                    while status_in_store(store, key) != status:
                        if time.perf_counter() - sent > args.land_timeout:
                            lost += 1
                            break
                        time.sleep(0.005)
                    else:
                        landed.append(time.perf_counter() - sent)
                    time.sleep(args.gap)
                    pulls.append(searches(jira) - before)
            cycles = cycles_counted(url) - cycles_before
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
        violations = jira.violations

    # A change that never landed counts as endless: p95 sees it.
    ms = [seconds * 1000 for seconds in landed] + [math.inf] * lost
    p50, p95 = percentile(ms, 0.5), percentile(ms, 0.95)
    met = max(pulls) <= 2 and p95 < 2000
    lines = [
        f"## Webhook bursts: {args.bursts} bursts of {args.events} signed Jira webhooks "
        f"within {args.span:g} s (`okrsync run`, Jira {args.mode} sandbox)"
        + (f", {args.label}" if args.label else ""),
        "",
        f"- machine: {machine()} (at the end)",
        f"- each sandbox answer delayed {args.latency * 1000:.0f} ms; {STORIES + 1} issues; "
        f"a real status change right before each burst's last event; {args.gap:g} s quiet "
        "after it lands",
        f"- pulls per burst (searches in the sandbox's log): max {max(pulls)}, "
        f"mean {statistics.fmean(pulls):.2f}; daemon cycles {cycles:.0f} "
        f"over {args.bursts} bursts",
        f"- last event to the change in the store: p50 {shown(p50)}, p95 {shown(p95)}, "
        f"max {shown(max(ms))}"
        + (
            f" ({lost} bursts' change not in the store {args.land_timeout:g} s after it)"
            if lost
            else ""
        ),
        f"- burst length (first to last webhook answered): max {max(spans):.2f} s",
        f"- goal: at most 2 pulls a burst and p95 under 2 s: {'met' if met else 'NOT met'}",
        *([f"- sandbox violations: {len(violations)}"] if violations else []),
    ]
    report = Report()
    for line in lines:
        report(line)
    # A labelled run (a comparison, e.g. the daemon before a change) keeps its own section.
    name = re.sub(r"[^a-z0-9]+", "-", args.label.lower()).strip("-") if args.label else ""
    write_results(report, name, markers=(BEGIN, END))


if __name__ == "__main__":
    main()
