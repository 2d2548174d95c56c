"""Start-up stays cheap: the everyday commands never import the HTTP clients, Alembic or
the sandbox (docs/design.md, "Speed and politeness").

Deterministic, not a timing: each command runs in a fresh interpreter, which then prints
the modules it imported. The wall times are measured by `make bench` (bench/standard.py).
"""

from __future__ import annotations

import gc
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from factories import work_item

from okrsync.cli import main
from okrsync.domain.models import Bucket
from okrsync.store import Store, head_revision
from okrsync.store._revision import HEAD_REVISION

# Top-level packages none of these commands may import.
HEAVY = ("jira", "github", "alembic", "openapi_core", "okrsync_sandbox", "requests")

CONFIG = """\
version: 1
cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "{url}"}}
sources:
  jira: {{url: "https://jira.example", jql: "project = ONB"}}
  github: {{url: "https://api.github.example", repos: ["acme/web"]}}
  asana: {{url: "https://app.asana.example/api/1.0", projects: ["1200"]}}
objectives:
  - id: ONB
    title: Onboarding
    key_results: [{{id: ONB-1, title: Completion, baseline: 68, target: 85}}]
"""

# Runs `okrsync ARGV...` in this interpreter, then prints the imported module names.
PROBE = """\
import json, sys
from okrsync.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print("\\n@@MODULES@@" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def run_okrsync(*argv: str) -> tuple[int, set[str], str]:
    """The exit code, the modules imported and what was printed on stdout."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120
    )
    assert "@@MODULES@@" in done.stdout, done.stderr
    printed, answer = done.stdout.rsplit("@@MODULES@@", 1)
    found = json.loads(answer)
    return found["code"], set(found["modules"]), printed


def imported_by(*argv: str) -> tuple[int, set[str]]:
    code, modules, _ = run_okrsync(*argv)
    return code, modules


def heavy(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] in HEAVY)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("startup")
    url = f"sqlite:///{folder / 'okrsync.db'}"
    # Migrated here: the commands below open a store at head. One item, for `explain`.
    with Store(url) as store:
        store.upsert_items([work_item("ONB-7", labels=["okr:ONB-1"], bucket=Bucket.DONE)])
    path = folder / "okrsync.yaml"
    path.write_text(CONFIG.format(url=url), encoding="utf-8")
    return str(path)


def test_help_imports_nothing_of_the_product_but_the_cli() -> None:
    code, modules = imported_by("--help")
    assert code == 0
    assert heavy(modules) == []
    assert sorted(m for m in modules if m.startswith("okrsync")) == ["okrsync", "okrsync.cli"]
    assert not {"pydantic", "sqlalchemy", "structlog", "rich"} & modules


@pytest.mark.parametrize(
    "argv",
    [
        ["validate"],
        ["status"],
        ["status", "--format", "json"],
        ["metric", "set", "ONB-1", "70", "--at", "2026-11-02T00:00:00Z"],
        ["metric", "list", "ONB-1"],
    ],
    ids=" ".join,
)
def test_everyday_commands_leave_the_clients_migrations_and_sandbox_unloaded(
    config: str, argv: list[str]
) -> None:
    code, modules = imported_by("--config", config, *argv)
    assert code == 0
    assert heavy(modules) == []
    # Which source modules they read: tests/test_startup_sources.py.


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["status", "--format", "json", "--now", "2026-11-20T00:00:00Z"],
        ["metric", "set", "ONB-1", "71", "--at", "2026-11-03T00:00:00Z"],
        # The same instant again: the sample is there already (told, not stored).
        ["metric", "set", "ONB-1", "71.5", "--at", "2026-11-03T00:00:00Z"],
        ["metric", "list", "ONB-1"],
        ["metric", "delete", "ONB-1", "--at", "2026-11-03T00:00:00Z"],
        ["explain", "jira:ONB-7"],
        ["report", "--html", "{folder}/report.html"],
    ],
    ids=" ".join,
)
def test_the_store_commands_on_sqlite_leave_sqlalchemy_unloaded(
    config: str, argv: list[str]
) -> None:
    """A SQLite store at head opens, reads and takes check-ins through the stdlib sqlite3
    module: SQLAlchemy (~100 ms of start-up), and so SQLModel and the ORM, stay unloaded."""
    folder = str(Path(config).parent)
    code, modules = imported_by("--config", config, *(a.format(folder=folder) for a in argv))
    assert code == 0
    assert "okrsync.store" in modules
    assert not any(name.split(".")[0] in ("sqlalchemy", "sqlmodel") for name in modules)


@pytest.mark.parametrize(
    "argv",
    [
        ["validate"],
        ["status", "--format", "json"],
        ["status", "--format", "markdown"],
        ["metric", "set", "ONB-1", "72", "--at", "2026-11-04T00:00:00Z"],
    ],
    ids=" ".join,
)
def test_commands_without_a_table_or_a_comment_leave_rich_and_the_renderers_unloaded(
    config: str, argv: list[str]
) -> None:
    """rich (~25 ms) loads for the status table only; the registry's comment renderers
    when a comment is rendered (a sync), not when the config is read."""
    code, modules = imported_by("--config", config, *argv)
    assert code == 0
    assert not any(name.split(".")[0] == "rich" for name in modules)
    assert not {"okrsync.render.asana", "okrsync.render.github"} & modules


def test_the_status_table_still_loads_rich(config: str) -> None:
    code, modules = imported_by("--config", config, "status")
    assert code == 0
    assert "rich.table" in modules


def test_the_registrys_renderers_load_when_a_comment_is_rendered() -> None:
    # No real target: the renderer fails on it, once loaded.
    probe = (
        "import sys\n"
        "from okrsync.registry import REGISTRY\n"
        "assert 'okrsync.render.github' not in sys.modules\n"
        "try:\n"
        "    REGISTRY.get('github').render_comment(None, [], None)\n"
        "except AttributeError:\n"
        "    pass\n"
        "print('okrsync.render.github' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


# Two sync cycles of `okrsync sync --once` (a source's leases, then `run_cycle`) whose pull
# brings nothing new (as when GitHub answers 304), or the same `sys.argv[2]` items every
# time (as Jira's overlap window re-reads), with a stand-in for the Jira connector; then
# prints what the second cycle wrote back, what its upserts did and the imported module
# names.
SYNC_PROBE = """\
import json, sys
from pathlib import Path
from datetime import UTC, datetime, timedelta
from okrsync.config import load_config
from okrsync.service import run_cycle
from okrsync.service.writer import SourceLeases
from okrsync.sources._base import PullResult, RequestCounter, WriteOutcome
from okrsync.domain.models import Bucket, WorkItem
from okrsync.store import Store

ITEMS = [
    WorkItem(
        "jira", f"ONB-{n}", f"Item {n}", "Story", "Done" if n % 3 else "In Progress",
        Bucket.DONE if n % 3 else Bucket.IN_PROGRESS, float(n % 5) or None,
        ("okr:ONB-1",) if n % 2 else (), None if n % 10 == 0 else f"ONB-{n - n % 10}",
        datetime(2026, 11, 1, n % 24, tzinfo=UTC), f"https://jira.example/browse/ONB-{n}",
    )
    for n in range(int(sys.argv[2]))
]

class Unchanged:
    name = "jira"

    def __init__(self):
        self.requests = RequestCounter()
        self.writes = 0

    def pull(self, bookmark_ms, started_at):
        return PullResult("jira", ITEMS, int(started_at.timestamp() * 1000), False)

    def children(self, parents, known):
        return []

    def apply(self, write):
        self.writes += 1
        return WriteOutcome(write.target, write.content_hash, "c-1", "created")

    def labels_in_use(self):
        return set()

    def close(self):
        pass

config = load_config(Path(sys.argv[1])).config
store = Store(config.store.url)
upsert, upserts = store.upsert_items, []
def recorded(items, seen_at=None):
    result = upsert(items, seen_at)
    upserts.append([result.inserted, result.updated, result.unchanged])
    return result
store.upsert_items = recorded
source = Unchanged()
now = datetime(2026, 11, 20, tzinfo=UTC)
for cycle in range(2):
    source.writes = 0
    upserts.clear()
    with SourceLeases(store, ["jira"], wait=0):
        result = run_cycle(
            config, store, lambda name: source, now=now + timedelta(minutes=5 * cycle),
            only=["jira"],
        )
store.close()
print("\\n@@SYNC@@" + json.dumps(
    {
        "code": result.exit_code, "writes": source.writes, "upserts": upserts,
        "modules": sorted(sys.modules),
    }
))
"""


def sync_twice(config: str, items: int) -> dict[str, Any]:
    """What `SYNC_PROBE` tells of its second cycle, pulling `items` items each time."""
    done = subprocess.run(
        [sys.executable, "-c", SYNC_PROBE, config, str(items)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "@@SYNC@@" in done.stdout, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout.rsplit("@@SYNC@@", 1)[1])
    assert answer["code"] == 0
    assert "okrsync.service.pipeline" in answer["modules"]
    return answer


def test_an_unchanged_sync_cycle_on_sqlite_leaves_sqlalchemy_unloaded(config: str) -> None:
    """A cycle whose pull brought nothing new writes through the stdlib sqlite3 module
    (its bookmark, KR snapshots, the lease it takes), never through SQLAlchemy."""
    answer = sync_twice(config, 0)
    assert answer["writes"] == 0
    assert not any(name.split(".")[0] == "sqlalchemy" for name in answer["modules"])


def test_a_sync_cycle_pulling_unchanged_items_on_sqlite_leaves_sqlalchemy_unloaded(
    tmp_path: Path,
) -> None:
    """A cycle whose pull re-reads items it stored before (Jira's overlap window, Asana's
    subtasks) upserts them through the stdlib sqlite3 module (`_sqlite_upsert`), as the
    cycle that stored them first did: SQLAlchemy stays unloaded."""
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    Store(url).close()  # migrated here: the probe opens a store at head
    path = tmp_path / "okrsync.yaml"
    path.write_text(CONFIG.format(url=url), encoding="utf-8")
    answer = sync_twice(str(path), 100)
    assert answer["upserts"] == [[0, 0, 100]]
    assert answer["writes"] == 0
    assert not any(name.split(".")[0] == "sqlalchemy" for name in answer["modules"])


# Runs `okrsync ARGV...` as the `okrsync` script does (main() reads sys.argv), then prints
# how many times the cyclic collector ran.
GC_PROBE = """\
import gc, sys
runs = []
gc.callbacks.append(lambda phase, info: phase == "start" and runs.append(info["generation"]))
from okrsync.cli import main
try:
    code = main()
except SystemExit as stop:
    code = stop.code
print("\\n@@GC@@", code, len(runs))
"""


@pytest.mark.parametrize(
    "argv",
    [["validate"], ["status"], ["metric", "set", "ONB-1", "73", "--at", "2026-11-05T00:00:00Z"]],
    ids=" ".join,
)
def test_start_up_runs_without_the_cyclic_collector(config: str, argv: list[str]) -> None:
    """Start-up makes ~65,000 long-lived objects and next to no garbage; the collector
    walking them ran ~150 times per command (~100 ms of `status` with the walk at exit).
    It now runs only for the command's own work, which here is a few objects."""
    done = subprocess.run(
        [sys.executable, "-c", GC_PROBE, "--config", config, *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "@@GC@@" in done.stdout, done.stderr
    code, runs = done.stdout.rsplit("@@GC@@", 1)[1].split()
    assert code == "0"
    assert int(runs) <= 20


def test_main_called_in_process_gives_the_collector_back(config: str) -> None:
    """A test or a program embedding okrsync: the collector is on again afterwards, with
    nothing left frozen; and one that was off stays off."""
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert main(["--config", config, "validate"]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        assert main(["--config", config, "validate"]) == 0
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_validate_leaves_rich_unloaded(config: str) -> None:
    """structlog's console tracebacks import rich (~70 ms): only a terminal's log needs it
    (okrsync.logs holds it back), and the probe's stderr is a pipe."""
    code, modules = imported_by("--config", config, "validate")
    assert code == 0
    assert not any(name.split(".")[0] == "rich" for name in modules)


def test_a_terminals_console_log_still_gets_richs_tracebacks() -> None:
    probe = (
        "import io, sys, okrsync.logs as logs\n"
        "class Tty(io.StringIO):\n"
        "    def isatty(self): return True\n"
        "assert 'rich' not in sys.modules\n"
        "logs.configure_logging('info', stream=Tty())\n"
        "print(logs.structlog.dev.rich is not None and 'rich' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    expected = importlib.util.find_spec("rich") is not None
    assert done.stdout.strip() == str(expected)


def test_the_connectors_load_their_clients_when_used() -> None:
    """The lazy names resolve; a client loads with the first connection, which the probe
    would see."""
    probe = (
        "import sys, okrsync.sources as s; from okrsync.sources._core import seam_adapter; "
        "assert s.JiraSource.__name__ == 'JiraSource'; assert 'requests' not in sys.modules; "
        "seam_adapter(print); print('requests' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_head_revision_constant_is_the_migrations_head() -> None:
    """Opening a store at head compares with HEAD_REVISION instead of asking Alembic:
    a new migration must move it (else a store one revision behind would not upgrade)."""
    assert head_revision() == HEAD_REVISION
    versions = Path(__file__).parents[1] / "okrsync" / "store" / "migrations" / "versions"
    newest = max(path.name for path in versions.glob("[0-9]*.py"))
    assert newest.startswith(HEAD_REVISION)
