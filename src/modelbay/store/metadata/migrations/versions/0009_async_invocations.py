"""Asynchronous invocations: the queue InvokeEndpointAsync fills and the async-invocations worker empties.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TABLE = "async_invocations"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("endpoint_name", sa.String(63), nullable=False),
        sa.Column("endpoint_arn", sa.String(256), nullable=False),
        sa.Column("inference_id", sa.String(64), nullable=False),
        sa.Column("input_location", sa.Text(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("output_location", sa.Text(), nullable=False),
        sa.Column("failure_location", sa.Text(), nullable=True),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("accept", sa.Text(), nullable=True),
        sa.Column("custom_attributes", sa.Text(), nullable=True),
        sa.Column("invocation_timeout_s", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expiry_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{_TABLE}"),
    )
    op.create_index(f"ix_{_TABLE}_endpoint_name_status_id", _TABLE, ["endpoint_name", "status", "id"])


def downgrade() -> None:
    op.drop_table(_TABLE)
