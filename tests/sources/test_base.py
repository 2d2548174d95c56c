"""The bookmark rule shared by every connector."""

from __future__ import annotations

from okrsync.sources._base import next_bookmark


def test_the_servers_start_time_is_the_bookmark() -> None:
    assert (
        next_bookmark(
            previous_ms=1_000, newest_seen_ms=1_500, local_started_ms=9_999, server_started_ms=2_000
        )
        == 2_000
    )


def test_without_server_time_the_newest_update_seen_capped_by_our_start() -> None:
    assert next_bookmark(None, newest_seen_ms=1_500, local_started_ms=2_000) == 1_500
    assert next_bookmark(None, newest_seen_ms=2_500, local_started_ms=2_000) == 2_000


def test_nothing_seen_keeps_the_previous_bookmark_or_starts_at_our_start() -> None:
    assert next_bookmark(1_000, newest_seen_ms=None, local_started_ms=2_000) == 1_000
    assert next_bookmark(None, newest_seen_ms=None, local_started_ms=2_000) == 2_000


def test_the_bookmark_never_moves_backwards() -> None:
    assert (
        next_bookmark(5_000, newest_seen_ms=1_000, local_started_ms=9_000, server_started_ms=4_000)
        == 5_000
    )
    assert next_bookmark(5_000, newest_seen_ms=1_000, local_started_ms=9_000) == 5_000
