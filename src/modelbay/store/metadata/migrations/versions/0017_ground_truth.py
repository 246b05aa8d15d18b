"""Ground truth: labels sent back for captured InferenceIds, for A/B verdicts.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ground_truth",
        sa.Column("endpoint_name", sa.String(63), nullable=False),
        sa.Column("inference_id", sa.String(64), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("label_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("endpoint_name", "inference_id", name="pk_ground_truth"),
    )
    op.create_index("ix_ground_truth_label_time", "ground_truth", ["label_time"])


def downgrade() -> None:
    op.drop_table("ground_truth")
