"""Experiments, trials, trial components and their metrics.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_NAME = 120  # ExperimentEntityName's maximum


def _entity_columns(table: str) -> list[sa.Column[Any] | sa.Constraint]:
    """The columns (and constraints) experiments, trials and trial components share (experiments.EntityRow)."""
    return [
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(_NAME), nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("display_name", sa.String(_NAME), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.JSON(), nullable=False),
        sa.Column("last_modified_by", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint("name", name=f"uq_{table}_name"),
        sa.UniqueConstraint("arn", name=f"uq_{table}_arn"),
    ]


def upgrade() -> None:
    op.create_table("experiments", *_entity_columns("experiments"),
                    sa.Column("description", sa.Text(), nullable=True))
    op.create_index("ix_experiments_creation_time", "experiments", ["creation_time"])
    op.create_table("experiment_trials", *_entity_columns("experiment_trials"),
                    sa.Column("experiment", sa.String(_NAME), nullable=False),
                    sa.Column("metadata_properties", sa.JSON(), nullable=True),
                    sa.Column("source", sa.JSON(), nullable=True))
    op.create_index("ix_experiment_trials_creation_time", "experiment_trials", ["creation_time"])
    op.create_index("ix_experiment_trials_experiment", "experiment_trials", ["experiment"])
    op.create_table(
        "experiment_trial_associations",
        sa.Column("trial", sa.String(_NAME), nullable=False),
        sa.Column("trial_component", sa.String(_NAME), nullable=False),
        sa.Column("trial_component_arn", sa.String(256), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("trial", "trial_component", name="pk_experiment_trial_associations"),
    )
    op.create_index("ix_experiment_trial_associations_trial_component", "experiment_trial_associations",
                    ["trial_component"])
    op.create_table("trial_components", *_entity_columns("trial_components"),
                    sa.Column("status", sa.String(16), nullable=True),
                    sa.Column("status_message", sa.Text(), nullable=True),
                    sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
                    sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
                    sa.Column("parameters", sa.JSON(), nullable=False),
                    sa.Column("input_artifacts", sa.JSON(), nullable=False),
                    sa.Column("output_artifacts", sa.JSON(), nullable=False),
                    sa.Column("metadata_properties", sa.JSON(), nullable=True),
                    sa.Column("source_arn", sa.String(256), nullable=True),
                    sa.Column("source_type", sa.String(128), nullable=True),
                    sa.Column("run_name", sa.String(_NAME), nullable=True))
    for column in ("creation_time", "source_arn", "run_name"):
        op.create_index(f"ix_trial_components_{column}", "trial_components", [column])
    op.create_table(
        "trial_component_metrics",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("trial_component", sa.String(_NAME), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_trial_component_metrics"),
    )
    op.create_index("ix_trial_component_metrics_trial_component_name_timestamp", "trial_component_metrics",
                    ["trial_component", "name", "timestamp"])


def downgrade() -> None:
    for table in ("trial_component_metrics", "trial_components", "experiment_trial_associations",
                  "experiment_trials", "experiments"):
        op.drop_table(table)
