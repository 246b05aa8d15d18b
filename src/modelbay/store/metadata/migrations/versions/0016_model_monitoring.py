"""Model Monitor: data quality job definitions, monitoring executions, and what a schedule needs to run.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_DEFINITIONS = "data_quality_job_definitions"
_EXECUTIONS = "monitoring_executions"


def _resource_columns() -> list[sa.Column[object]]:
    """ResourceRow's columns: id, name, arn, creation_time."""
    return [sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
            sa.Column("name", sa.String(63), nullable=False), sa.Column("arn", sa.String(256), nullable=False),
            sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False)]


def _keys(table: str) -> list[sa.Constraint]:
    return [sa.PrimaryKeyConstraint("id", name=f"pk_{table}"), sa.UniqueConstraint("name", name=f"uq_{table}_name"),
            sa.UniqueConstraint("arn", name=f"uq_{table}_arn")]


def upgrade() -> None:
    op.create_table(
        _DEFINITIONS, *_resource_columns(),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("endpoint_name", sa.String(63), nullable=True),
        *_keys(_DEFINITIONS),
    )
    op.create_index(f"ix_{_DEFINITIONS}_creation_time", _DEFINITIONS, ["creation_time"])
    op.create_table(
        _EXECUTIONS, *_resource_columns(),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("last_modified_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("schedule_name", sa.String(63), nullable=False),
        sa.Column("scheduled_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("endpoint_name", sa.String(63), nullable=True),
        sa.Column("job_definition_name", sa.String(63), nullable=True),
        sa.Column("monitoring_type", sa.String(32), nullable=False),
        sa.Column("processing_job_arn", sa.String(256), nullable=True),
        *_keys(_EXECUTIONS),
    )
    op.create_index(f"ix_{_EXECUTIONS}_creation_time", _EXECUTIONS, ["creation_time"])
    op.create_index(f"ix_{_EXECUTIONS}_schedule_name", _EXECUTIONS, ["schedule_name"])


def downgrade() -> None:
    op.drop_table(_EXECUTIONS)
    op.drop_table(_DEFINITIONS)
