"""Job leases and webhook secrets, on SQLite and a real PostgreSQL server."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from okrsync.store import Store

T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
TTL = 30.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- one replica at a time ----------------------------------------------------------------------


def test_a_free_lease_is_taken_and_a_held_one_refused(store: Store) -> None:
    assert store.lease_holder("cycle", now=T0) is None

    assert store.acquire_lease("cycle", "replica-a", TTL, now=T0) is True
    assert store.acquire_lease("cycle", "replica-b", TTL, now=at(1)) is False

    assert store.lease_holder("cycle", now=at(1)) == "replica-a"


def test_the_holder_renews_and_the_renewal_extends_it(store: Store) -> None:
    store.acquire_lease("cycle", "replica-a", TTL, now=T0)

    assert store.acquire_lease("cycle", "replica-a", TTL, now=at(20)) is True

    assert store.acquire_lease("cycle", "replica-b", TTL, now=at(40)) is False  # < 20 + 30
    assert store.lease_holder("cycle", now=at(50)) == "replica-a"
    assert store.lease_holder("cycle", now=at(51)) is None


def test_an_expired_lease_is_taken_over(store: Store) -> None:
    store.acquire_lease("cycle", "replica-a", TTL, now=T0)

    # Held up to and including its expiry instant, free one microsecond later.
    assert store.acquire_lease("cycle", "replica-b", TTL, now=at(TTL)) is False
    just_after = at(TTL) + timedelta(microseconds=1)
    assert store.acquire_lease("cycle", "replica-b", TTL, now=just_after) is True

    assert store.lease_holder("cycle", now=just_after) == "replica-b"
    assert store.acquire_lease("cycle", "replica-a", TTL, now=just_after) is False


def test_only_the_holder_releases(store: Store) -> None:
    store.acquire_lease("cycle", "replica-a", TTL, now=T0)

    store.release_lease("cycle", "replica-b")
    assert store.lease_holder("cycle", now=at(1)) == "replica-a"

    store.release_lease("cycle", "replica-a")
    assert store.lease_holder("cycle", now=at(1)) is None
    assert store.acquire_lease("cycle", "replica-b", TTL, now=at(1)) is True

    store.release_lease("never-taken", "replica-a")  # nothing to release: no error


def test_leases_are_independent_by_name(store: Store) -> None:
    assert store.acquire_lease("sync:jira", "replica-a", TTL, now=T0)
    assert store.acquire_lease("sync:github", "replica-b", TTL, now=T0)

    assert store.lease_holder("sync:jira", now=T0) == "replica-a"
    assert store.lease_holder("sync:github", now=T0) == "replica-b"


def test_now_defaults_to_the_utc_clock(store: Store) -> None:
    assert store.acquire_lease("cycle", "replica-a", TTL)

    assert store.lease_holder("cycle") == "replica-a"
    assert store.lease_holder("cycle", now=datetime.now(UTC) + timedelta(seconds=TTL + 1)) is None


def test_a_lease_instant_in_another_timezone_is_the_same_instant(store: Store) -> None:
    store.acquire_lease("cycle", "replica-a", TTL, now=T0)
    in_new_york = at(TTL + 1).astimezone(timezone(timedelta(hours=-5)))

    assert store.acquire_lease("cycle", "replica-b", TTL, now=in_new_york) is True


@pytest.mark.parametrize("ttl", [0, -1.0])
def test_a_non_positive_ttl_is_refused(store: Store, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        store.acquire_lease("cycle", "replica-a", ttl, now=T0)


def test_a_naive_now_is_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        store.acquire_lease("cycle", "replica-a", TTL, now=datetime(2026, 10, 5))
    assert store.lease_holder("cycle", now=T0) is None


def test_replicas_on_separate_stores_see_each_others_leases(store_url: str) -> None:
    with Store(store_url) as replica_a, Store(store_url) as replica_b:
        assert replica_a.acquire_lease("cycle", "a", TTL, now=T0)
        assert not replica_b.acquire_lease("cycle", "b", TTL, now=at(1))
        assert replica_b.lease_holder("cycle", now=at(1)) == "a"


# -- racing replicas --------------------------------------------------------------------------

REPLICAS = 8


def start_together(targets: list[threading.Thread]) -> None:
    for thread in targets:
        thread.start()
    for thread in targets:
        thread.join(timeout=60)
        assert not thread.is_alive(), "a replica hung"


def test_replicas_racing_for_a_free_lease_elect_exactly_one(store: Store, store_url: str) -> None:
    """Every replica tries at the same instant: the INSERT's primary key picks one."""
    rounds = 15
    barrier = threading.Barrier(REPLICAS)
    winners: list[list[str]] = [[] for _ in range(rounds)]
    errors: list[BaseException] = []

    def replica(owner: str) -> None:
        with Store(store_url) as own:
            for round_ in range(rounds):
                barrier.wait()
                try:
                    if own.acquire_lease(f"round-{round_}", owner, TTL, now=T0):
                        winners[round_].append(owner)
                except BaseException as error:  # noqa: BLE001 - reported below
                    errors.append(error)

    start_together([threading.Thread(target=replica, args=(f"r{n}",)) for n in range(REPLICAS)])

    assert errors == []
    assert [len(round_winners) for round_winners in winners] == [1] * rounds


@dataclass(frozen=True, slots=True)
class Belief:
    """A replica believed it held the lease from `start` to `end` (one clock for all)."""

    owner: str
    start: datetime
    end: datetime


def test_racing_replicas_never_believe_they_hold_a_lease_at_once(store_url: str) -> None:
    """Replicas take, renew, stall past the TTL and release one short lease at random.

    A replica believes it holds the lease from the moment `acquire_lease` returns True
    until the expiry it asked for, or until it starts releasing; beliefs of different
    replicas must never overlap.
    """
    beliefs: list[Belief] = []
    errors: list[BaseException] = []
    Store(store_url).close()  # migrate once, before the replicas start

    def replica(owner: str, seed: int) -> None:
        try:
            with Store(store_url) as own:
                beliefs.extend(_race(own, owner, random.Random(seed)))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    start_together([threading.Thread(target=replica, args=(f"r{n}", n)) for n in range(REPLICAS)])

    assert errors == []
    assert len({belief.owner for belief in beliefs}) > 1, "the lease never changed hands"
    assert _overlaps(beliefs) == []


RACE_TTL = 0.03
RACE_ATTEMPTS = 60


def _race(store: Store, owner: str, rng: random.Random) -> list[Belief]:
    """One replica's attempts; returns what it believed, and when."""
    mine: list[Belief] = []
    for _ in range(RACE_ATTEMPTS):
        now = datetime.now(UTC)
        if not store.acquire_lease("cycle", owner, RACE_TTL, now=now):
            time.sleep(rng.uniform(0, RACE_TTL / 3))  # poll again soon
            continue
        believed_from, expires = datetime.now(UTC), now + timedelta(seconds=RACE_TTL)
        if expires <= believed_from:
            continue  # stalled past the whole TTL before the answer came: believed nothing
        mine.append(Belief(owner, believed_from, expires))
        choice = rng.random()
        if choice < 0.2:  # done: give it up, which ends every belief held so far
            releasing_at = datetime.now(UTC)
            mine = [replace(b, end=min(b.end, releasing_at)) for b in mine]
            store.release_lease("cycle", owner)
        elif choice < 0.4:  # a stalled holder: the TTL runs out before it comes back
            time.sleep(RACE_TTL * 1.5)
        else:  # working, and renewing before the TTL runs out
            time.sleep(rng.uniform(0, RACE_TTL / 2))
    return mine


def _overlaps(beliefs: list[Belief]) -> list[tuple[Belief, Belief]]:
    ordered = sorted(beliefs, key=lambda belief: belief.start)
    found = []
    for index, first in enumerate(ordered):
        for second in ordered[index + 1 :]:
            if second.start >= first.end:
                break  # sorted by start: no later belief starts before `first` ends
            if second.owner != first.owner:
                found.append((first, second))
    return found


# -- webhook secrets ----------------------------------------------------------------------------


def test_webhook_secrets_round_trip_and_survive_a_restart(store_url: str) -> None:
    with Store(store_url) as store:
        assert store.webhook_secret("asana:1204") is None
        store.save_webhook_secret("asana:1204", "first")
        store.save_webhook_secret("asana:1204", "second")
        store.save_webhook_secret("asana:9999", "other")

    with Store(store_url) as restarted:
        assert restarted.webhook_secret("asana:1204") == "second"
        assert restarted.webhook_secret("asana:9999") == "other"
        assert restarted.webhook_secret("asana:missing") is None


def test_replicas_saving_one_secret_at_once_all_succeed(store: Store, store_url: str) -> None:
    """Each save is an UPDATE, else an INSERT that may lose to another replica's."""
    barrier = threading.Barrier(REPLICAS)
    errors: list[BaseException] = []

    def replica(secret: str) -> None:
        with Store(store_url) as own:
            barrier.wait()
            try:
                own.save_webhook_secret("asana:1204", secret)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

    secrets = [f"secret-{n}" for n in range(REPLICAS)]
    start_together([threading.Thread(target=replica, args=(secret,)) for secret in secrets])

    assert errors == []
    assert store.webhook_secret("asana:1204") in secrets
