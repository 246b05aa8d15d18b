"""Compilation jobs (SageMaker Neo): the jobs' table.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "compilation_jobs",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("inference_image", sa.Text(), nullable=True),
        sa.Column("creation_time", _TIME, nullable=False),
        sa.Column("last_modified_time", _TIME, nullable=False),
        sa.Column("compilation_start_time", _TIME, nullable=True),
        sa.Column("compilation_end_time", _TIME, nullable=True),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("model_artifact", sa.String(1024), nullable=True),
        sa.Column("artifact_digest", sa.String(64), nullable=True),
        sa.Column("derived_information", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_compilation_jobs"),
        sa.UniqueConstraint("name", name="uq_compilation_jobs_name"),
        sa.UniqueConstraint("arn", name="uq_compilation_jobs_arn"),
    )
    op.create_index("ix_compilation_jobs_creation_time", "compilation_jobs", ["creation_time"])
    op.create_index("ix_compilation_jobs_model_artifact", "compilation_jobs", ["model_artifact"])


def downgrade() -> None:
    op.drop_table("compilation_jobs")
