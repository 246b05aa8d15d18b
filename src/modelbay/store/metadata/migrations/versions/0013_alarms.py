"""CloudWatch metric alarms and their history.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("arn", sa.Text(), nullable=False),
        sa.Column("namespace", sa.String(255), nullable=True),
        sa.Column("metric_name", sa.String(255), nullable=True),
        sa.Column("configuration", sa.JSON(), nullable=False),
        sa.Column("actions_enabled", sa.Boolean(), nullable=False),
        sa.Column("configuration_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_value", sa.String(32), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=False),
        sa.Column("state_reason_data", sa.Text(), nullable=True),
        sa.Column("state_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_transitioned", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actions_due", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alarms"),
        sa.UniqueConstraint("name", name="uq_alarms_name"),
    )
    op.create_index("ix_alarms_namespace_metric_name", "alarms", ["namespace", "metric_name"])
    op.create_table(
        "alarm_history",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("alarm_name", sa.String(255), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("item_type", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alarm_history"),
    )
    op.create_index("ix_alarm_history_alarm_name_timestamp", "alarm_history", ["alarm_name", "timestamp"])
    op.create_index("ix_alarm_history_timestamp", "alarm_history", ["timestamp"])


def downgrade() -> None:
    op.drop_table("alarm_history")
    op.drop_table("alarms")
