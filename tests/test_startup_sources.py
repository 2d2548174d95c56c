"""Start-up reads the registry without the connectors: each source's settings live in a
module of their own (`okrsync/sources/<name>_config.py`), and its connector, with its
client libraries, tenacity and orjson, loads with the first connection
(okrsync/registry.py). Deterministic, not a timing: as in tests/test_startup.py, each
command runs in a fresh interpreter that then prints the modules it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
import responses
from factories import Q4, key_result, objective, utc, work_item
from test_startup import CONFIG, imported_by, run_okrsync  # the start-up tests' probe

from okrsync.config import EnvName, SecretRef, SourceConfig, load_config
from okrsync.domain import Bucket, Rules, compute_report
from okrsync.registry import REGISTRY, Registry, SourceSpec
from okrsync.sources import PullResult, RequestCounter

# What reading the config must not load: the connectors and what only they use.
CONNECTORS = (
    "okrsync.sources.jira",
    "okrsync.sources.github",
    "okrsync.sources.asana",
    "okrsync.sources._core",
    "okrsync.sources._retry",
)
THEIR_LIBRARIES = ("tenacity", "orjson", "requests", "jira", "github")
SETTINGS = (
    "okrsync.sources.jira_config",
    "okrsync.sources.github_config",
    "okrsync.sources.asana_config",
)


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The modules of `names` (packages: with their submodules) that were imported."""
    return sorted(m for m in modules if any(m == n or m.startswith(f"{n}.") for n in names))


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> str:
    from okrsync.store import Store

    folder = tmp_path_factory.mktemp("startup-sources")
    url = f"sqlite:///{folder / 'okrsync.db'}"
    Store(url).close()  # at head: the commands below open it as it is
    path = folder / "okrsync.yaml"
    path.write_text(CONFIG.format(url=url), encoding="utf-8")
    return str(path)


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
def test_the_everyday_commands_read_every_sources_settings_without_its_connector(
    config: str, argv: list[str]
) -> None:
    code, modules = imported_by("--config", config, *argv)
    assert code == 0
    assert set(SETTINGS) <= modules  # the registry was read: every source's config model
    assert loaded(modules, CONNECTORS) == []
    assert loaded(modules, THEIR_LIBRARIES) == []


@pytest.mark.parametrize(
    "argv",
    [["validate"], ["metric", "set", "ONB-1", "71", "--at", "2026-11-03T00:00:00Z"]],
    ids=" ".join,
)
def test_commands_that_log_nothing_leave_structlog_unloaded(config: str, argv: list[str]) -> None:
    """structlog and the asyncio it imports (~30 ms) load with the first event logged, and
    the configuration waits for them (okrsync/logs.py; tests/test_logs.py logs late)."""
    code, modules = imported_by("--config", config, *argv)
    assert code == 0
    assert "okrsync.logs" in modules
    assert loaded(modules, ("structlog", "rich")) == []


def test_the_status_table_shows_names_as_written_without_richs_emoji_table(
    config: str, tmp_path: Path
) -> None:
    """No console markup, no emoji codes: `[/draft]` used to end the command (rich read a
    closing tag), and the emoji codes cost an import."""
    text = Path(config).read_text(encoding="utf-8")
    path = tmp_path / "okrsync.yaml"
    path.write_text(text.replace("name: Q4,", "name: 'Q4 [/draft] :rocket:',"), encoding="utf-8")
    code, modules, printed = run_okrsync("--config", str(path), "status")
    assert code == 0
    assert "Q4 [/draft] :rocket: (2026-10-01 to 2026-12-31)" in printed
    assert "rich.table" in modules and "rich._emoji_codes" not in modules


def run_python(code: str) -> Any:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_sources_package_loads_nothing_until_a_name_is_read() -> None:
    answer = run_python(
        "import json, sys, okrsync.sources as s\n"
        "before = sorted(m for m in sys.modules if m.startswith('okrsync.sources.'))\n"
        "error = s.FatalError\n"
        "print(json.dumps([before, error.__module__, 'okrsync.sources.jira' in sys.modules]))\n"
    )
    assert answer == [[], "okrsync.sources._errors", False]


def test_a_connector_loads_with_its_first_connection() -> None:
    answer = run_python(
        "import json, sys\n"
        "from okrsync.registry import REGISTRY\n"
        "REGISTRY.config_model()\n"
        "before = sorted(m for m in sys.modules if m.startswith('okrsync.sources.'))\n"
        "spec = REGISTRY.get('github')\n"
        "settings = spec.config.model_validate({'repos': ['acme/web'], 'token_env': 'T'})\n"
        "source = spec.connect(settings, {'T': 'token-1234'})\n"
        "print(json.dumps([before, type(source).__module__, type(source).__name__,\n"
        "                  'okrsync.sources.asana' in sys.modules]))\n"
    )
    before, module, name, asana_too = answer
    assert loaded(set(before), CONNECTORS) == []
    assert set(SETTINGS) <= set(before)
    assert (module, name, asana_too) == ("okrsync.sources.github", "GithubSource", False)


SETTINGS_OF = {
    "jira": {
        "url": "https://jira.example",
        "jql": "project = ONB",
        "auth": {"token_env": "T"},
    },
    "github": {"url": "https://api.github.example", "repos": ["acme/web"], "token_env": "T"},
    "asana": {"url": "https://app.asana.example/api/1.0", "projects": ["1200"], "token_env": "T"},
}
FIELDS = [
    {"id": "customfield_10026", "name": "Story Points", "clauseNames": ["Story Points"]},
    {"id": "customfield_10014", "name": "Epic Link", "clauseNames": ["Epic Link"]},
]
CONNECTOR_CLASS = {"jira": "JiraSource", "github": "GithubSource", "asana": "AsanaSource"}


@responses.activate
def test_the_registry_connects_each_source_with_its_connector() -> None:
    # Jira's connector reads the server's info when it connects.
    api = "https://jira.example/rest/api/2"
    responses.get(f"{api}/serverInfo", json={"versionNumbers": [9, 4, 0], "deploymentType": "x"})
    responses.get(f"{api}/field", json=FIELDS)
    for spec in REGISTRY:
        source = spec.connect(spec.config.model_validate(SETTINGS_OF[spec.name]), {"T": "t0k3n"})
        try:
            connector = import_module(f"okrsync.sources.{spec.name}")
            assert type(source) is getattr(connector, CONNECTOR_CLASS[spec.name])
            assert source.name == spec.name
        finally:
            source.close()


def test_the_connector_modules_still_export_their_settings() -> None:
    for spec in REGISTRY:
        connector = import_module(f"okrsync.sources.{spec.name}")
        settings = import_module(f"okrsync.sources.{spec.name}_config")
        assert getattr(connector, spec.config.__name__) is spec.config
        assert getattr(settings, spec.config.__name__) is spec.config


def test_the_registry_renders_each_source_with_its_renderer() -> None:
    now = utc(2026, 11, 20)
    report = compute_report(
        Q4,
        [objective("ONB", key_result("ONB-1", baseline=0, target=10))],
        [work_item("ONB-7", labels=["okr:ONB-1"], bucket=Bucket.DONE, points=3)],
        [],
        Rules(),
        now,
        metric_errors={},
    )
    target, statuses = report.targets[0], [report.kr_status("ONB-1")]
    for spec in REGISTRY:
        renderer = getattr(
            import_module(f"okrsync.render.{spec.name}"), f"render_{spec.name}_comment"
        )
        expected = renderer(target, statuses, Q4)
        assert spec.render_comment(target, statuses, Q4) == expected
        assert "ONB-1" in expected


# ------------------------------------------------- a plugin's source, registered as before


class TrackerConfig(SourceConfig):
    url: str
    token_env: EnvName = "TRACKER_TOKEN"

    def secrets(self) -> Iterator[SecretRef]:
        yield SecretRef(("token_env",), self.token_env)


class TrackerSource:
    name = "tracker"

    def __init__(self, config: TrackerConfig, token: str):
        self.config, self.token, self.requests = config, token, RequestCounter()

    def pull(self, bookmark_ms: int | None, started_at: Any) -> PullResult:
        return PullResult("tracker", [], bookmark_ms, bookmark_ms is None)

    def close(self) -> None:
        pass


def connect_tracker(config: TrackerConfig, environ: Mapping[str, str]) -> Any:
    return TrackerSource(config, environ[config.token_env])


def render_tracker(*args: Any, **kwargs: Any) -> str:
    return "tracker comment"


def test_a_plugin_source_registered_with_with_source_is_configured_and_connected(
    tmp_path: Path,
) -> None:
    registry = REGISTRY.with_source(
        SourceSpec("tracker", TrackerConfig, connect_tracker, render_tracker)
    )
    assert isinstance(registry, Registry) and registry.names()[-1] == "tracker"
    path = tmp_path / "okrsync.yaml"
    text = CONFIG.format(url=f"sqlite:///{tmp_path / 'okrsync.db'}")
    text = text.replace("sources:\n", "sources:\n  tracker: {url: https://tracker.example}\n")
    path.write_text(text, encoding="utf-8")
    config = load_config(path, model=registry.config_model()).config
    tracker = config.sources.get("tracker")
    assert isinstance(tracker, TrackerConfig) and tracker.url == "https://tracker.example"
    assert config.sources.enabled() == ["jira", "github", "asana", "tracker"]
    spec = registry.get("tracker")
    assert spec is not None
    source = spec.connect(tracker, {"TRACKER_TOKEN": "tr4ck3r"})
    assert isinstance(source, TrackerSource) and source.token == "tr4ck3r"
    assert spec.render_comment(None, [], Q4) == "tracker comment"
    # The shipped sources still connect lazily next to it.
    assert registry.get("github") is REGISTRY.get("github")
