"""The metadata store: SQLAlchemy models over SQLite or PostgreSQL, migrated by Alembic."""

from modelbay.store.metadata.audit import SUCCESS, AuditEvent, AuditRepository
from modelbay.store.metadata.paging import Page
from modelbay.store.metadata.store import MetadataStore, open_metadata_store
from modelbay.store.metadata.tags import Tag, TagRepository

__all__ = ["SUCCESS", "AuditEvent", "AuditRepository", "MetadataStore", "Page", "Tag", "TagRepository",
           "open_metadata_store"]
