"""The metadata store: SQLAlchemy models over SQLite or PostgreSQL, migrated by Alembic."""

from modelbay.store.metadata.async_invocations import AsyncInvocation, AsyncInvocationQueue, AsyncRequest
from modelbay.store.metadata.audit import SUCCESS, AuditEvent, AuditRepository
from modelbay.store.metadata.compilation_jobs import (
    CompilationJob,
    CompilationJobNotFound,
    CompilationJobRecord,
    CompilationJobRepository,
    CompilationJobSpec,
)
from modelbay.store.metadata.data_quality_job_definitions import (
    DataQualityJobDefinition,
    JobDefinitionFilter,
    MonitoringJobSpec,
)
from modelbay.store.metadata.definitions import Definition, DefinitionRepository, EndpointConfig, Model
from modelbay.store.metadata.endpoints import (
    Endpoint,
    EndpointNotFound,
    EndpointRepository,
    EndpointSpec,
    UnknownVariants,
    UpdateOutcome,
    VariantSpec,
    VariantState,
)
from modelbay.store.metadata.ground_truth import GroundTruthRepository, Label
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
from modelbay.store.metadata.monitoring_executions import (
    MonitoringExecution,
    MonitoringExecutionFilter,
    MonitoringExecutionRepository,
)
from modelbay.store.metadata.monitoring_schedules import (
    MonitoringSchedule,
    MonitoringScheduleFilter,
    MonitoringScheduleNotFound,
    MonitoringScheduleRepository,
)
from modelbay.store.metadata.paging import Page
from modelbay.store.metadata.processing_jobs import (
    ProcessingJob,
    ProcessingJobNotFound,
    ProcessingJobRepository,
    ProcessingJobSpec,
)
from modelbay.store.metadata.records import ListFilter, RecordExists, RecordNotFound, StatusConflict
from modelbay.store.metadata.roles import Role
from modelbay.store.metadata.store import MetadataStore, open_metadata_store
from modelbay.store.metadata.tags import Tag, TagRepository
from modelbay.store.metadata.training_jobs import (
    MetricDatum,
    SecondaryStatusTransition,
    TrainingJob,
    TrainingJobFilter,
    TrainingJobNotFound,
    TrainingJobRepository,
    TrainingJobSpec,
)
from modelbay.store.metadata.transform_jobs import (
    TransformJob,
    TransformJobNotFound,
    TransformJobRepository,
    TransformJobSpec,
)
from modelbay.store.metadata.tuning_jobs import (
    Objective,
    Trial,
    TrialState,
    TuningJob,
    TuningJobNotFound,
    TuningJobRepository,
    TuningJobSpec,
)

__all__ = ["SUCCESS", "AsyncInvocation", "AsyncInvocationQueue", "AsyncRequest",
           "AuditEvent", "AuditRepository", "CompilationJob", "CompilationJobNotFound", "CompilationJobRecord",
           "CompilationJobRepository", "CompilationJobSpec", "DataQualityJobDefinition", "Definition",
           "DefinitionRepository",
           "Endpoint",
           "EndpointConfig", "EndpointNotFound", "EndpointRepository", "EndpointSpec", "GroundTruthRepository", "Image",
           "ImageExists", "ImageId", "ImageRegistry", "JobDefinitionFilter", "Label", "ListFilter", "MetadataStore",
           "MetricDatum", "Model",
           "MonitoringExecution", "MonitoringExecutionFilter", "MonitoringExecutionRepository", "MonitoringJobSpec",
           "MonitoringSchedule", "MonitoringScheduleFilter", "MonitoringScheduleNotFound",
           "MonitoringScheduleRepository",
           "Objective", "Page", "ProcessingJob", "ProcessingJobNotFound", "ProcessingJobRepository",
           "ProcessingJobSpec", "RecordExists", "RecordNotFound", "Repository", "RepositoryExists",
           "RepositoryNotEmpty",
           "RepositoryNotFound", "Role", "SecondaryStatusTransition", "StatusConflict", "Tag",
           "TagImmutable", "TagRepository", "TrainingJob", "TrainingJobFilter", "TrainingJobNotFound",
           "TrainingJobRepository", "TrainingJobSpec", "TransformJob", "TransformJobNotFound",
           "TransformJobRepository", "TransformJobSpec", "Trial", "TrialState", "TuningJob", "TuningJobNotFound",
           "TuningJobRepository", "TuningJobSpec", "UnknownVariants", "UpdateOutcome", "VariantSpec",
           "VariantState", "open_metadata_store"]
