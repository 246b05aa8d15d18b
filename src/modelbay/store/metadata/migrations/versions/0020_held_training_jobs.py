"""Held training jobs: a tuning job's trial that waits for room on the machine is created held, and the training
controller launches it only once the tuning controller releases it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A NOT NULL column is added with a default for the rows there are (no job was held), which then goes, as the
    # row class has none; SQLite alters a column only by copying the table.
    op.add_column("training_jobs", sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("training_jobs") as batch:
        batch.alter_column("held", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("training_jobs") as batch:  # SQLite drops a column only by copying the table
        batch.drop_column("held")
