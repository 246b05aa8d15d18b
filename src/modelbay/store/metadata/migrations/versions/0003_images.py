"""The image registry: repositories, images and tags.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "image_repositories",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tag_mutability", sa.String(32), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_image_repositories"),
        sa.UniqueConstraint("name", name="uq_image_repositories_name"),
    )
    op.create_table(
        "images",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("repository_id", _BIG_SERIAL, nullable=False),
        sa.Column("digest", sa.String(71), nullable=False),
        sa.Column("media_type", sa.String(256), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_images"),
        sa.ForeignKeyConstraint(["repository_id"], ["image_repositories.id"], ondelete="CASCADE",
                                name="fk_images_repository_id_image_repositories"),
    )
    op.create_index("ix_images_repository_id_digest", "images", ["repository_id", "digest"], unique=True)
    op.create_table(
        "image_tags",
        sa.Column("repository_id", _BIG_SERIAL, nullable=False),
        sa.Column("tag", sa.String(300), nullable=False),
        sa.Column("image_id", _BIG_SERIAL, nullable=False),
        sa.PrimaryKeyConstraint("repository_id", "tag", name="pk_image_tags"),
        sa.ForeignKeyConstraint(["repository_id"], ["image_repositories.id"], ondelete="CASCADE",
                                name="fk_image_tags_repository_id_image_repositories"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE", name="fk_image_tags_image_id_images"),
    )
    op.create_index("ix_image_tags_image_id", "image_tags", ["image_id"])


def downgrade() -> None:
    op.drop_table("image_tags")
    op.drop_table("images")
    op.drop_table("image_repositories")
