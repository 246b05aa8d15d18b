"""CloudTrail: the audit events' record fields, trails and their delivered log and digest files.

Audit events gain CloudTrail's fields and their place in the hash chain (`sequence`, `chain_hash`); the rows
already recorded keep NULL there until the first append chains them in the order they were written
(store/metadata/audit.py), so this revision needs no hashing of its own. The audit trail's signing keys and
signed heads, and the trails with the files they delivered, are new tables.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def _event_columns() -> list[sa.Column[object]]:
    """CloudTrail's fields and the chain's, made afresh for each use (a Column belongs to one table)."""
    return [
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("event_source", sa.Text(), nullable=True),
        sa.Column("user_identity", sa.JSON(), nullable=True),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("access_key_id", sa.String(128), nullable=True),
        sa.Column("account_id", sa.String(32), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("read_only", sa.Boolean(), nullable=True),
        sa.Column("request_parameters", sa.JSON(), nullable=True),
        sa.Column("response_elements", sa.JSON(), nullable=True),
        sa.Column("resource_types", sa.JSON(), nullable=True),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("chain_hash", sa.String(64), nullable=True),
    ]


def upgrade() -> None:
    for column in _event_columns():
        op.add_column("audit_events", column)
    op.create_index("ix_audit_events_event_id", "audit_events", ["event_id"])
    op.create_index("ix_audit_events_sequence", "audit_events", ["sequence"], unique=True)
    op.create_table(
        "audit_signing_keys",
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(), nullable=False),
        sa.Column("created", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_audit_signing_keys"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("chain_hash", sa.String(64), nullable=False),
        sa.Column("signed_at", _TIME, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name="pk_audit_checkpoints"),
    )
    _create_trail_tables()


def _create_trail_tables() -> None:
    op.create_table(
        "cloudtrail_trails",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("home_region", sa.String(32), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("key_prefix", sa.Text(), nullable=True),
        sa.Column("is_multi_region", sa.Boolean(), nullable=False),
        sa.Column("include_global_events", sa.Boolean(), nullable=False),
        sa.Column("log_file_validation", sa.Boolean(), nullable=False),
        sa.Column("is_logging", sa.Boolean(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("creation_time", _TIME, nullable=False),
        sa.Column("start_logging_time", _TIME, nullable=True),
        sa.Column("stop_logging_time", _TIME, nullable=True),
        sa.Column("latest_delivery_time", _TIME, nullable=True),
        sa.Column("latest_delivery_attempt_time", _TIME, nullable=True),
        sa.Column("latest_delivery_error", sa.Text(), nullable=True),
        sa.Column("latest_digest_delivery_time", _TIME, nullable=True),
        sa.Column("delivered_sequence", sa.BigInteger(), nullable=False),
        sa.Column("digest_start_time", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cloudtrail_trails"),
        sa.UniqueConstraint("name", name="uq_cloudtrail_trails_name"),
        sa.UniqueConstraint("arn", name="uq_cloudtrail_trails_arn"),
    )
    op.create_table(
        "cloudtrail_files",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("trail_id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("bucket", sa.String(63), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("delivered_at", _TIME, nullable=False),
        sa.Column("oldest_event_time", _TIME, nullable=True),
        sa.Column("newest_event_time", _TIME, nullable=True),
        sa.Column("is_digested", sa.Boolean(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["trail_id"], ["cloudtrail_trails.id"], ondelete="CASCADE",
                                name="fk_cloudtrail_files_trail_id_cloudtrail_trails"),
        sa.PrimaryKeyConstraint("id", name="pk_cloudtrail_files"),
    )
    op.create_index("ix_cloudtrail_files_trail_id_kind_region_delivered_at", "cloudtrail_files",
                    ["trail_id", "kind", "region", "delivered_at"])


def downgrade() -> None:
    op.drop_table("cloudtrail_files")
    op.drop_table("cloudtrail_trails")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_signing_keys")
    op.drop_index("ix_audit_events_sequence", "audit_events")
    op.drop_index("ix_audit_events_event_id", "audit_events")
    with op.batch_alter_table("audit_events") as batch:  # SQLite drops a column only by copying the table
        for column in reversed(_event_columns()):
            batch.drop_column(column.name)
