"""KMS: keys, their versions of sealed material, aliases and grants.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "kms_keys",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("key_manager", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("creation_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deletion_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending_window_days", sa.Integer(), nullable=True),
        sa.Column("rotation_period_days", sa.Integer(), nullable=True),
        sa.Column("next_rotation", sa.DateTime(timezone=True), nullable=True),
        sa.Column("material_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kms_keys"),
        sa.UniqueConstraint("key_id", name="uq_kms_keys_key_id"),
        sa.UniqueConstraint("arn", name="uq_kms_keys_arn"),
    )
    op.create_index("ix_kms_keys_state_deletion_date", "kms_keys", ["state", "deletion_date"])
    op.create_table(
        "kms_key_materials",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("rotation_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotation_type", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("key_id", "version", name="pk_kms_key_materials"),
    )
    op.create_table(
        "kms_aliases",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("creation_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kms_aliases"),
        sa.UniqueConstraint("name", name="uq_kms_aliases_name"),
    )
    op.create_index("ix_kms_aliases_key_id", "kms_aliases", ["key_id"])
    op.create_table(
        "kms_grants",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("token", sa.String(128), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("grantee", sa.String(256), nullable=False),
        sa.Column("retiring", sa.String(256), nullable=True),
        sa.Column("operations", sa.JSON(), nullable=False),
        sa.Column("constraints", sa.JSON(), nullable=True),
        sa.Column("issuing_account", sa.String(32), nullable=False),
        sa.Column("creation_date", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_kms_grants"),
        sa.UniqueConstraint("grant_id", name="uq_kms_grants_grant_id"),
        sa.UniqueConstraint("token", name="uq_kms_grants_token"),
    )
    op.create_index("ix_kms_grants_key_id", "kms_grants", ["key_id"])


def downgrade() -> None:
    op.drop_table("kms_grants")
    op.drop_table("kms_aliases")
    op.drop_table("kms_key_materials")
    op.drop_table("kms_keys")
