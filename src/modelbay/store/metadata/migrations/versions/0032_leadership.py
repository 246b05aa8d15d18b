"""Several servers on one database: the leader's record, and the routing tables the leader publishes.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leadership",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server", sa.String(512), nullable=False),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("nodes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_leadership"),
    )
    op.create_table(
        "routes",
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("table", sa.JSON(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", name="pk_routes"),
    )
    op.create_index("ix_routes_version", "routes", ["version"], unique=True)


def downgrade() -> None:
    op.drop_table("routes")
    op.drop_table("leadership")
