"""The metadata store: SQLAlchemy models over SQLite or PostgreSQL, migrated by Alembic."""

from modelbay.store.metadata.audit import SUCCESS, AuditEvent, AuditRepository
from modelbay.store.metadata.definitions import Definition, DefinitionRepository, EndpointConfig, Model
from modelbay.store.metadata.endpoints import (
    UNCHANGED,
    Endpoint,
    EndpointNotFound,
    EndpointRepository,
    EndpointSpec,
    UnknownVariants,
    VariantState,
)
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
from modelbay.store.metadata.records import ListFilter, RecordExists, RecordNotFound, StatusConflict
from modelbay.store.metadata.roles import Role
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
from modelbay.store.metadata.transform_jobs import TransformJob, TransformJobNotFound, TransformJobRepository

__all__ = ["SUCCESS", "UNCHANGED", "AuditEvent", "AuditRepository", "Definition", "DefinitionRepository", "Endpoint",
           "EndpointConfig", "EndpointNotFound", "EndpointRepository", "EndpointSpec", "Image", "ImageExists",
           "ImageId", "ImageRegistry", "ListFilter", "MetadataStore", "MetricDatum", "Model", "Page", "RecordExists",
           "RecordNotFound", "Repository", "Role", "RepositoryExists", "RepositoryNotEmpty", "RepositoryNotFound",
           "SecondaryStatusTransition", "StatusConflict", "Tag", "TagImmutable", "TagRepository", "TrainingJob",
           "TrainingJobExists", "TrainingJobFilter", "TrainingJobNotFound", "TrainingJobRepository",
           "TrainingJobStatusConflict", "TransformJob", "TransformJobNotFound", "TransformJobRepository",
           "UnknownVariants", "VariantState", "open_metadata_store"]
