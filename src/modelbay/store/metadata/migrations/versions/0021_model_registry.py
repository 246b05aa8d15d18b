"""Model package groups, model packages and their versions, and the events users follow (store/metadata/events.py).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _resource_columns(table: str) -> list[sa.schema.SchemaItem]:
    """The columns and constraints of a StatusRow's table (tables.py); `name` is unique but for model packages."""
    unique = [] if table == "model_packages" else [sa.UniqueConstraint("name", name=f"uq_{table}_name")]
    return [
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("last_modified_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint("arn", name=f"uq_{table}_arn"),
        *unique,
    ]


def upgrade() -> None:
    op.create_table(
        "model_package_groups",
        *_resource_columns("model_package_groups"),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.JSON(), nullable=False),
        sa.Column("resource_policy", sa.Text(), nullable=True),
        sa.Column("next_version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_model_package_groups_creation_time", "model_package_groups", ["creation_time"])
    op.create_table(
        "model_packages",
        *_resource_columns("model_packages"),
        sa.Column("group_name", sa.String(63), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("approval_status", sa.String(32), nullable=True),
        sa.Column("approval_description", sa.Text(), nullable=True),
        sa.Column("customer_metadata", sa.JSON(), nullable=False),
        sa.Column("status_details", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.JSON(), nullable=False),
        sa.Column("last_modified_by", sa.JSON(), nullable=True),
    )
    op.create_index("ix_model_packages_creation_time", "model_packages", ["creation_time"])
    op.create_index("ix_model_packages_group_name_version", "model_packages", ["group_name", "version"], unique=True)
    op.create_table(
        "events",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("account", sa.String(12), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("detail_type", sa.String(128), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("model_packages")
    op.drop_table("model_package_groups")
