"""Planning on its own: which managed comments change, rendered by the registry's renderers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import make_config, work_item

import okrsync.service
from okrsync.config import Config
from okrsync.domain import Bucket, Cycle, KRStatus, Report, Target, WorkItem
from okrsync.registry import REGISTRY, Registry
from okrsync.service import current_report, planning
from okrsync.service.planning import (
    comment_targets,
    comments_enabled,
    content_hash,
    plan_writes,
    render_body,
    target_id,
)
from okrsync.store import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def item(key: str, labels: tuple[str, ...] = (), bucket: Bucket = Bucket.TODO) -> WorkItem:
    return work_item(key, labels=labels, bucket=bucket, title=f"Title {key}", remote_id=key)


def toy_render(target: Target, statuses: list[KRStatus], cycle: Cycle) -> str:
    done = sum(status.items.done for status in statuses)
    return f"{target.item.key}: {done} done in {cycle.name}"


# The registry with the first source's renderer swapped for a toy one.
TOY = Registry(
    [replace(spec, render_comment=toy_render) if spec.name == "jira" else spec for spec in REGISTRY]
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'okrsync.db'}")


def report_for(config: Config, store: Store, *items: WorkItem) -> Report:
    store.upsert_items(items, seen_at=NOW)  # the report reads the store as of NOW
    return current_report(config, store, NOW)


def test_plan_renders_with_the_registry_it_is_given(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path)
    report = report_for(config, store, item("ONB-1", ("okr:ONB-1",), Bucket.DONE))

    (write,) = plan_writes(config, store, report, ["jira"], registry=TOY)

    assert write.body == "ONB-1: 1 done in Q4"
    assert write.target == "jira:ONB-1" == target_id(report.targets[0])
    assert write.content_hash == content_hash("ONB-1: 1 done in Q4")
    assert write.known_remote_id is None
    # The default registry renders the real comment for the same target.
    assert render_body(report, report.targets[0]) != write.body
    assert render_body(report, report.targets[0], TOY) == write.body


def test_an_unchanged_comment_is_left_out_and_a_changed_one_edits_the_known_comment(
    tmp_path: Path, store: Store
) -> None:
    config = make_config(tmp_path)
    report = report_for(config, store, item("ONB-1", ("okr:ONB-1",)), item("ONB-2", ("okr:ONB-1",)))
    first = plan_writes(config, store, report, ["jira"], registry=TOY)
    store.save_writeback(first[0].target, first[0].content_hash, "c-1")
    store.save_writeback(first[1].target, "stale", "c-2")

    (write,) = plan_writes(config, store, report, ["jira"], registry=TOY)

    assert write.target == "jira:ONB-2" and write.known_remote_id == "c-2"


def test_only_the_named_sources_with_comments_enabled_are_planned(
    tmp_path: Path, store: Store
) -> None:
    enabled = make_config(tmp_path)
    disabled = make_config(tmp_path, writeback={"jira": {"comment": False}})
    report = report_for(enabled, store, item("ONB-1", ("okr:ONB-1",)))

    assert plan_writes(enabled, store, report, [], registry=TOY) == []
    assert plan_writes(disabled, store, report, ["jira"], registry=TOY) == []
    assert comments_enabled(enabled, "jira") and not comments_enabled(disabled, "jira")
    assert comment_targets(enabled, report, "jira") == 1
    assert comment_targets(disabled, report, "jira") == 0


def test_a_source_the_registry_does_not_know_gets_no_comments(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    without = Registry(spec for spec in REGISTRY if spec.name != "jira")
    assert not comments_enabled(config, "jira", without)


def test_content_hash_is_the_sha256_of_the_body() -> None:
    assert content_hash("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert content_hash("a") != content_hash("b")


def test_planning_is_re_exported_where_callers_found_it() -> None:
    from okrsync.service import pipeline

    assert okrsync.service.plan_writes is planning.plan_writes
    assert pipeline.plan_writes is planning.plan_writes
    assert pipeline.render_body is planning.render_body
    assert pipeline.content_hash is planning.content_hash
    assert pipeline.target_id is planning.target_id
