"""IAM: users, groups, access keys, managed and inline policies and their attachments.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.sql.schema import SchemaItem

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ARN = 2048
_PATH = 512


def upgrade() -> None:
    _named("iam_users", 64, sa.Column("tags", sa.JSON(), nullable=False),
           sa.Column("permissions_boundary", sa.String(_ARN), nullable=True))
    _named("iam_groups", 128)
    op.create_table(
        "iam_group_members",
        sa.Column("group_id", _BIG_SERIAL, nullable=False),
        sa.Column("user_id", _BIG_SERIAL, nullable=False),
        sa.PrimaryKeyConstraint("group_id", "user_id", name="pk_iam_group_members"),
        sa.ForeignKeyConstraint(["group_id"], ["iam_groups.id"], name="fk_iam_group_members_group_id_iam_groups"),
        sa.ForeignKeyConstraint(["user_id"], ["iam_users.id"], name="fk_iam_group_members_user_id_iam_users"),
    )
    op.create_index("ix_iam_group_members_user_id", "iam_group_members", ["user_id"])
    op.create_table(
        "iam_access_keys",
        sa.Column("access_key_id", sa.String(128), nullable=False),
        sa.Column("user_id", _BIG_SERIAL, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_service", sa.String(64), nullable=True),
        sa.Column("last_used_region", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("access_key_id", name="pk_iam_access_keys"),
        sa.ForeignKeyConstraint(["user_id"], ["iam_users.id"], name="fk_iam_access_keys_user_id_iam_users"),
    )
    op.create_index("ix_iam_access_keys_user_id", "iam_access_keys", ["user_id"])
    _named("iam_policies", 128, sa.Column("description", sa.Text(), nullable=True),
           sa.Column("default_version", sa.Integer(), nullable=False),
           sa.Column("latest_version", sa.Integer(), nullable=False),
           sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
           sa.Column("tags", sa.JSON(), nullable=False), sa.UniqueConstraint("arn", name="uq_iam_policies_arn"))
    op.create_table(
        "iam_policy_versions",
        sa.Column("policy_id", _BIG_SERIAL, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("policy_id", "version", name="pk_iam_policy_versions"),
        sa.ForeignKeyConstraint(["policy_id"], ["iam_policies.id"], ondelete="CASCADE",
                                name="fk_iam_policy_versions_policy_id_iam_policies"),
    )
    op.create_table(
        "iam_attachments",
        sa.Column("holder_kind", sa.String(8), nullable=False),
        sa.Column("holder_id", sa.BigInteger(), nullable=False),
        sa.Column("policy_arn", sa.String(_ARN), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("holder_kind", "holder_id", "policy_arn", name="pk_iam_attachments"),
    )
    op.create_index("ix_iam_attachments_policy_arn", "iam_attachments", ["policy_arn"])
    op.create_table(
        "iam_inline_policies",
        sa.Column("holder_kind", sa.String(8), nullable=False),
        sa.Column("holder_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("holder_kind", "holder_id", "name", name="pk_iam_inline_policies"),
    )


def _named(table: str, name_length: int, *more: SchemaItem) -> None:
    """A table of named IAM entities (users, groups, policies): the columns they share, then `more` columns and
    constraints."""
    op.create_table(
        table,
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(name_length), nullable=False),
        sa.Column("folded_name", sa.String(name_length), nullable=False),
        sa.Column("path", sa.String(_PATH), nullable=False),
        sa.Column("arn", sa.String(_ARN), nullable=False),
        sa.Column("unique_id", sa.String(32), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        *more,
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint("folded_name", name=f"uq_{table}_folded_name"),
        sa.UniqueConstraint("unique_id", name=f"uq_{table}_unique_id"),
    )


def downgrade() -> None:
    for table in ("iam_inline_policies", "iam_attachments", "iam_policy_versions", "iam_policies", "iam_access_keys",
                  "iam_group_members", "iam_groups", "iam_users"):
        op.drop_table(table)
