"""Requests per cycle with every write-back operation on, 1,000 items per system.

Jira (Cloud): the managed comment (ADF), two fields (`OKR Health` select, `KR Progress`
number), the `okrsync.status` property and one KR issue per KR; GitHub: the comment and
the `okr-health:*` label; Asana: the comment and two custom fields. Three cycles, each a
fresh `okrsync sync --once` against the sandboxes of bench/standard.py: the first, an
unchanged one, and one after a KR's health changed (a check-in). Each row prints the
requests by kind next to the least the APIs allow, and appends a section to
bench/RESULTS.md.

    python bench/writeback.py [--items 1000] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from standard import (
    CHILDREN,
    MAPPED,
    OKRSYNC,
    SCENARIOS,
    Report,
    Scenario,
    environment,
    machine,
    quiet_sandboxes,
    run,
    sync,
    write_config,
    write_results,
)

BEGIN, END = "<!-- bench/writeback.py: begin -->", "<!-- bench/writeback.py: end -->"
KRS = 3  # bench/standard.py's objective holds KR-1..KR-3
FIELDS = {"OKR Health": "health", "KR Progress": "outcome"}


# Keys, numbers and gids in a path stand for any: `PUT /rest/api/2/issue/{key}`.
_ID = re.compile(r"(?<!/api)/(?:[A-Z][A-Z0-9_]*-\d+|\d+)(?=/|$)")
_LABEL = re.compile(r"/labels/[^/]+$")


def kinds(requests: Sequence[Any]) -> str:
    counted = Counter(
        f"{r.method} {_LABEL.sub('/labels/{name}', _ID.sub('/{id}', r.path))}"
        + (f" {r.status}" if r.status >= 300 else "")
        for r in requests
    )
    return ", ".join(f"{n} {name}" for name, n in sorted(counted.items()))


def writeback_settings(scenario: Scenario) -> dict[str, Any]:
    if scenario.source == "jira":
        scenario.box.add_project("OKR")
        kr_issues = {"project": "OKR", "issue_type": "Key Result"}
        return {"jira": {"comment": True, "fields": FIELDS, "property": True,
                         "kr_issues": kr_issues}}  # fmt: skip
    if scenario.source == "github":
        return {"github": {"comment": True, "labels": True}}
    scenario.box.add_enum_field("OKR Health", ["On track", "At risk", "Off track", "No data"])
    scenario.box.add_number_field("KR Progress")
    return {"asana": {"comment": True, "fields": FIELDS}}


def minimum(scenario: Scenario, cycle: str, moved: int) -> str:
    """The least each cycle can cost, by kind, for MAPPED targets and KRS KRs."""
    pages = math.ceil(scenario.items / 100)
    if scenario.source == "jira":
        reads = f"2 + {pages} reads"
        if cycle == "first":
            return (f"{reads} + per target 1 comment list, 1 POST, 1 fields PUT, 1 property "
                    f"PUT (×{MAPPED}) + editmeta once per project + 1 search for all KR issues + "
                    "per KR 1 POST (property included), 1 fields PUT + 1 link POST per linked "
                    "epic")  # fmt: skip
        if cycle == "unchanged":
            return "2 + 1 reads, 0 writes"
        return (f"2 + 1 reads + per target of the moved KR ({moved}) 1 comment PUT, 1 fields "
                "PUT, 1 property PUT + the KR issue's fields PUT + editmeta once per project (select "
                "options are read once a cycle)")  # fmt: skip
    if scenario.source == "github":
        if cycle == "first":
            return (f"{pages} list pages + per target 1 comment list, 1 POST, 1 label POST "
                    f"(×{MAPPED}) + 1 labels list + up to 4 label creations")  # fmt: skip
        if cycle == "unchanged":
            return "1 list page (304 once settled), 0 writes"
        return (f"1 list page + per target of the moved KR ({moved}) 1 comment PATCH, "
                "1 label DELETE, 1 label POST + labels list + creations")  # fmt: skip
    top_level = scenario.items - MAPPED * CHILDREN  # the subtasks are no task-list rows
    if cycle == "first":
        return (f"{math.ceil(top_level / 100)} task pages + {MAPPED} subtask lists + per target 1 story list, "
                f"1 POST, 1 task PUT (×{MAPPED}) + 1 field settings read")  # fmt: skip
    if cycle == "unchanged":
        return f"1 task page + {MAPPED} subtask lists, 0 writes"
    return (f"1 task page + {MAPPED} subtask lists + per target of the moved KR ({moved}) "
            "1 story PUT, 1 task PUT + 1 field settings read")  # fmt: skip


def check_in(config: Path, value: str) -> None:
    result = run([*OKRSYNC, "--config", str(config), "metric", "set", "KR-1", value,
                  "--at", datetime.now(UTC).isoformat(timespec="seconds")],
                 environment())  # fmt: skip
    if result.code != 0:
        raise SystemExit(f"metric set failed: {result.err.strip()[-300:]}")


def bench(report: Report, source: str, items: int) -> list[list[str]]:
    scenario = SCENARIOS[source](items, 0.0)
    rows: list[list[str]] = []
    try:
        settings = writeback_settings(scenario)
        with tempfile.TemporaryDirectory() as scratch:
            config = write_config(Path(scratch), scenario.settings)
            raw = json.loads(config.read_text(encoding="utf-8"))
            raw["writeback"] = settings
            config.write_text(json.dumps(raw, indent=2), encoding="utf-8")
            moved = -(-MAPPED // KRS)  # KR-1's share of the mapped targets
            for title, before in (("first", None), ("unchanged", None), ("health moved", "95")):
                if before is not None:
                    check_in(config, before)
                scenario.box.reset_log()
                result = sync(config)
                requests = scenario.box.requests
                writes = sum(1 for r in requests if r.method != "GET")
                counted = f"{len(requests)} ({writes} writes: {kinds(requests)})"
                if result.code != 0:
                    lines = [line for line in result.err.splitlines() if line.strip()]
                    counted = f"exit {result.code}: {(lines[-1] if lines else '')[:200]}; " + counted
                rows.append([source, title, counted, minimum(scenario, title, moved)])
    finally:
        scenario.box.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    report = Report()
    report(f"## Write-back: requests per cycle, all operations on ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    report()
    report(f"- machine: {machine()}")
    report(f"- command: `python bench/writeback.py --items {args.items}`; {MAPPED} mapped "
           f"top-level targets per system over {KRS} KRs, no added latency")  # fmt: skip
    report()
    rows: list[list[str]] = []
    with quiet_sandboxes():
        for source in ("jira", "github", "asana"):
            rows.extend(bench(report, source, args.items))
    report.table(["system", "cycle", "requests (writes: by kind)", "minimum"], rows)
    if not args.no_write:
        write_results(report, markers=(BEGIN, END))


if __name__ == "__main__":
    main()
