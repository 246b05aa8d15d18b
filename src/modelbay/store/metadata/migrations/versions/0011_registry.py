"""The registry API's blobs: which are stored, which images name them, and each image's size.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("images", sa.Column("size", sa.BigInteger(), nullable=True))
    op.create_table(
        "registry_blobs",
        sa.Column("digest", sa.String(71), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_registry_blobs"),
    )
    op.create_table(
        "image_blobs",
        sa.Column("image_id", _BIG_SERIAL, nullable=False),
        sa.Column("digest", sa.String(71), nullable=False),
        sa.PrimaryKeyConstraint("image_id", "digest", name="pk_image_blobs"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE", name="fk_image_blobs_image_id_images"),
    )
    op.create_index("ix_image_blobs_digest", "image_blobs", ["digest"])


def downgrade() -> None:
    op.drop_table("image_blobs")
    op.drop_table("registry_blobs")
    with op.batch_alter_table("images") as batch:  # SQLite drops a column only by copying the table
        batch.drop_column("size")
