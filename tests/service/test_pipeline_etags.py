"""The pipeline hands a conditional source its stored ETags before the pull and saves the
ones it hands back only once the pull finished and its items are stored."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from factories import make_config, work_item

from okrsync.domain import WorkItem
from okrsync.service import run_cycle
from okrsync.sources import FatalError, PullResult, RequestCounter, Source
from okrsync.store import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PAGE = "https://jira.example/rest/api/2/search?jql=x"


class ConditionalFake:
    name = "jira"

    def __init__(self, etags: dict[str, str], fail: bool = False) -> None:
        self.requests = RequestCounter()
        self.handed: list[dict[str, str]] = []
        self.etags = etags
        self.fail = fail
        self.children_etags: dict[str, str] = {}
        self.parents: list[WorkItem] = []

    def use_etags(self, etags: Mapping[str, str]) -> None:
        self.handed.append(dict(etags))

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        if self.fail:
            raise FatalError("jira", "the second page failed")
        return PullResult(
            "jira", list(self.parents), 1_000, bookmark_ms is None, etags=dict(self.etags)
        )

    def children(self, parents: object, known: object) -> list[object]:
        return []

    def labels_in_use(self) -> set[str]:
        return set()

    def apply(self, write: object) -> object:
        raise AssertionError("nothing to write")

    def close(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'okrsync.db'}")


def cycle(tmp_path: Path, store: Store, source: ConditionalFake) -> None:
    run_cycle(make_config(tmp_path), store, lambda name: source, now=NOW, metrics=False)  # type: ignore[arg-type,return-value]


def test_the_stored_etags_go_in_and_the_new_ones_are_saved_after_the_pull(
    tmp_path: Path, store: Store
) -> None:
    first = ConditionalFake({PAGE: 'W/"1"'})
    cycle(tmp_path, store, first)
    second = ConditionalFake({PAGE: 'W/"2"'})
    cycle(tmp_path, store, second)

    assert first.handed == [{}]
    assert second.handed == [{PAGE: 'W/"1"'}]
    assert store.etags("jira") == {PAGE: 'W/"2"'}


def test_a_failed_pull_saves_no_etag(tmp_path: Path, store: Store) -> None:
    store.save_etags("jira", {PAGE: 'W/"old"'})

    cycle(tmp_path, store, ConditionalFake({PAGE: 'W/"new"'}, fail=True))

    assert store.etags("jira") == {PAGE: 'W/"old"'}


class ParentFake(ConditionalFake):
    """A mapped parent whose child only a look-up shows; the look-up reads a child page
    whole and hands its ETag back in `children_etags`."""

    CHILD_PAGE = "https://jira.example/rest/api/2/issue/P-1/children"

    def __init__(self) -> None:
        super().__init__({})
        self.parents = [work_item("P-1", labels=["okr:ONB-1"], child_count=1)]

    def children(self, parents: object, known: object) -> list[object]:
        self.children_etags[self.CHILD_PAGE] = 'W/"c1"'
        return [work_item("C-1", parent="P-1")]


def test_the_etags_of_child_pages_are_saved_once_the_children_are_stored(
    tmp_path: Path, store: Store
) -> None:
    source = ParentFake()
    run_cycle(
        make_config(tmp_path),
        store,
        lambda name: cast(Source, source),
        now=NOW,
        metrics=False,
        dry_run=True,
    )

    assert {item.key for item in store.items("jira")} == {"P-1", "C-1"}
    assert store.etags("jira") == {ParentFake.CHILD_PAGE: 'W/"c1"'}
