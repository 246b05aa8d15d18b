"""Hyperparameter tuning jobs and their trials (the study modelbay's search rebuilds).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tuning_jobs",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("completion_details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tuning_jobs"),
        sa.UniqueConstraint("name", name="uq_tuning_jobs_name"),
        sa.UniqueConstraint("arn", name="uq_tuning_jobs_arn"),
    )
    op.create_index("ix_tuning_jobs_creation_time", "tuning_jobs", ["creation_time"])
    op.create_table(
        "tuning_trials",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("tuning_job", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("training_job_name", sa.String(63), nullable=False),
        sa.Column("definition", sa.String(64), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("objective", sa.Float(), nullable=True),
        sa.Column("intermediate", sa.JSON(), nullable=False),
        sa.Column("early_stopped", sa.Boolean(), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tuning_trials"),
        sa.UniqueConstraint("training_job_name", name="uq_tuning_trials_training_job_name"),
    )
    op.create_index("ix_tuning_trials_tuning_job_number", "tuning_trials", ["tuning_job", "number"], unique=True)


def downgrade() -> None:
    op.drop_table("tuning_trials")
    op.drop_table("tuning_jobs")
