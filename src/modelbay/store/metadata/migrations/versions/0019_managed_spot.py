"""Managed spot training: interruptions, the time billed, and the wait for capacity.

A spot job's interruptions and the time it ran are read from its SecondaryStatusTransitions; what the
store adds is when its instances are next interrupted and, while Interrupted, when capacity comes back.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("training_jobs", sa.Column("spot_interrupt_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("training_jobs", sa.Column("spot_capacity_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_jobs") as batch:  # SQLite drops a column only by copying the table
        batch.drop_column("spot_capacity_at")
        batch.drop_column("spot_interrupt_at")
