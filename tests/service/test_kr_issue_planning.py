"""Planning of the KR issues (`writeback.jira.kr_issues`) on its own: what is planned per
KR, what a record changes, and what an unchanged cycle plans (nothing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import make_config, work_item

from okrsync.config import Config
from okrsync.domain import Report, WorkItem
from okrsync.service import current_report
from okrsync.service.planning import (
    describe,
    is_kr_issue,
    kr_work,
    plan_kr_issues,
    plan_writes,
)
from okrsync.sources import SetField, SetKRIssue, SetKRLinks
from okrsync.store import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
KR_ISSUES = {"project": "OKR", "issue_type": "Key Result"}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'okrsync.db'}")


def config(tmp_path: Path, **jira: object) -> Config:
    settings = {"comment": False, "fields": {"OKR Health": "health"}, "kr_issues": KR_ISSUES}
    return make_config(tmp_path, writeback={"jira": {**settings, **jira}})


def report_for(config: Config, store: Store, *items: WorkItem) -> Report:
    store.upsert_items(items, seen_at=NOW)
    return current_report(config, store, NOW)


EPIC = work_item("ONB-10", labels=["okr:ONB-1"], title="Setup wizard")
STORY = work_item("ONB-11", labels=["okr:ONB-1"], parent="ONB-10")
PR = work_item("acme/web#5", labels=["okr:ONB-1"], source="github", title="Wizard UI")


def test_each_kr_gets_its_issue_fields_and_links_then_an_unchanged_cycle_plans_nothing(
    tmp_path: Path, store: Store
) -> None:
    settings = config(tmp_path)
    report = report_for(settings, store, EPIC, STORY)

    plan = plan_kr_issues(settings, store, report, ["jira"])

    issue, field, links = plan
    assert isinstance(issue, SetKRIssue) and issue.target == "kr:ONB-1"
    assert (issue.item_key, issue.project, issue.issue_type) == ("", "OKR", "Key Result")
    assert issue.summary == "ONB-1: Completion 68 to 85"
    assert "ONB-10" in issue.description and "ONB-11" not in issue.description  # top level
    assert isinstance(field, SetField) and field.name == "OKR Health"
    assert isinstance(links, SetKRLinks) and links.links == ("ONB-10",)
    assert [op.record_key for op in plan] == [
        "kr:ONB-1",
        "kr:ONB-1#field:OKR Health",
        "kr:ONB-1#links",
    ]
    assert describe(issue).startswith("KR issue ONB-1 (find or create)")

    store.save_writeback(issue.record_key, issue.content_hash, "OKR-4")
    store.save_writeback(field.record_key, field.content_hash, field.display)
    store.save_writeback(links.record_key, links.content_hash, "ONB-10")

    assert plan_kr_issues(settings, store, report, ["jira"]) == []
    assert plan_kr_issues(settings, store, report, ["github"]) == []  # Jira not writing
    # In the one plan (after the item targets' operations): none for the KR either.
    targets = [op.target for op in plan_writes(settings, store, report, ["jira"])]
    assert targets == ["jira:ONB-10"]


def test_a_mapping_change_plans_the_description_and_links_on_the_known_key(
    tmp_path: Path, store: Store
) -> None:
    settings = config(tmp_path)
    first = plan_kr_issues(settings, store, report_for(settings, store, EPIC), ["jira"])
    for operation in first:
        remote = "OKR-4" if isinstance(operation, SetKRIssue) else "ONB-10"
        store.save_writeback(operation.record_key, operation.content_hash, remote)
    other = work_item("ONB-20", labels=["okr:ONB-1"])

    plan = plan_kr_issues(settings, store, report_for(settings, store, EPIC, other, PR), ["jira"])

    issue, links = plan
    assert isinstance(issue, SetKRIssue) and issue.item_key == "OKR-4"
    assert "acme/web#5" in issue.description and "GitHub" in issue.description
    assert isinstance(links, SetKRLinks) and links.item_key == "OKR-4"
    assert (links.links, links.previous) == (("ONB-10", "ONB-20"), ("ONB-10",))
    assert describe(links) == "link KR issue ONB-1 to ONB-10, ONB-20"


def test_format_wiki_plans_the_wiki_description_alone(tmp_path: Path, store: Store) -> None:
    settings = config(tmp_path, format="wiki")
    report = report_for(settings, store, EPIC)
    (issue, *_) = plan_kr_issues(settings, store, report, ["jira"])
    assert isinstance(issue, SetKRIssue) and "ADF" not in issue.description
    assert "[ONB-10|https://example.test/jira/ONB-10] Setup wizard" in issue.description


def test_no_kr_issues_configured_plans_none_and_nothing_is_a_kr_issue(
    tmp_path: Path, store: Store
) -> None:
    settings = make_config(tmp_path)
    report = report_for(settings, store, EPIC)
    assert plan_kr_issues(settings, store, report, ["jira"]) == []
    assert not is_kr_issue(settings, work_item("OKR-1"))


def test_kr_issues_are_recognised_by_project_and_issue_type(tmp_path: Path) -> None:
    settings = config(tmp_path)
    kr = work_item("OKR-1")
    assert not is_kr_issue(settings, kr)  # a Story in OKR is work
    assert is_kr_issue(settings, replace(kr, type="key result"))
    assert not is_kr_issue(settings, replace(kr, type="Key Result", key="APP-1"))
    assert not is_kr_issue(settings, replace(kr, type="Key Result", source="github"))


def test_kr_work_is_the_top_level_targets_carrying_each_kr(tmp_path: Path, store: Store) -> None:
    settings = config(tmp_path)
    report = report_for(settings, store, EPIC, STORY, PR)
    assert {kr: sorted(i.key for i in items) for kr, items in kr_work(report).items()} == {
        "ONB-1": ["ONB-10", "acme/web#5"]
    }
