"""The pure parts of reconciliation and retiring: record keys, the dry-run line, when a
reconcile is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from okrsync.service.planning import describe, split_record_key
from okrsync.service.reconcile import reconcile_due, reconcile_key, save_reconciled
from okrsync.sources import RetireTarget
from okrsync.sources._base import text_fingerprint
from okrsync.store import Store

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("jira:ONB-12", ("jira:ONB-12", "")),
        ("jira:ONB-12#field:OKR Health", ("jira:ONB-12", "field:OKR Health")),
        ("jira:ONB-12#property:okrsync.status", ("jira:ONB-12", "property:okrsync.status")),
        ("github:acme/web#12", ("github:acme/web#12", "")),
        ("github:acme/web#12#labels", ("github:acme/web#12", "labels")),
        ("asana:120#field:A#B", ("asana:120", "field:A#B")),
    ],
)
def test_a_record_key_splits_into_target_and_operation(key: str, expected: Any) -> None:
    assert split_record_key(key) == expected


def test_the_dry_run_line_of_a_retirement_says_what_goes() -> None:
    jira = RetireTarget(
        "jira:ONB-12",
        "jira",
        "ONB-12",
        "note",
        "10001",
        fields=("KR Progress", "OKR Health"),
        properties=("okrsync.status",),
    )
    assert describe(jira) == (
        "retire (no longer linked): note comment, clear 2 fields, delete property"
    )
    github = RetireTarget(
        "github:a/b#1", "github", "a/b#1", "delete", "9", labels=("okr-health:at-risk",)
    )
    assert describe(github) == (
        "retire (no longer linked): delete comment, remove label okr-health:at-risk"
    )


def test_a_reconcile_is_due_first_then_after_the_interval_and_always_on_full() -> None:
    from okrsync.config import Config

    config = Config.model_validate(
        {
            "version": 1,
            "cycle": {"name": "Q4", "start": "2026-10-01", "end": "2026-12-31"},
            "objectives": [
                {
                    "id": "O",
                    "title": "O",
                    "key_results": [{"id": "O-1", "title": "t", "baseline": 0, "target": 1}],
                }
            ],
            "writeback": {"reconcile": "2h"},
        }
    )
    with Store("sqlite://") as store:
        assert reconcile_due(config, store, "jira", NOW, full=False)
        save_reconciled(store, ["jira"], NOW)
        assert store.writeback(reconcile_key("jira")) is not None
        assert store.writebacks_of("jira") == []  # not a target's record
        assert not reconcile_due(config, store, "jira", NOW + timedelta(hours=1), full=False)
        assert reconcile_due(config, store, "jira", NOW + timedelta(hours=1), full=True)
        assert reconcile_due(config, store, "jira", NOW + timedelta(hours=2), full=False)
        assert reconcile_due(config, store, "github", NOW, full=False)


def test_the_fingerprint_keeps_words_and_numbers_only() -> None:
    assert text_fingerprint("*At risk*  — 41.2%\r\n") == text_fingerprint("At risk 412")
    assert text_fingerprint("At risk") != text_fingerprint("On track")
