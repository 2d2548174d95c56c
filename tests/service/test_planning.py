"""Planning on its own: which managed comments change, rendered by the registry's renderers."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from factories import make_config, work_item

import okrsync.service
from okrsync.config import Config
from okrsync.domain import Bucket, Cycle, Health, KRStatus, Report, Target, WorkItem
from okrsync.registry import REGISTRY, Registry
from okrsync.service import current_report, planning
from okrsync.service.planning import (
    comment_targets,
    comments_enabled,
    content_hash,
    plan_lines,
    plan_writes,
    render_body,
    target_id,
    worst_health,
)
from okrsync.sources import SetComment, SetField, SetLabels, SetProperty
from okrsync.store import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def item(key: str, labels: tuple[str, ...] = (), bucket: Bucket = Bucket.TODO) -> WorkItem:
    return work_item(key, labels=labels, bucket=bucket, title=f"Title {key}", remote_id=key)


def toy_render(target: Target, statuses: list[KRStatus], cycle: Cycle, **options: str) -> str:
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

    assert isinstance(write, SetComment)
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

    assert isinstance(write, SetComment)
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


# -- typed operations: fields and the property, each skipped when its value is unchanged ---

WRITEBACK = {
    "jira": {
        "fields": {"OKR Health": "health", "KR Progress": "outcome", "Delivery": "delivery"},
        "property": True,
    }
}


def test_fields_and_the_property_follow_the_comment_each_under_its_own_record_key(
    tmp_path: Path, store: Store
) -> None:
    config = make_config(tmp_path, writeback=WRITEBACK)
    report = report_for(
        config,
        store,
        item("ONB-1", ("okr:ONB-1",)),
        replace(item("ONB-2", bucket=Bucket.DONE), parent="ONB-1"),
    )

    comment, health, progress, delivery, prop = plan_writes(
        config, store, report, ["jira"], registry=TOY
    )

    assert isinstance(comment, SetComment) and comment.record_key == "jira:ONB-1"
    assert isinstance(health, SetField) and isinstance(progress, SetField)
    assert isinstance(delivery, SetField) and isinstance(prop, SetProperty)
    assert (health.op_key, health.record_key) == (
        "field:OKR Health",
        "jira:ONB-1#field:OKR Health",
    )
    assert (health.value, health.display, health.previous) == ("No data", "No data", None)
    assert (progress.value, progress.display) == (None, "no data")  # no sample yet
    assert (delivery.value, delivery.display) == (100.0, "100%")  # its one story is done
    assert prop.record_key == "jira:ONB-1#property:okrsync.status"
    assert json.loads(prop.value) == {
        "krs": ["ONB-1"],
        "health": "no_data",
        "outcome": None,
        "delivery": 1.0,
        "as_of": NOW.isoformat(),
    }
    assert plan_lines([comment, health, prop]) == [
        "ONB-1  set comment (create or adopt)",
        'ONB-1  set field "OKR Health" = No data (new)',
        "ONB-1  set property okrsync.status (new)",
    ]


def test_each_operation_is_left_out_when_its_record_has_its_hash(
    tmp_path: Path, store: Store
) -> None:
    config = make_config(tmp_path, writeback=WRITEBACK)
    report = report_for(config, store, item("ONB-1", ("okr:ONB-1",)))
    first = plan_writes(config, store, report, ["jira"], registry=TOY)
    for operation in first:
        store.save_writeback(operation.record_key, operation.content_hash, "shown")
    assert plan_writes(config, store, report, ["jira"], registry=TOY) == []

    store.save_writeback("jira:ONB-1#field:KR Progress", "stale", "12.5%")
    (again,) = plan_writes(config, store, report, ["jira"], registry=TOY)

    assert isinstance(again, SetField) and again.name == "KR Progress"
    assert again.previous == "12.5%"  # the display of what was written: the dry run's "was"
    assert plan_lines([again]) == ['ONB-1  set field "KR Progress" = no data (was 12.5%)']


def test_the_property_hash_leaves_out_its_as_of(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, writeback={"jira": {"comment": False, "property": True}})
    store.upsert_items([item("ONB-1", ("okr:ONB-1",))], seen_at=NOW)
    now, later = (current_report(config, store, at) for at in (NOW, NOW + timedelta(hours=1)))

    (first,) = plan_writes(config, store, now, ["jira"], registry=TOY)
    (second,) = plan_writes(config, store, later, ["jira"], registry=TOY)

    assert isinstance(first, SetProperty) and isinstance(second, SetProperty)
    assert first.value != second.value and first.content_hash == second.content_hash


def test_worst_health_ranks_no_data_above_on_track() -> None:
    def status(health: Health) -> KRStatus:
        return cast(KRStatus, SimpleNamespace(health=health))

    assert worst_health([]) is Health.NO_DATA
    assert worst_health([status(Health.ON_TRACK), status(Health.NO_DATA)]) is Health.NO_DATA
    assert worst_health([status(Health.NO_DATA), status(Health.AT_RISK)]) is Health.AT_RISK
    assert worst_health([status(Health.OFF_TRACK), status(Health.AT_RISK)]) is Health.OFF_TRACK


def test_github_and_asana_plan_comments_only(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert config.writeback.for_source("github").field_values() == {}
    assert not config.writeback.for_source("asana").status_property()


# -- GitHub's health label and Asana's fields ----------------------------------------------

SOURCES = {
    "jira": {"url": "https://acme.atlassian.net", "jql": "project = ONB"},
    "github": {"repos": ["acme/web"]},
    "asana": {"projects": ["1204000000000001"]},
}


def test_a_github_target_gets_one_health_label_op_replacing_okrsyncs_other_labels(
    tmp_path: Path, store: Store
) -> None:
    config = make_config(
        tmp_path, sources=SOURCES, writeback={"github": {"comment": False, "labels": True}}
    )
    issue = work_item(
        "acme/web#2",
        source="github",
        labels=("okr:ONB-1", "team:growth", "okr-health:on-track", "OKR-Health:Off-Track"),
    )
    report = report_for(config, store, issue)

    (labels,) = plan_writes(config, store, report, ["github"])

    assert isinstance(labels, SetLabels)
    assert labels.record_key == "github:acme/web#2#labels"
    assert labels.labels == ("okr-health:no-data",)  # nothing measured yet
    assert labels.remove == ("okr-health:on-track", "OKR-Health:Off-Track")  # never team:growth
    assert labels.present == ("okr-health:on-track", "OKR-Health:Off-Track")
    assert plan_lines([labels]) == [
        "acme/web#2  set labels okr-health:no-data, remove okr-health:on-track, "
        "OKR-Health:Off-Track"
    ]
    # Hashed on the wanted label alone: once written, the same health plans nothing.
    store.save_writeback(labels.record_key, labels.content_hash, "okr-health:no-data")
    moved = report_for(config, store, replace(issue, labels=("okr:ONB-1", "okr-health:no-data")))
    assert plan_writes(config, store, moved, ["github"]) == []


def test_health_labels_name_each_health_dashed() -> None:
    assert [planning.health_label(health) for health in Health] == [
        "okr-health:on-track",
        "okr-health:at-risk",
        "okr-health:off-track",
        "okr-health:no-data",
    ]


def test_asana_fields_are_planned_by_the_same_code_as_jiras(tmp_path: Path, store: Store) -> None:
    fields = {"OKR Health": "health", "KR Progress": "outcome"}
    config = make_config(
        tmp_path,
        sources=SOURCES,
        writeback={"asana": {"comment": False, "fields": fields}, "jira": {"fields": fields}},
    )
    report = report_for(
        config,
        store,
        work_item("901", source="asana", labels=("okr:ONB-1",)),
        work_item("ONB-7", labels=("okr:ONB-1",)),
    )

    asana = [op for op in plan_writes(config, store, report, ["asana"]) if isinstance(op, SetField)]
    jira = [op for op in plan_writes(config, store, report, ["jira"]) if isinstance(op, SetField)]

    assert [op.record_key for op in plan_writes(config, store, report, ["asana"])] == [
        "asana:901#field:OKR Health",
        "asana:901#field:KR Progress",
    ]
    assert [(op.value, op.display, op.content_hash) for op in asana] == [
        (op.value, op.display, op.content_hash) for op in jira
    ]


@pytest.mark.parametrize(("comment_format", "has_adf"), [("auto", True), ("wiki", False)])
def test_the_jira_comment_format_reaches_the_renderer(
    tmp_path: Path, store: Store, comment_format: str, has_adf: bool
) -> None:
    config = make_config(tmp_path, writeback={"jira": {"format": comment_format}})
    report = report_for(config, store, item("ONB-1", ("okr:ONB-1",), Bucket.DONE))

    (write,) = plan_writes(config, store, report, ["jira"])

    assert isinstance(write, SetComment)
    assert ("-- ADF (Jira Cloud, REST v3) --" in write.body) is has_adf
    assert "ONB-1" in write.body.partition("-- ADF")[0]
