"""Application Auto Scaling: scalable targets, scaling policies, scheduled actions and scaling activities.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def _key_columns() -> list[sa.Column[Any]]:
    return [sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
            sa.Column("namespace", sa.String(64), nullable=False),
            sa.Column("resource_id", sa.String(1600), nullable=False),
            sa.Column("dimension", sa.String(128), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "scalable_targets", *_key_columns(),
        sa.Column("arn", sa.Text(), nullable=False),
        sa.Column("min_capacity", sa.Integer(), nullable=False),
        sa.Column("max_capacity", sa.Integer(), nullable=False),
        sa.Column("role_arn", sa.Text(), nullable=False),
        sa.Column("suspended", sa.JSON(), nullable=False),
        sa.Column("creation_time", _TIME, nullable=False),
        sa.Column("last_scale_out", _TIME, nullable=True),
        sa.Column("last_scale_in", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scalable_targets"),
        sa.UniqueConstraint("namespace", "resource_id", "dimension",
                            name="uq_scalable_targets_namespace_resource_id_dimension"),
    )
    op.create_table(
        "scaling_policies", *_key_columns(),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("arn", sa.Text(), nullable=False),
        sa.Column("policy_type", sa.String(32), nullable=False),
        sa.Column("configuration", sa.JSON(), nullable=False),
        sa.Column("alarms", sa.JSON(), nullable=False),
        sa.Column("creation_time", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scaling_policies"),
        sa.UniqueConstraint("arn", name="uq_scaling_policies_arn"),
        sa.UniqueConstraint("namespace", "resource_id", "dimension", "name",
                            name="uq_scaling_policies_namespace_resource_id_dimension_name"),
    )
    op.create_table(
        "scheduled_actions", *_key_columns(),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("arn", sa.Text(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("creation_time", _TIME, nullable=False),
        sa.Column("last_run", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scheduled_actions"),
        sa.UniqueConstraint("namespace", "resource_id", "dimension", "name",
                            name="uq_scheduled_actions_namespace_resource_id_dimension_name"),
    )
    op.create_table(
        "scaling_activities", *_key_columns(),
        sa.Column("activity_id", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=False),
        sa.Column("start_time", _TIME, nullable=False),
        sa.Column("end_time", _TIME, nullable=True),
        sa.Column("status_code", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("desired", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scaling_activities"),
        sa.UniqueConstraint("activity_id", name="uq_scaling_activities_activity_id"),
    )
    op.create_index("ix_scaling_activities_namespace", "scaling_activities", ["namespace"])


def downgrade() -> None:
    for table in ("scaling_activities", "scheduled_actions", "scaling_policies", "scalable_targets"):
        op.drop_table(table)
