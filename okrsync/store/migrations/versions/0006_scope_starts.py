"""Scope at the cycle start, kept: each KR's leaf weight over the items as the store knew
them at a cycle's start, by the fingerprint of what maps items to KRs, so a report does
not read and map every item's version at the start again (issue 9: `status --now`).

- `scope_starts`: keyed (fingerprint, start); `weights` (JSON, KR id -> weight) and when
  it was saved. Rows are dropped when a version learned at or before their start is
  written (`Store.upsert_items`, `Store.delete_items`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scope_starts",
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", "start"),
    )


def downgrade() -> None:
    op.drop_table("scope_starts")
