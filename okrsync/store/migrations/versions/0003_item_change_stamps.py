"""When an item was first stored and when its fields last changed: the single-statement
upsert (`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`) tells inserted, updated and
unchanged items apart by these, instead of reading the rows first.

Rows stored before this revision keep NULL in both until they change.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("work_items") as batch:
        batch.add_column(sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("work_items") as batch:
        batch.drop_column("changed_at")
        batch.drop_column("first_seen_at")
