"""Coordination between processes that share one database.

- The schema lock serialises migrations, so replicas starting together upgrade once.
- Job leases let several replicas share scheduled jobs: one runs a job while the others
  wait for the lease to expire or be released.

Leases compare the callers' clocks, not the database's: each caller passes `now`. Replicas
therefore need NTP-synced clocks, and a lease's TTL must exceed the worst expected skew
plus the longest pause of a holder between renewals (GC, a slow request); otherwise a
replica whose clock runs ahead can take over a lease its holder still believes live.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, select, text, update

from okrsync.store._engine import upsert_insert
from okrsync.store._errors import UnsupportedBackendError
from okrsync.store._tables import job_leases

# pg_advisory_xact_lock takes a bigint shared by every application of the database:
# "okrsync" in ASCII is unlikely to collide with another application's key.
SCHEMA_LOCK_KEY = int.from_bytes(b"okrsync", "big")


@contextmanager
def schema_lock(connection: Connection) -> Iterator[None]:
    """Run the block in one transaction that holds the database-wide schema lock.

    Commits when the block ends, rolls back if it raises; either releases the lock, so a
    migrator that dies cannot leave it held.
    """
    backend = connection.dialect.name
    with connection.begin():
        if backend == "postgresql":
            # Waits for the holder; a transaction-level lock ends with the transaction.
            statement = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(statement, {"key": SCHEMA_LOCK_KEY})
        elif backend == "sqlite":
            # IMMEDIATE takes the file's write lock now; a deferred BEGIN would take it at
            # the first write, after two processes had both found no tables. The second
            # one waits in busy_timeout, then sees the first one's work.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            raise UnsupportedBackendError(f"okrsync cannot lock a {backend} database")
        yield


# -- job leases ---------------------------------------------------------------------------


def acquire_lease(engine: Engine, name: str, owner: str, ttl: timedelta, now: datetime) -> bool:
    """Take or renew the lease in one statement; see `Store.acquire_lease`.

    `INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE <own or expired> RETURNING`: a
    missing lease is inserted, a free, expired or own one taken over, and a live one of
    another owner left alone (no row comes back). On PostgreSQL a concurrent taker waits
    for the row lock and re-checks the WHERE against the committed row; SQLite runs one
    writer at a time.
    """
    expires_at = now + ttl
    insert = upsert_insert(engine, job_leases).values(name=name, owner=owner, expires_at=expires_at)
    statement = insert.on_conflict_do_update(
        index_elements=["name"],
        set_={"owner": owner, "expires_at": expires_at},
        where=(job_leases.c.owner == owner) | (job_leases.c.expires_at < now),
    ).returning(job_leases.c.owner)
    with engine.begin() as connection:
        return connection.execute(statement).first() is not None


def take_over_lease(
    engine: Engine, name: str, holder: str, owner: str, ttl: timedelta, now: datetime
) -> bool:
    """Take the lease from `holder`, known to be gone, whatever its expiry: one
    conditional UPDATE, so it fails if anyone else took the lease in the meantime."""
    statement = (
        update(job_leases)
        .where(job_leases.c.name == name, job_leases.c.owner == holder)
        .values(owner=owner, expires_at=now + ttl)
    )
    with engine.begin() as connection:
        return connection.execute(statement).rowcount == 1


def release_lease(engine: Engine, name: str, owner: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            delete(job_leases).where(job_leases.c.name == name, job_leases.c.owner == owner)
        )


def lease_holder(engine: Engine, name: str, now: datetime) -> str | None:
    # Live while expires_at >= now: the same boundary `acquire_lease` takes over at.
    statement = select(job_leases.c.owner).where(
        job_leases.c.name == name, job_leases.c.expires_at >= now
    )
    with engine.connect() as connection:
        holder: str | None = connection.execute(statement).scalar_one_or_none()
        return holder
