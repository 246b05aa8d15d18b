"""Ground truth: labels sent back for captured InferenceIds, for A/B verdicts.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Filled in by the change that adds the tables."""


def downgrade() -> None:
    """Filled in by the change that adds the tables."""
