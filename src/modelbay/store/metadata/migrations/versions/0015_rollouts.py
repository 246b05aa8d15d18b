"""Endpoint rollouts: the deployment in progress (blue/green traffic shifting, rolling batches) and why the last one rolled back.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Filled in by the change that adds the tables."""


def downgrade() -> None:
    """Filled in by the change that adds the tables."""
