"""HTTP ETags: the `ETag` a source's server gave for a list page, by the page's URL, so
the next pull can ask for it with `If-None-Match` (a 304 costs GitHub no quota).

- `http_etags`: keyed (source, url); `etag` and when it was stored.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "http_etags",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("etag", sa.String(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "url"),
    )


def downgrade() -> None:
    op.drop_table("http_etags")
