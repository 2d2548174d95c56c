"""The scope at the cycle start, kept by the first sync cycle after the start and read by
every later report instead of every item's version at the start: the same reports,
recomputed when the mapping changes or a back-dated version arrives; `status` and
`report` keep nothing (they write nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from factories import work_item

from okrsync.config import Config, load_config
from okrsync.domain import Bucket, scope_fingerprint, start_weights_of
from okrsync.service import current_report, run_cycle
from okrsync.store import Store

START = datetime(2026, 10, 1, tzinfo=UTC)
BEFORE = datetime(2026, 9, 20, tzinfo=UTC)
T1 = datetime(2026, 11, 10, 12, tzinfo=UTC)
T2 = datetime(2026, 11, 20, 12, tzinfo=UTC)

CONFIG = """\
version: 1
cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
store: {{url: "sqlite:///unused.db"}}
sources:
  jira: {{url: 'https://jira.example', jql: 'project = ONB'}}
objectives:
  - id: ONB
    title: Onboarding
    key_results:
      - {{id: ONB-1, title: Completion, baseline: 68, target: 85, labels: [{labels}]}}
      - {{id: ONB-2, title: Activation, baseline: 10, target: 20}}
"""


def config(tmp_path: Path, labels: str = "") -> Config:
    path = tmp_path / f"okrsync{len(labels)}.yaml"
    path.write_text(CONFIG.format(labels=labels))
    return load_config(path).config


@contextmanager
def start_reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    """The instants the items' versions are read at for a scope (`Store.scope_items`)."""
    seen: list[datetime] = []
    read = store.scope_items

    def counted(as_of: datetime) -> Any:
        seen.append(as_of)
        return read(as_of)

    with monkeypatch.context() as patch:
        patch.setattr(store, "scope_items", counted)
        yield seen


def fill(store: Store) -> None:
    store.upsert_items(
        [
            work_item("ONB-10", labels=["okr:ONB-1"], points=5),
            work_item("ONB-11", labels=["okr:ONB-2"], points=2),
            work_item("ONB-12", labels=["onboarding"], points=3),
        ],
        seen_at=BEFORE,
    )
    store.upsert_items(
        [
            work_item("ONB-10", labels=["okr:ONB-1"], points=8, bucket=Bucket.DONE),
            work_item("ONB-13", labels=["okr:ONB-1"], points=1),
        ],
        seen_at=T1,
    )


def start_weights(config: Config, store: Store, now: datetime) -> dict[str, float | None]:
    report = current_report(config, store, now)
    return {
        kr.kr.id: kr.scope.start_weight
        for o in report.objectives
        for kr in o.key_results
        if kr.scope
    }


def cycle(settings: Config, store: Store, now: datetime, *, dry_run: bool = False) -> None:
    """A sync cycle without sources: it computes the report at `now`, as every cycle does."""
    run_cycle(settings, store, pytest.fail, now=now, only=(), metrics=False, dry_run=dry_run)


def test_a_cycle_after_the_start_keeps_it_and_later_reports_read_it(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = config(tmp_path)
    fill(store)
    fingerprint = scope_fingerprint(settings.domain_objectives(), settings.rules())
    with start_reads(store, monkeypatch) as unkept_reads:
        unkept = current_report(settings, store, T2)
    assert store.scope_start(fingerprint, START) is None  # a report writes nothing

    cycle(settings, store, T1)
    with start_reads(store, monkeypatch) as kept_reads:
        kept = current_report(settings, store, T2)

    assert store.scope_start(fingerprint, START) == {"ONB-1": 5.0, "ONB-2": 2.0}
    assert start_weights_of(unkept) == {"ONB-1": 5.0, "ONB-2": 2.0}
    assert kept == unkept
    assert (unkept_reads, kept_reads) == ([START], [])


def test_no_cycle_at_or_before_the_start_nor_a_dry_run_keeps_one(
    store: Store, tmp_path: Path
) -> None:
    settings = config(tmp_path)
    fill(store)
    fingerprint = scope_fingerprint(settings.domain_objectives(), settings.rules())

    cycle(settings, store, BEFORE)
    cycle(settings, store, START)
    cycle(settings, store, T1, dry_run=True)

    assert store.scope_start(fingerprint, START) is None


def test_another_mapping_computes_and_keeps_its_own(store: Store, tmp_path: Path) -> None:
    fill(store)
    plain, labelled = config(tmp_path), config(tmp_path, labels="onboarding")
    cycle(plain, store, T1)

    assert start_weights(plain, store, T2) == {"ONB-1": 5.0, "ONB-2": 2.0}
    assert start_weights(labelled, store, T2) == {"ONB-1": 8.0, "ONB-2": 2.0}  # + ONB-12
    cycle(labelled, store, T1)
    assert start_weights(labelled, store, T2) == {"ONB-1": 8.0, "ONB-2": 2.0}
    assert start_weights(plain, store, T2) == {"ONB-1": 5.0, "ONB-2": 2.0}


def test_a_back_dated_version_is_counted_at_the_next_report(store: Store, tmp_path: Path) -> None:
    settings = config(tmp_path)
    fill(store)
    cycle(settings, store, T1)
    assert start_weights(settings, store, T2) == {"ONB-1": 5.0, "ONB-2": 2.0}

    # `sync --once --now 2026-09-25`, run after the cycle started: learned before it.
    store.upsert_items([work_item("ONB-14", labels=["okr:ONB-2"], points=4)], seen_at=BEFORE)

    assert start_weights(settings, store, T2) == {"ONB-1": 5.0, "ONB-2": 6.0}
