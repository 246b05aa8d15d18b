"""Edge packaging jobs and edge deployment plans, their stages and each device's deployment.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _resource_columns(table: str) -> list[sa.schema.SchemaItem]:
    """The columns and constraints of a ResourceRow's table (tables.py)."""
    return [
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint("name", name=f"uq_{table}_name"),
        sa.UniqueConstraint("arn", name=f"uq_{table}_arn"),
    ]


def upgrade() -> None:
    op.create_table(
        "edge_packaging_jobs",
        *_resource_columns("edge_packaging_jobs"),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("last_modified_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("model_name", sa.String(63), nullable=False),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("model_artifact", sa.Text(), nullable=True),
        sa.Column("model_signature", sa.Text(), nullable=True),
        sa.Column("package_sha1", sa.String(40), nullable=True),
    )
    op.create_index("ix_edge_packaging_jobs_creation_time", "edge_packaging_jobs", ["creation_time"])
    op.create_table(
        "edge_deployment_plans",
        *_resource_columns("edge_deployment_plans"),
        sa.Column("device_fleet_name", sa.String(63), nullable=False),
        sa.Column("model_configs", sa.JSON(), nullable=False),
        sa.Column("last_modified_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_edge_deployment_plans_creation_time", "edge_deployment_plans", ["creation_time"])
    op.create_table(
        "edge_deployment_stages",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("plan_name", sa.String(63), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("device_selection", sa.JSON(), nullable=False),
        sa.Column("failure_handling_policy", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_edge_deployment_stages"),
    )
    op.create_index("ix_edge_deployment_stages_plan_name_name", "edge_deployment_stages", ["plan_name", "name"],
                    unique=True)
    op.create_table(
        "edge_stage_devices",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("plan_name", sa.String(63), nullable=False),
        sa.Column("stage_name", sa.String(63), nullable=False),
        sa.Column("device_fleet_name", sa.String(63), nullable=False),
        sa.Column("device_name", sa.String(63), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_edge_stage_devices"),
    )
    op.create_index("ix_edge_stage_devices_plan_name_device_fleet_name_device_name", "edge_stage_devices",
                    ["plan_name", "device_fleet_name", "device_name"], unique=True)
    op.create_index("ix_edge_stage_devices_device_fleet_name_device_name", "edge_stage_devices",
                    ["device_fleet_name", "device_name"])


def downgrade() -> None:
    op.drop_table("edge_stage_devices")
    op.drop_table("edge_deployment_stages")
    op.drop_table("edge_deployment_plans")
    op.drop_table("edge_packaging_jobs")
