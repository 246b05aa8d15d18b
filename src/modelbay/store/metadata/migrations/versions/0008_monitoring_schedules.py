"""Monitoring schedules: the family the SDK's clean-up helpers list before they delete an endpoint.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TABLE = "monitoring_schedules"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("last_modified_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("endpoint_name", sa.String(63), nullable=True),
        sa.Column("monitoring_type", sa.String(32), nullable=False),
        sa.Column("job_definition_name", sa.String(63), nullable=True),
        sa.PrimaryKeyConstraint("id", name=f"pk_{_TABLE}"),
        sa.UniqueConstraint("name", name=f"uq_{_TABLE}_name"),
        sa.UniqueConstraint("arn", name=f"uq_{_TABLE}_arn"),
    )
    op.create_index(f"ix_{_TABLE}_creation_time", _TABLE, ["creation_time"])


def downgrade() -> None:
    op.drop_table(_TABLE)
