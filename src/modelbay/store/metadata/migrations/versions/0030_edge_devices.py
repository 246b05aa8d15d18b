"""Edge Manager's device fleets and devices, and the telemetry devices sent.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "device_fleets",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("role_arn", sa.String(2048), nullable=True),
        sa.Column("output_config", sa.JSON(), nullable=False),
        sa.Column("iot_role_alias", sa.String(256), nullable=True),
        sa.Column("last_modified_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_device_fleets"),
        sa.UniqueConstraint("name", name="uq_device_fleets_name"),
        sa.UniqueConstraint("arn", name="uq_device_fleets_arn"),
    )
    op.create_index("ix_device_fleets_creation_time", "device_fleets", ["creation_time"])
    op.create_table(
        "edge_devices",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fleet", sa.String(63), nullable=False),
        sa.Column("description", sa.String(40), nullable=True),
        sa.Column("iot_thing_name", sa.String(128), nullable=True),
        sa.Column("registration_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deregistered_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("latest_heartbeat", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_version", sa.String(64), nullable=True),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("model_names", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_edge_devices"),
        sa.UniqueConstraint("name", name="uq_edge_devices_name"),
        sa.UniqueConstraint("arn", name="uq_edge_devices_arn"),
    )
    op.create_index("ix_edge_devices_creation_time", "edge_devices", ["creation_time"])
    op.create_index("ix_edge_devices_fleet", "edge_devices", ["fleet"])
    op.create_table(
        "edge_telemetry",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("fleet", sa.String(63), nullable=False),
        sa.Column("device", sa.String(63), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("received_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_edge_telemetry"),
        sa.UniqueConstraint("fleet", "device", "seq", name="uq_edge_telemetry_fleet_device_seq"),
    )


def downgrade() -> None:
    op.drop_table("edge_telemetry")
    op.drop_table("edge_devices")
    op.drop_table("device_fleets")
