"""The source registry: a fourth source is one connector, one renderer and one line.

`Tracker` below is a toy source that exists only in this test. Everything okrsync does
with a source — config model and line-numbered problems, secret checks, the connector
factory and its redaction, planning with the source's renderer, the managed comment,
webhooks — reaches it through one `SourceSpec` added to the registry, and nothing else.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from factories import work_item
from pydantic import Field

from okrsync.config import (
    ConfigError,
    EnvName,
    SecretRef,
    SourceConfig,
    json_schema,
    load_config,
    missing_secrets,
)
from okrsync.domain import Bucket, WorkItem
from okrsync.logs import redact_secrets
from okrsync.registry import REGISTRY, Registry, SourceSpec
from okrsync.render import render_github_comment
from okrsync.service import run_cycle, source_factory
from okrsync.sources import PlannedWrite, PullResult, RequestCounter, WriteOutcome
from okrsync.store import Store
from okrsync.webhooks import MemorySecretBook, SecretBook, Webhooks, WebhookSpec

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PACKAGE = Path(__file__).resolve().parents[1] / "okrsync"


# ------------------------------------------------------------------ the toy source


class TrackerConfig(SourceConfig):
    url: str = "https://tracker.invalid/api"
    token_env: EnvName = "TRACKER_TOKEN"
    team: str = Field(min_length=1)

    def secrets(self) -> Iterator[SecretRef]:
        yield SecretRef(("token_env",), self.token_env)


class TrackerSource:
    """Issues kept in memory, comments too: what a connector does, without a network."""

    name = "tracker"
    comments: dict[str, str] = {}  # shared by every connection, like the remote system

    def __init__(self, config: TrackerConfig, token: str):
        self.config, self.token = config, token
        self.requests = RequestCounter()

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        items = [
            _issue("T-1", labels=("okr:ONB-1",), bucket=Bucket.TODO),
            _issue("T-2", parent="T-1", bucket=Bucket.DONE),
        ]
        return PullResult(self.name, items, int(started_at.timestamp() * 1000), True)

    def children(
        self, parents: Sequence[WorkItem], known: Mapping[str, Sequence[WorkItem]]
    ) -> list[WorkItem]:
        return []

    def labels_in_use(self) -> set[str]:
        return {"okr:ONB-1"}

    def apply(self, write: PlannedWrite) -> WriteOutcome:
        comment_id = write.known_remote_id or f"comment-{write.item_key}"
        action = "edited" if comment_id in self.comments else "created"
        self.comments[comment_id] = write.body
        self.requests.record("POST" if action == "created" else "PUT", 200)
        return WriteOutcome(write.target, write.content_hash, comment_id, action)

    def close(self) -> None:
        pass


def _issue(key: str, *, labels: tuple[str, ...] = (), parent: str | None = None,
           bucket: Bucket) -> WorkItem:  # fmt: skip
    return work_item(key, source="tracker", labels=labels, parent=parent, bucket=bucket)


def connect(config: TrackerConfig, environ: Mapping[str, str]) -> TrackerSource:
    return TrackerSource(config, environ[config.token_env])


class TrackerWebhook:
    delivery_header = "x-tracker-delivery"

    def receive(self, headers: Mapping[str, str], body: bytes) -> list[str]:
        return [body.decode()]


def _tracker_receiver(
    name: str, settings: Any, environ: Mapping[str, str], secrets: SecretBook
) -> TrackerWebhook | None:
    return TrackerWebhook() if settings.tracker_webhooks else None


TRACKER_WEBHOOK = WebhookSpec((("tracker_webhooks", bool, False),), _tracker_receiver)

# The one registration line.
WITH_TRACKER = REGISTRY.with_source(SourceSpec("tracker", TrackerConfig, connect, render_github_comment, TRACKER_WEBHOOK))  # noqa: E501  # fmt: skip


CONFIG = """\
version: 1
cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
store: {url: "sqlite:///%s"}
sources:
  tracker:
    team: growth
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - {id: ONB-1, title: Faster onboarding, baseline: 68, target: 85}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "okrsync.yaml"
    path.write_text(CONFIG % (tmp_path / "okrsync.db"), encoding="utf-8")
    return path


# ------------------------------------------------------------------ the tests


def test_the_fourth_source_is_configured_through_the_registry(config_file: Path) -> None:
    model = WITH_TRACKER.config_model()
    loaded = load_config(config_file, environ={}, model=model)
    tracker = loaded.config.sources.get("tracker")
    assert isinstance(tracker, TrackerConfig) and tracker.team == "growth"
    assert loaded.config.sources.enabled() == ["tracker"]
    assert loaded.config.writeback.for_source("tracker").comment is True
    # Its secret is checked like any other, with the line of the key that names it.
    assert [str(p) for p in missing_secrets(loaded, ["tracker"], environ={})] == [
        f"{config_file}:5: sources.tracker.token_env: environment variable TRACKER_TOKEN is not set"
    ]
    schema = json_schema(model)
    assert "tracker" in schema["$defs"]["SourcesConfig"]["properties"]


def test_the_fourth_source_gets_line_numbered_problems(config_file: Path) -> None:
    config_file.write_text(
        config_file.read_text().replace("team: growth", "team: ''\n    colour: red")
    )
    with pytest.raises(ConfigError) as error:
        load_config(config_file, environ={}, model=WITH_TRACKER.config_model())
    assert [str(p) for p in error.value.problems] == [
        f"{config_file}:6: sources.tracker.team: String should have at least 1 character",
        f"{config_file}:7: sources.tracker.colour: unknown key",
    ]


def test_without_its_registration_the_source_is_an_unknown_key(config_file: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(config_file, environ={})
    assert [str(p) for p in error.value.problems] == [
        f"{config_file}:5: sources.tracker: unknown key"
    ]


def test_a_cycle_pulls_and_writes_back_through_the_fourth_source(config_file: Path) -> None:
    loaded = load_config(config_file, environ={}, model=WITH_TRACKER.config_model())
    config = loaded.config
    environ = {"TRACKER_TOKEN": "tracker-secret-token-1"}
    TrackerSource.comments.clear()
    store = Store(config.store.url)
    try:
        connect_to = source_factory(config, environ, registry=WITH_TRACKER)
        first = run_cycle(config, store, connect_to, now=NOW, registry=WITH_TRACKER)
        second = run_cycle(config, store, connect_to, now=NOW, registry=WITH_TRACKER)
    finally:
        store.close()
    assert first.exit_code == 0
    # One managed comment on the top-level item, rendered by the reused GitHub renderer.
    assert list(TrackerSource.comments) == ["comment-T-1"]
    body = TrackerSource.comments["comment-T-1"]
    assert "Faster onboarding" in body  # the KR, in the reused renderer's markup
    assert [(w.target, w.source) for w in first.plan] == [("tracker:T-1", "tracker")]
    assert second.plan == []  # unchanged: nothing to write
    # T-2 (done) inherits ONB-1 from T-1; the roll-up counts the leaf only.
    assert first.report.kr_status("ONB-1").delivery_progress == pytest.approx(1.0)
    # The token was registered for redaction before the connector saw it.
    scrubbed = redact_secrets(None, "info", {"event": "x tracker-secret-token-1 y"})
    assert "tracker-secret-token-1" not in scrubbed["event"]


def test_webhooks_reach_the_fourth_source_through_the_registry() -> None:
    settings = SimpleNamespace(
        github_secret_env=None, jira_secret_env=None, asana=False, tracker_webhooks=True
    )
    hooks = Webhooks.from_settings(WITH_TRACKER.webhooks(), settings, {}, MemorySecretBook())
    assert list(hooks.receivers) == ["tracker"]
    result = hooks.handle("tracker", {}, b"T-7")
    assert (result.status, result.changed) == (200, (("tracker", "T-7"),))


# ------------------------------------------------------------------ the house rule

# A source's name as a string may appear only in its own modules and the registry.
SOURCE_NAMES = {spec.name for spec in REGISTRY}


def _own_module(path: Path) -> bool:
    # `jira.py`, its settings `jira_config.py`, a renderer `jira.py` or `_jira.py`.
    source = path.stem.lstrip("_").removesuffix("_config")
    return source in SOURCE_NAMES or path.name == "registry.py"


def test_no_source_is_named_outside_its_own_modules_and_the_registry() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _own_module(path):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            if node.value.casefold() in SOURCE_NAMES:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert found == []


def test_registry_order_is_the_cycle_order() -> None:
    assert REGISTRY.names() == ["jira", "github", "asana"]
    assert WITH_TRACKER.names() == ["jira", "github", "asana", "tracker"]
    assert isinstance(WITH_TRACKER, Registry) and "tracker" not in REGISTRY
