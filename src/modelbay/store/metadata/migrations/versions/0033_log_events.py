"""CloudWatch Logs in the database: log groups, streams and events, shared by every server on it.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_groups",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_groups"),
        sa.UniqueConstraint("name", name="uq_log_groups_name"),
    )
    op.create_table(
        "log_streams",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("appended", sa.BigInteger(), nullable=False),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.Column("first_event_timestamp", sa.BigInteger(), nullable=True),
        sa.Column("last_event_timestamp", sa.BigInteger(), nullable=True),
        sa.Column("last_ingestion_time", sa.BigInteger(), nullable=True),
        sa.Column("shipped_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_streams"),
        sa.ForeignKeyConstraint(["group_id"], ["log_groups.id"], ondelete="CASCADE",
                                name="fk_log_streams_group_id_log_groups"),
    )
    op.create_index("ix_log_streams_group_id_name", "log_streams", ["group_id", "name"], unique=True)
    op.create_table(
        "log_events",
        sa.Column("stream_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("ingestion_time", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "seq", name="pk_log_events"),
        sa.ForeignKeyConstraint(["stream_id"], ["log_streams.id"], ondelete="CASCADE",
                                name="fk_log_events_stream_id_log_streams"),
    )
    op.create_index("ix_log_events_stream_id_timestamp_seq", "log_events", ["stream_id", "timestamp", "seq"])


def downgrade() -> None:
    op.drop_table("log_events")
    op.drop_table("log_streams")
    op.drop_table("log_groups")
