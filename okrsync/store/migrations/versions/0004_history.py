"""History: every version of every work item as the store learned it, a KR snapshot per
cycle, check-in notes and confidence, and metric errors.

- `item_versions`: one row per item and change of a versioned field (everything but
  `updated`), keyed (source, key, learned_at): the as-of read takes each item's latest
  row at or before an instant. The items already stored become their first versions,
  learned when they were first seen (`first_seen_at`, or `seen_at` for rows stored before
  0003, which have no first sighting).
- `work_items.versioned_at`: the upsert that last changed a versioned field.
- `metric_samples`: `note` and `confidence`; one sample per (kr_id, at) instead of per
  (kr_id, at, value). Of samples sharing a KR and instant, the last stored is kept: the
  one the report read as the latest.
- `kr_snapshots`: each KR's computed status per cycle, keyed (kr_id, at).
- `metric_errors`: a KR's metric error from `at` on (NULL clears), keyed (kr_id, at).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ITEM_COLUMNS = (
    "source, key, title, type, status, bucket, points, labels, parent, updated, url, "
    "remote_id, child_count"
)


def upgrade() -> None:
    with op.batch_alter_table("work_items") as batch:
        batch.add_column(sa.Column("versioned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "item_versions",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("bucket", sa.String(), nullable=False),
        sa.Column("points", sa.Float(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("parent", sa.String(), nullable=True),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("remote_id", sa.String(), nullable=False),
        sa.Column("child_count", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("source", "key", "learned_at"),
    )
    # The current items are the first versions. `deleted` is a bound false: the literal
    # differs between SQLite (0) and PostgreSQL (false).
    op.get_bind().execute(
        sa.text(
            f"INSERT INTO item_versions ({_ITEM_COLUMNS}, learned_at, deleted) "
            f"SELECT {_ITEM_COLUMNS}, COALESCE(first_seen_at, seen_at), :deleted "
            "FROM work_items"
        ).bindparams(sa.bindparam("deleted", False, type_=sa.Boolean()))
    )

    # Keep the last stored of samples sharing (kr_id, at), then make that pair unique.
    op.execute(
        "DELETE FROM metric_samples WHERE id NOT IN "
        "(SELECT MAX(id) FROM metric_samples GROUP BY kr_id, at)"
    )
    with op.batch_alter_table("metric_samples") as batch:
        batch.add_column(sa.Column("note", sa.String(), nullable=True))
        batch.add_column(sa.Column("confidence", sa.Float(), nullable=True))
        batch.drop_constraint("uq_metric_samples_kr_id_at_value", type_="unique")
        batch.create_unique_constraint("uq_metric_samples_kr_id_at", ["kr_id", "at"])

    op.create_table(
        "kr_snapshots",
        sa.Column("kr_id", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current", sa.Float(), nullable=True),
        sa.Column("outcome_progress", sa.Float(), nullable=True),
        sa.Column("delivery_progress", sa.Float(), nullable=True),
        sa.Column("expected_progress", sa.Float(), nullable=False),
        sa.Column("health", sa.String(), nullable=False),
        sa.Column("done_weight", sa.Float(), nullable=False),
        sa.Column("total_weight", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kr_id", "at"),
    )
    op.create_table(
        "metric_errors",
        sa.Column("kr_id", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("kr_id", "at"),
    )


def downgrade() -> None:
    op.drop_table("metric_errors")
    op.drop_table("kr_snapshots")
    with op.batch_alter_table("metric_samples") as batch:
        batch.drop_constraint("uq_metric_samples_kr_id_at", type_="unique")
        batch.create_unique_constraint("uq_metric_samples_kr_id_at_value", ["kr_id", "at", "value"])
        batch.drop_column("confidence")
        batch.drop_column("note")
    op.drop_table("item_versions")
    with op.batch_alter_table("work_items") as batch:
        batch.drop_column("versioned_at")
