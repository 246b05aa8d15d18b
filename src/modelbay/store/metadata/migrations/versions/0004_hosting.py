"""Hosting and batch transform: models, endpoint configs, endpoints and transform jobs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-01-04
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _resource_columns(table: str) -> list[Any]:
    """The columns and constraints every resource table starts with: id, name, arn."""
    return [
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint("name", name=f"uq_{table}_name"),
        sa.UniqueConstraint("arn", name=f"uq_{table}_arn"),
    ]


def _create(table: str, *columns: Any) -> None:
    op.create_table(table, *_resource_columns(table), *columns)
    op.create_index(f"ix_{table}_creation_time", table, ["creation_time"])


def upgrade() -> None:
    for table in ("models", "endpoint_configs"):
        _create(table, sa.Column("request", sa.JSON(), nullable=False),
                sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False))
    _create(
        "endpoints",
        sa.Column("config_name", sa.String(63), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("pending_config_name", sa.String(63), nullable=True),
        sa.Column("pending_variants", sa.JSON(), nullable=False),
        sa.Column("pending_spec", sa.JSON(), nullable=True),
        sa.Column("pending_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deployment_config", sa.JSON(), nullable=True),
        sa.Column("update_requested", sa.Boolean(), nullable=False),
        sa.Column("delete_requested", sa.Boolean(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("deployed_generation", sa.Integer(), nullable=False),
    )
    _create(
        "transform_jobs",
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transform_start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transform_end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    for table in ("transform_jobs", "endpoints", "endpoint_configs", "models"):
        op.drop_table(table)
