"""The search index: each searchable resource's properties, typed, for Search.

The tables start empty with no index version recorded: the store rebuilds the index from the rows as it opens
(search_index.reindex_if_stale), because indexing runs today's document functions, which a migration must not
import.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "search_paths",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_search_paths"),
    )
    op.create_index("ix_search_paths_resource_path", "search_paths", ["resource", "path"], unique=True)
    op.create_table(
        "search_documents",
        sa.Column("id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_modified_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_search_documents"),
        sa.UniqueConstraint("arn", name="uq_search_documents_arn"),
    )
    op.create_index("ix_search_documents_source", "search_documents", ["source"])
    op.create_index("ix_search_documents_resource_last_modified_time_id", "search_documents",
                    ["resource", "last_modified_time", "id"])
    op.create_index("ix_search_documents_resource_creation_time_id", "search_documents",
                    ["resource", "creation_time", "id"])
    op.create_table(
        "search_properties",
        sa.Column("document_id", sa.BigInteger(), nullable=False),
        sa.Column("path_id", sa.Integer(), nullable=False),
        sa.Column("element", sa.Integer(), nullable=True),
        sa.Column("num_value", sa.Double(), nullable=True),
        sa.Column("text_value", sa.String(512), nullable=True),
    )
    op.create_index("ix_search_properties_path_id_num_value_document_id_element", "search_properties",
                    ["path_id", "num_value", "document_id", "element"])
    op.create_index("ix_search_properties_path_id_text_value_document_id_element", "search_properties",
                    ["path_id", "text_value", "document_id", "element"])
    op.create_index("ix_search_properties_document_id_path_id_values", "search_properties",
                    ["document_id", "path_id", "num_value", "text_value", "element"])
    if op.get_bind().dialect.name == "postgresql":  # the planner's estimates of a value within a path
        op.execute("CREATE STATISTICS search_properties_path_text (mcv, dependencies) ON path_id, text_value "
                   "FROM search_properties")
        op.execute("CREATE STATISTICS search_properties_path_num (mcv, dependencies) ON path_id, num_value "
                   "FROM search_properties")
    op.create_table(
        "search_index_state",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_search_index_state"),
    )


def downgrade() -> None:
    op.drop_table("search_index_state")
    op.drop_table("search_properties")
    op.drop_table("search_documents")
    op.drop_table("search_paths")
