"""Hyperparameter tuning jobs and their trials (the study modelbay's search rebuilds).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Filled in by the change that adds the tables."""


def downgrade() -> None:
    """Filled in by the change that adds the tables."""
