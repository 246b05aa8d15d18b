"""Model Monitor: data quality job definitions, monitoring executions, and what a schedule needs to run.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Filled in by the change that adds the tables."""


def downgrade() -> None:
    """Filled in by the change that adds the tables."""
