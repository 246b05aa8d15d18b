"""Endpoint rollouts: the deployment in progress (blue/green traffic shifting, rolling batches) and why the last
one rolled back.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("endpoints", sa.Column("rollout", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("endpoints") as batch:  # SQLite drops a column only by copying the table
        batch.drop_column("rollout")
