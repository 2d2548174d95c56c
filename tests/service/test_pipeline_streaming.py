"""A streaming source's items are stored batch by batch while it pulls; the bookmark and
ETags are saved, and a full pull's unseen items deleted, only once the pull finished."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import make_config, work_item

from okrsync.domain import WorkItem
from okrsync.service import run_cycle
from okrsync.sources import FatalError, PullResult, RequestCounter
from okrsync.sources._core import StreamingSource
from okrsync.store import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PAGE = "https://jira.example/rest/api/2/search?jql=x"


class StreamingFake:
    """Hands its batches to the pipeline's sink; may fail after the first one."""

    name = "jira"

    def __init__(self, store: Store, batches: list[list[WorkItem]], fail: bool = False):
        self.requests = RequestCounter()
        self.children_etags: dict[str, str] = {}
        self.store = store
        self.batches = batches
        self.fail = fail
        self.sink: Callable[[list[WorkItem]], None] | None = None
        self.stored_while_pulling: list[set[str]] = []

    def stream_to(self, sink: Callable[[list[WorkItem]], None] | None) -> None:
        self.sink = sink

    def use_etags(self, etags: Mapping[str, str]) -> None:
        pass

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        assert self.sink is not None
        for batch in self.batches:
            self.sink(batch)
            self.stored_while_pulling.append({item.key for item in self.store.items("jira")})
            if self.fail:
                raise FatalError("jira", "the second page failed")
        return PullResult("jira", [], 2_000, bookmark_ms is None, etags={PAGE: 'W/"new"'})

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
    store = Store(f"sqlite:///{tmp_path / 'okrsync.db'}")
    store.upsert_items([work_item("OLD-1")], seen_at=NOW)
    store.set_cursor("jira", 1_000)
    store.save_etags("jira", {PAGE: 'W/"old"'})
    return store


def cycle(tmp_path: Path, store: Store, source: StreamingFake, full: bool = True) -> None:
    run_cycle(
        make_config(tmp_path),
        store,
        lambda name: source,  # type: ignore[arg-type,return-value]
        now=NOW,
        metrics=False,
        dry_run=True,
        full=full,
    )


def test_the_fake_is_what_the_pipeline_streams_to() -> None:
    assert isinstance(StreamingFake(None, []), StreamingSource)  # type: ignore[arg-type]


def test_items_are_stored_batch_by_batch_and_the_unseen_deleted_once_the_pull_finished(
    tmp_path: Path, store: Store
) -> None:
    source = StreamingFake(store, [[work_item("A-1"), work_item("A-2")], [work_item("A-3")]])

    cycle(tmp_path, store, source)

    # Each batch is in the store before the next is read; OLD-1 is still there meanwhile.
    assert source.stored_while_pulling == [{"OLD-1", "A-1", "A-2"}, {"OLD-1", "A-1", "A-2", "A-3"}]
    assert {item.key for item in store.items("jira")} == {"A-1", "A-2", "A-3"}
    assert store.cursor("jira") == 2_000
    assert store.etags("jira") == {PAGE: 'W/"new"'}
    assert source.sink is None  # the sink is taken back after the pull


def test_a_streaming_pull_that_fails_keeps_the_bookmark_the_etags_and_the_unseen_items(
    tmp_path: Path, store: Store
) -> None:
    source = StreamingFake(store, [[work_item("A-1")], [work_item("A-2")]], fail=True)

    cycle(tmp_path, store, source)

    # What was read is stored (newer data is never wrong); nothing that needs the whole
    # pull happened: no deletion, the bookmark and ETags as they were.
    assert {item.key for item in store.items("jira")} == {"OLD-1", "A-1"}
    assert store.cursor("jira") == 1_000
    assert store.etags("jira") == {PAGE: 'W/"old"'}
    assert source.sink is None
