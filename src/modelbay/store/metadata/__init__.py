"""The metadata store: SQLAlchemy models over SQLite or PostgreSQL, migrated by Alembic."""

from modelbay.store.metadata.audit import SUCCESS, AuditEvent, AuditRepository
from modelbay.store.metadata.images import (
    Image,
    ImageExists,
    ImageId,
    ImageRegistry,
    Repository,
    RepositoryExists,
    RepositoryNotEmpty,
    RepositoryNotFound,
    TagImmutable,
)
from modelbay.store.metadata.paging import Page
from modelbay.store.metadata.store import MetadataStore, open_metadata_store
from modelbay.store.metadata.tags import Tag, TagRepository
from modelbay.store.metadata.training_jobs import (
    MetricDatum,
    SecondaryStatusTransition,
    TrainingJob,
    TrainingJobExists,
    TrainingJobFilter,
    TrainingJobNotFound,
    TrainingJobRepository,
    TrainingJobStatusConflict,
)

__all__ = ["SUCCESS", "AuditEvent", "AuditRepository", "Image", "ImageExists", "ImageId", "ImageRegistry",
           "MetadataStore", "MetricDatum", "Page", "Repository", "RepositoryExists", "RepositoryNotEmpty",
           "RepositoryNotFound", "SecondaryStatusTransition", "Tag", "TagImmutable", "TagRepository", "TrainingJob",
           "TrainingJobExists", "TrainingJobFilter", "TrainingJobNotFound", "TrainingJobRepository",
           "TrainingJobStatusConflict", "open_metadata_store"]
