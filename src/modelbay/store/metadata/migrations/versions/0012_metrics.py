"""CloudWatch metrics and their points at each period kept.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "metrics",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("identity", sa.String(64), nullable=False),
        sa.Column("namespace", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("dimensions", sa.JSON(), nullable=False),
        sa.Column("last_published", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
        sa.UniqueConstraint("identity", name="uq_metrics_identity"),
    )
    op.create_index("ix_metrics_namespace_name", "metrics", ["namespace", "name"])
    op.create_table(
        "metric_points",
        sa.Column("metric_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("sample_count", sa.Double(), nullable=False),
        sa.Column("sum", sa.Double(), nullable=False),
        sa.Column("minimum", sa.Double(), nullable=False),
        sa.Column("maximum", sa.Double(), nullable=False),
        sa.Column("histogram", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("metric_id", "period", "unit", "timestamp", name="pk_metric_points"),
        sa.ForeignKeyConstraint(["metric_id"], ["metrics.id"], ondelete="CASCADE",
                                name="fk_metric_points_metric_id_metrics"),
    )
    op.create_index("ix_metric_points_period_timestamp", "metric_points", ["period", "timestamp"])


def downgrade() -> None:
    op.drop_table("metric_points")
    op.drop_table("metrics")
