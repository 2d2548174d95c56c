"""The bulk item writes on SQLite (`upsert_items`, `delete_items`) as hand-written SQL over
the stdlib `sqlite3` connection (`_sqlite`): the only SQLite implementation of each, so
a cycle that stores items never imports SQLAlchemy. They leave the rows, byte for byte
and rowids alike, that SQLAlchemy Core's statements (`_core`, PostgreSQL's path) leave
on SQLite (tests/store/test_sqlite_upsert_fast_path.py, tests/store/test_sqlite_raw.py):
the same statements, values converted by `_values`.

An upsert is one `INSERT ... VALUES (...), (...) ON CONFLICT DO UPDATE` per page of up to
1,000 rows: the database decides row by row, atomically, so a concurrent upsert of the
same items by another process neither fails nor is lost. A small upsert reads what each
row became from the rows it returns (`RETURNING`): a row whose `first_seen_at` is this
call's instant was inserted, one whose `changed_at` is was updated, one whose
`versioned_at` is needs a version, written in the same transaction. An upsert of a large
share of the stored items (`SCANNED_UPSERT_SHARE`: a full pull) leaves out the RETURNING
and reads what it did from the rows carrying its instant, its versions copied by the
database from those rows (`_upsert_scanned`).

Rows stored before revision 0003 have NULL `first_seen_at` and `changed_at` (and before
0004 NULL `versioned_at`): the statements keep a NULL stamp of an unchanged row (`ELSE
work_items.changed_at`), never count such a row as inserted (`NULL = seen_at` is not
true) and count it updated when it changed, as SQLAlchemy's statements do.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import chain
from typing import Any

from okrsync.domain.models import Bucket, WorkItem
from okrsync.store._shared import ITEM_FIELDS, KEYS_PER_QUERY, Memo, chunked
from okrsync.store._values import (
    bool_to_sqlite,
    datetime_from_sqlite,
    datetime_to_sqlite,
    float_to_sqlite,
    json_from_sqlite,
    json_to_sqlite,
)

# A SQLite upsert of at least 1/SCANNED_UPSERT_SHARE of the stored items reads what it
# did by scanning `work_items` for its instant, not from RETURNING rows: the scans cost
# about 1 µs per stored row, and each row upserted about 4 µs less than a returned one
# (with its version written from Python); into 100,000 stored items both took the same
# time for 12,500 (see `_upsert_scanned`). Below SCANNED_UPSERT_ROWS items the few
# milliseconds it could save are not worth its two more statements.
SCANNED_UPSERT_SHARE = 8
SCANNED_UPSERT_ROWS = 2_000

_Ref = tuple[str, str]  # (source, key), the primary key of a work item

# What an upsert compares to tell an updated item from an unchanged one.
_COMPARED_FIELDS = tuple(name for name in ITEM_FIELDS if name not in ("source", "key"))
# What makes a new version in the history: every field but `updated`.
_VERSIONED_FIELDS = tuple(name for name in _COMPARED_FIELDS if name != "updated")
# An inserted row gets this upsert's instant in all four.
_STAMPS = ("seen_at", "first_seen_at", "changed_at", "versioned_at")

_ITEM_NAMES = (*ITEM_FIELDS, *_STAMPS)
_VERSION_NAMES = ("source", "key", "learned_at", "deleted", *ITEM_FIELDS[2:])


def _quoted(name: str) -> str:
    return '"key"' if name == "key" else name


def _differs(name: str) -> str:
    """NULL-safe; labels compared as JSON text, as SQLAlchemy's statement does."""
    if name == "labels":
        return "CAST(work_items.labels AS TEXT) IS NOT CAST(excluded.labels AS TEXT)"
    return f"work_items.{_quoted(name)} IS NOT excluded.{_quoted(name)}"


def _item_upsert_sql(*, returning: bool, parent: bool) -> tuple[str, str]:
    """The items' upsert (head up to `VALUES `, tail after the rows): insert, or overwrite
    every field and `seen_at`; `changed_at` moves only when a compared field differs,
    `versioned_at` when a versioned one does. An existing row's `parent` is left to the
    caller when `parent` is False (compared all the same)."""
    columns = ", ".join(_quoted(name) for name in _ITEM_NAMES)
    assigned = [name for name in _COMPARED_FIELDS if parent or name != "parent"]
    sets = [f"{_quoted(name)} = excluded.{_quoted(name)}" for name in assigned]
    sets.append("seen_at = excluded.seen_at")
    changed = " OR ".join(_differs(name) for name in _COMPARED_FIELDS)
    versioned = " OR ".join(_differs(name) for name in _VERSIONED_FIELDS)
    sets.append(
        f"changed_at = CASE WHEN ({changed}) THEN excluded.seen_at ELSE work_items.changed_at END"
    )
    sets.append(
        f"versioned_at = CASE WHEN ({versioned}) THEN excluded.versioned_at"
        " ELSE work_items.versioned_at END"
    )
    tail = ' ON CONFLICT (source, "key") DO UPDATE SET ' + ", ".join(sets)
    if returning:
        tail += ' RETURNING source, "key", first_seen_at, changed_at, versioned_at'
    return f"INSERT INTO work_items ({columns}) VALUES ", tail


_VERSION_COLUMNS = ", ".join(_quoted(name) for name in _VERSION_NAMES)
# The same item learned twice at one instant keeps the last state.
_VERSION_CONFLICT = ' ON CONFLICT (source, "key", learned_at) DO UPDATE SET ' + ", ".join(
    f"{_quoted(name)} = excluded.{_quoted(name)}" for name in _VERSION_NAMES[3:]
)
# `_upsert_scanned`'s versions: those of the rows an upsert versioned, in key order (the
# order `_upsert_returned` writes them in: rowids alike). Parameters: learned_at,
# deleted, stamp.
_COPY_VERSIONS = (
    f"INSERT INTO item_versions ({_VERSION_COLUMNS}) SELECT work_items.source,"
    ' work_items."key", ?, ?, '
    + ", ".join(f"work_items.{_quoted(name)}" for name in ITEM_FIELDS[2:])
    + " FROM work_items WHERE work_items.seen_at = ? AND work_items.versioned_at ="
    ' work_items.seen_at ORDER BY work_items.source, work_items."key"' + _VERSION_CONFLICT
)


class _BulkInsert:
    """An `INSERT ... VALUES (...)[, ...] tail` sent with a multi-row VALUES, a statement
    per `rows_per_statement` rows of `width` parameters each."""

    def __init__(self, head: str, tail: str, width: int) -> None:
        self._head = head
        self._tail = tail
        self._group = "(" + ", ".join("?" * width) + ")"
        # SQLite's limit of bound variables per statement: 32,766 since 3.32, 999 before.
        limit = 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
        self.rows_per_statement = max(1, min(1_000, limit // width))
        self._full = self._sql(self.rows_per_statement)

    def _sql(self, rows: int) -> str:
        return self._head + ", ".join([self._group] * rows) + self._tail

    def execute(self, connection: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Insert `rows` (converted parameters); the rows the statements return."""
        returned: list[Any] = []
        size = self.rows_per_statement
        for chunk in chunked(rows, size):
            sql = self._full if len(chunk) == size else self._sql(len(chunk))
            cursor = connection.execute(sql, tuple(chain.from_iterable(chunk)))
            try:
                returned.extend(cursor.fetchall())
            finally:
                cursor.close()
        return returned


_ITEMS = _BulkInsert(*_item_upsert_sql(returning=True, parent=True), len(_ITEM_NAMES))
_UNRETURNED_ITEMS = _BulkInsert(*_item_upsert_sql(returning=False, parent=False), len(_ITEM_NAMES))
_VERSIONS = _BulkInsert(
    f"INSERT INTO item_versions ({_VERSION_COLUMNS}) VALUES ",
    _VERSION_CONFLICT,
    len(_VERSION_NAMES),
)


class StampTaken(Exception):
    """Rows outside an upsert carry its instant (`_upsert_scanned`): roll back, and again
    under a new instant from the rows returned."""


def item_rows(items: Sequence[WorkItem], stamp: datetime) -> list[tuple[Any, ...]]:
    """The items' parameters of the upsert (`_ITEM_NAMES` order), as stored."""
    stamped = datetime_to_sqlite(stamp)
    stamps = (stamped, stamped, stamped, stamped)
    points = float_to_sqlite
    labels = Memo(lambda value: json_to_sqlite(list(value)))
    updated = Memo(datetime_to_sqlite)
    buckets = Memo(lambda value: Bucket(value).value)  # rejects an unknown bucket
    return [
        (
            item.source,
            item.key,
            item.title,
            item.type,
            item.status,
            buckets[item.bucket],
            points(item.points),
            labels[tuple(item.labels)],
            item.parent,
            updated[item.updated],
            item.url,
            item.remote_id,
            item.child_count,
            *stamps,
        )
        for item in items
    ]


def upsert(
    connection: sqlite3.Connection,
    items: Sequence[WorkItem],
    stamp: datetime,
    learned_at: datetime,
    latest: Mapping[_Ref, WorkItem],
    *,
    scan: bool,
) -> tuple[int, int, int]:
    """Upsert `items` (sorted by key) at `stamp`, their versions learned at `learned_at`,
    in the connection's transaction (the caller commits, or rolls back on `StampTaken`);
    how many were inserted, updated, versioned."""
    rows = item_rows(items, stamp)
    if scan and len(rows) >= SCANNED_UPSERT_ROWS:
        (largest,) = connection.execute("SELECT max(rowid) FROM work_items").fetchone()
        # About how many items are stored: the largest rowid (more once rows were deleted).
        if len(rows) * SCANNED_UPSERT_SHARE >= int(largest or 0):
            return _upsert_scanned(connection, rows, stamp, learned_at, latest)
    return _upsert_returned(connection, rows, stamp, learned_at)


def _upsert_returned(
    connection: sqlite3.Connection,
    rows: Sequence[tuple[Any, ...]],
    stamp: datetime,
    learned_at: datetime,
) -> tuple[int, int, int]:
    """Upsert the item rows and write their versions, from the rows the upsert returns."""
    returned = _ITEMS.execute(connection, rows)
    stamped = datetime_to_sqlite(stamp)
    # In the order returned, as SQLAlchemy's path writes them.
    versioned = [(row[0], row[1]) for row in returned if row[4] == stamped]
    if versioned:
        head = (datetime_to_sqlite(learned_at), bool_to_sqlite(False))
        by_ref = {row[:2]: row for row in rows}
        versions = [row[:2] + head + row[2:13] for row in map(by_ref.__getitem__, versioned)]
        _VERSIONS.execute(connection, versions)
    inserted = sum(1 for row in returned if row[2] == stamped)
    updated = sum(1 for row in returned if row[3] == stamped) - inserted
    return inserted, updated, len(versioned)


def _upsert_scanned(
    connection: sqlite3.Connection,
    rows: Sequence[tuple[Any, ...]],
    stamp: datetime,
    learned_at: datetime,
    latest: Mapping[_Ref, WorkItem],
) -> tuple[int, int, int]:
    """`_upsert_returned` without the RETURNING: what each row became is read by one scan
    of `work_items` for the rows seen at `stamp` (every row of this upsert, and only
    those unless another process's upsert had the same instant: then `StampTaken`), and
    their versions are copied by the database from the rows versioned at it. SQLite
    stores a RETURNING's rows before it sends them, the driver makes objects of each,
    and the versions' values go back as parameters: with 100,000 rows, about half of the
    upsert's time, against a tenth for the scans.

    The upsert leaves an existing row's `parent` as it was: SQLite rewrites the entry of
    every updated row in each index on a column the update assigns
    (`ix_work_items_source_parent`), changed or not, a sixth of an upsert that changes
    few rows. The parents that did change (rows the upsert changed, `latest` their items)
    are set here, before the versions are copied."""
    _UNRETURNED_ITEMS.execute(connection, rows)
    stamped = datetime_to_sqlite(stamp)
    seen, inserted, changed, versioned = connection.execute(
        "SELECT count(*), total(first_seen_at = seen_at), total(changed_at = seen_at),"
        " total(versioned_at = seen_at) FROM work_items WHERE seen_at = ?",
        (stamped,),
    ).fetchone()
    if seen != len(rows):
        raise StampTaken
    if changed > inserted:
        updated = connection.execute(
            'SELECT source, "key", parent FROM work_items WHERE seen_at = ?'
            " AND changed_at = seen_at AND first_seen_at IS NOT seen_at",
            (stamped,),
        ).fetchall()
        moved = [
            (parent, source, key)
            for source, key, stored in updated
            if (parent := latest[(source, key)].parent) != stored
        ]
        if moved:
            connection.executemany(
                'UPDATE work_items SET parent = ? WHERE source = ? AND "key" = ?', moved
            )
    if versioned:
        parameters = (datetime_to_sqlite(learned_at), bool_to_sqlite(False), stamped)
        connection.execute(_COPY_VERSIONS, parameters)
    return int(inserted), int(changed - inserted), int(versioned)


_ITEM_COLUMNS = ", ".join(_quoted(name) for name in ITEM_FIELDS)


def delete(
    connection: sqlite3.Connection, source: str, keys: Sequence[str], learned_at: datetime
) -> int:
    """Delete `keys` (unique) of `source`, each deletion a version learned at
    `learned_at` (in the order the deletes return them), in the connection's
    transaction; how many rows existed. The returned values go back as SQLAlchemy's
    path sends them: read and converted again (`_values`)."""
    labels = Memo(lambda raw: json_to_sqlite(json_from_sqlite(raw)))
    updated = Memo(lambda raw: datetime_to_sqlite(datetime_from_sqlite(raw)))
    head = (datetime_to_sqlite(learned_at), bool_to_sqlite(True))
    gone: list[tuple[Any, ...]] = []
    for chunk in chunked(list(keys), KEYS_PER_QUERY):
        marks = ", ".join("?" * len(chunk))
        cursor = connection.execute(
            f'DELETE FROM work_items WHERE source = ? AND "key" IN ({marks})'
            f" RETURNING {_ITEM_COLUMNS}",
            (source, *chunk),
        )
        try:
            deleted = cursor.fetchall()
        finally:
            cursor.close()
        gone.extend(
            (
                row[0],
                row[1],
                *head,
                row[2],
                row[3],
                row[4],
                row[5],
                float_to_sqlite(row[6]),
                labels[row[7]],
                row[8],
                updated[row[9]],
                row[10],
                row[11],
                row[12],
            )
            for row in deleted
        )
    if gone:
        _VERSIONS.execute(connection, gone)
    return len(gone)


def forget_scope_starts(connection: sqlite3.Connection, learned_at: datetime) -> None:
    """Drop the kept scopes a version learned at `learned_at` changes: those of cycle
    starts at or after it."""
    connection.execute(
        "DELETE FROM scope_starts WHERE start >= ?", (datetime_to_sqlite(learned_at),)
    )
