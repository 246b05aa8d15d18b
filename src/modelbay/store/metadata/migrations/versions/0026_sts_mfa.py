"""STS sessions and virtual MFA devices.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sts_sessions",
        sa.Column("access_key_id", sa.String(32), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=True),
        sa.Column("path", sa.String(512), nullable=False),
        sa.Column("unique_id", sa.String(32), nullable=True),
        sa.Column("session_name", sa.String(64), nullable=True),
        sa.Column("mfa_authenticated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("transitive_tag_keys", sa.JSON(), nullable=False),
        sa.Column("session_policy", sa.Text(), nullable=True),
        sa.Column("policy_arns", sa.JSON(), nullable=False),
        sa.Column("source_identity", sa.String(256), nullable=True),
        sa.Column("chained", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("access_key_id", name="pk_sts_sessions"),
    )
    op.create_index("ix_sts_sessions_expires_at", "sts_sessions", ["expires_at"])
    op.create_table(
        "mfa_devices",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("serial_number", sa.String(256), nullable=False),
        sa.Column("sealed_seed", sa.LargeBinary(), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner_id", sa.String(32), nullable=True),
        sa.Column("enable_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column("drift_steps", sa.Integer(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mfa_devices"),
        sa.UniqueConstraint("serial_number", name="uq_mfa_devices_serial_number"),
    )
    op.create_index("ix_mfa_devices_owner_id", "mfa_devices", ["owner_id"])


def downgrade() -> None:
    op.drop_table("mfa_devices")
    op.drop_table("sts_sessions")
