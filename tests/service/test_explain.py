"""`okrsync explain ITEM` end to end: a config file, a store, `okrsync.cli.main`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from factories import work_item

from okrsync.cli import main
from okrsync.domain import Bucket
from okrsync.store import Store

CONFIG = """\
version: 1
cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "{url}"}}
mapping:
  status_buckets: {{In Review: in_progress}}
  label_buckets: {{wontfix: excluded}}
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - {{id: ONB-1, title: Completion, baseline: 68, target: 85,
          labels: [onboarding-completion]}}
      - {{id: ONB-2, title: Time to value, baseline: 14, target: 5}}
"""

ITEMS = [
    work_item("ONB-10", labels=["okr:ONB-1"], bucket=Bucket.IN_PROGRESS),
    work_item("ONB-11", parent="ONB-10", bucket=Bucket.DONE, points=3),
    work_item("ONB-12", parent="ONB-10", labels=["okr:ONB-2"], points=2),
    work_item("acme/web#7", labels=["kr/onb-2", "Onboarding-Completion"], source="github"),
    work_item("acme/web#8", parent="acme/web#7", status="In Review", source="github"),
    work_item(
        "1204000000000001",
        labels=["okr:ONB-1", "wontfix"],
        bucket=Bucket.DONE,
        source="asana",
        points=5,
    ),
    work_item("1204000000000002", labels=["okr:ONB-3"], source="asana"),
    work_item("12", source="github"),
    work_item("12", source="asana"),
]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    path = tmp_path / "okrsync.yaml"
    path.write_text(CONFIG.format(url=url))
    store = Store(url)
    try:
        # Learned before the `--now` of the tests: `status --now T` reads the store as of T.
        store.upsert_items(ITEMS, seen_at=datetime(2026, 11, 1, tzinfo=UTC))
        store.save_writeback("jira:ONB-10", "f" * 64, "c-10")
    finally:
        store.close()
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def explained(config: Path, capsys: pytest.CaptureFixture[str], item: str) -> dict[str, Any]:
    code, out, err = run(config, capsys, "explain", item, "--format", "json")
    assert (code, err) == (0, "")
    produced: dict[str, Any] = json.loads(out)
    return produced


EXPLAIN_KEYS = ["item", "krs", "bucket", "bucket_from", "weight", "target", "writeback"]


def test_a_labelled_jira_epic_with_its_last_write(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    produced = explained(config, capsys, "jira:ONB-10")
    assert list(produced) == EXPLAIN_KEYS
    written_at = produced["writeback"].pop("written_at")
    assert written_at.endswith("Z")
    assert produced == {
        "item": "jira:ONB-10",
        "krs": [{"id": "ONB-1", "via": "label", "label": "okr:ONB-1", "from": "label_pattern"}],
        "bucket": "in_progress",
        "bucket_from": {"rule": "source", "value": "in_progress"},
        # Rolled up from its children: its own weight counts toward no KR.
        "weight": {"value": 1, "from": "default_points", "counts_toward": []},
        "target": True,
        "writeback": {"target": "jira:ONB-10", "content_hash": "f" * 64, "remote_id": "c-10"},
    }


def test_an_inherited_jira_child_found_by_its_bare_key(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    produced = explained(config, capsys, "ONB-11")
    assert produced["item"] == "jira:ONB-11"
    assert produced["krs"] == [
        {"id": "ONB-1", "via": "inherited", "label": "okr:ONB-1", "from": "jira:ONB-10"}
    ]
    assert produced["weight"] == {"value": 3, "from": "points", "counts_toward": ["ONB-1"]}
    assert (produced["target"], produced["writeback"]) == (False, None)


def test_a_github_issue_with_two_krs_and_its_inherited_sub_issue(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    produced = explained(config, capsys, "github:acme/web#7")
    assert produced["krs"] == [
        {"id": "ONB-1", "via": "label", "label": "Onboarding-Completion", "from": "labels"},
        {"id": "ONB-2", "via": "label", "label": "kr/onb-2", "from": "label_pattern"},
    ]
    assert produced["target"] is True
    child = explained(config, capsys, "acme/web#8")
    assert [(kr["id"], kr["via"], kr["from"]) for kr in child["krs"]] == [
        ("ONB-1", "inherited", "github:acme/web#7"),
        ("ONB-2", "inherited", "github:acme/web#7"),
    ]
    assert child["bucket"] == "in_progress"
    assert child["bucket_from"] == {"rule": "status_buckets", "value": "In Review"}


def test_an_excluded_and_an_unmapped_asana_task(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    excluded = explained(config, capsys, "asana:1204000000000001")
    assert excluded["krs"] == []
    assert excluded["bucket"] == "excluded"
    assert excluded["bucket_from"] == {"rule": "label_buckets", "value": "wontfix"}
    assert (excluded["weight"], excluded["target"]) == (None, False)

    unmapped = explained(config, capsys, "1204000000000002")
    assert unmapped["krs"] == []
    assert unmapped["weight"] == {"value": 1, "from": "default_points", "counts_toward": []}
    assert unmapped["target"] is False


def test_text_says_why_in_words(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(config, capsys, "explain", "ONB-12", "--now", "2026-11-20")
    assert code == 0
    assert out.splitlines()[0] == "jira:ONB-12  Item ONB-12"
    assert "ONB-1  inherited from jira:ONB-10 (label okr:ONB-1, label_pattern)" in out
    assert "ONB-2  label okr:ONB-2 (label_pattern); counts itself" in out
    assert "ONB-2 as of the report: delivery 0%, 0/3 pts, 0/2 items done" in out
    assert "write-back target: no: its parent jira:ONB-10 is mapped (top_level)" in out
    assert "problem: kr_label_on_child_only: label okr:ONB-2 maps it to ONB-2" in out

    _, out, _ = run(config, capsys, "explain", "github:acme/web#7")
    assert "ONB-1  label Onboarding-Completion (ONB-1 labels); rolled up from its children" in out
    _, out, _ = run(config, capsys, "explain", "jira:ONB-10")
    assert "last written: " in out and "comment c-10" in out
    _, out, _ = run(config, capsys, "explain", "asana:1204000000000002")
    assert "problem: unknown_kr: label okr:ONB-3 names ONB-3" in out
    assert "KRs: none: unmapped" in out


def test_an_unknown_item_exits_2_with_one_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(config, capsys, "explain", "jira:NOPE-1")
    assert (code, out) == (2, "")
    assert err == "okrsync: no item 'jira:NOPE-1' in the store (try source:key, e.g. jira:ONB-12)\n"


def test_an_ambiguous_bare_key_exits_2_listing_candidates(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(config, capsys, "explain", "12", "--format", "json")
    assert (code, out) == (2, "")
    assert err == "okrsync: '12' is ambiguous: asana:12, github:12; name one as source:key\n"


def test_status_json_lists_unmapped_items_and_problems(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(config, capsys, "status", "--format", "json", "--now", "2026-11-20")
    assert code == 0
    produced = json.loads(out)
    assert produced["unmapped"] == {
        "count": 3,
        "items": ["asana:12", "asana:1204000000000002", "github:12"],
    }
    assert [(p["item"], p["problem"]) for p in produced["problems"]] == [
        ("asana:1204000000000002", "unknown_kr"),
        ("jira:ONB-12", "kr_label_on_child_only"),
    ]
    onb_1 = produced["objectives"][0]["key_results"][0]
    # Leaves of ONB-1: ONB-11 (3, done), ONB-12 (2), web#8 (1); web#7 is rolled up.
    assert onb_1["weight"] == {"done": 3, "total": 6}
