"""search indexes: which collection (and model) search uses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_indexes",
        sa.Column("collection", sa.String(length=200), nullable=False),
        sa.Column("model_spec", sa.String(length=500), nullable=False),
        sa.Column("model_key", sa.String(length=200), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("collection", name=op.f("pk_search_indexes")),
    )


def downgrade() -> None:
    op.drop_table("search_indexes")
