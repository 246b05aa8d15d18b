"""Lineage: artifacts, actions, contexts and associations.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lineage_entities",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(120), nullable=True),
        sa.Column("entity_type", sa.String(256), nullable=False),
        sa.Column("source_uri", sa.Text(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("metadata_properties", sa.JSON(), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_entities"),
        sa.UniqueConstraint("arn", name="uq_lineage_entities_arn"),
    )
    op.create_index("ix_lineage_entities_kind_source_uri", "lineage_entities", ["kind", "source_uri"])
    op.create_index("ix_lineage_entities_kind_creation_time", "lineage_entities", ["kind", "creation_time"])
    op.create_table(
        "lineage_associations",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("source_arn", sa.String(256), nullable=False),
        sa.Column("destination_arn", sa.String(256), nullable=False),
        sa.Column("association_type", sa.String(16), nullable=True),
        sa.Column("source_type", sa.String(256), nullable=True),
        sa.Column("destination_type", sa.String(256), nullable=True),
        sa.Column("source_name", sa.String(120), nullable=True),
        sa.Column("destination_name", sa.String(120), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage_associations"),
    )
    op.create_index("ix_lineage_associations_source_arn_destination_arn", "lineage_associations",
                    ["source_arn", "destination_arn"], unique=True)
    op.create_index("ix_lineage_associations_destination_arn", "lineage_associations", ["destination_arn"])


def downgrade() -> None:
    op.drop_table("lineage_associations")
    op.drop_table("lineage_entities")
