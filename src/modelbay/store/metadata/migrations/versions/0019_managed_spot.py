"""Managed spot training: interruptions, the time billed, and the wait for capacity.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Filled in by the change that adds the tables."""


def downgrade() -> None:
    """Filled in by the change that adds the tables."""
