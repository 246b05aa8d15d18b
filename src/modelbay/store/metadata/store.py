"""The metadata store: the control plane's durable state, one repository per family of tables."""

from __future__ import annotations

from modelbay.store.metadata import log_events  # noqa: F401 - the log store's tables (monitoring/log_database.py)
from modelbay.store.metadata.alarms import AlarmRepository
from modelbay.store.metadata.async_invocations import AsyncInvocationQueue
from modelbay.store.metadata.audit import AuditRepository
from modelbay.store.metadata.autoscaling import AutoscalingRepository
from modelbay.store.metadata.changes import ChangeCounters
from modelbay.store.metadata.compilation_jobs import CompilationJobRepository
from modelbay.store.metadata.data_quality_job_definitions import DataQualityJobDefinition, DataQualityJobDefinitionRow
from modelbay.store.metadata.database import Database
from modelbay.store.metadata.definitions import DefinitionRepository, EndpointConfig, EndpointConfigRow, Model, ModelRow
from modelbay.store.metadata.device_fleets import DeviceFleetRepository, DeviceRepository
from modelbay.store.metadata.edge_deployment_plans import EdgeDeploymentPlanRepository
from modelbay.store.metadata.edge_packaging_jobs import EdgePackagingJobRepository
from modelbay.store.metadata.edge_telemetry import TelemetryRepository
from modelbay.store.metadata.endpoints import EndpointRepository
from modelbay.store.metadata.engine import create_metadata_engine
from modelbay.store.metadata.events import EventLog
from modelbay.store.metadata.experiments import ExperimentRepository
from modelbay.store.metadata.ground_truth import GroundTruthRepository
from modelbay.store.metadata.iam import IamRepository
from modelbay.store.metadata.iam_policies import IamPolicyRepository
from modelbay.store.metadata.images import ImageRegistry
from modelbay.store.metadata.kms import KmsRepository
from modelbay.store.metadata.leadership import LeadershipRepository
from modelbay.store.metadata.lineage import LineageRepository
from modelbay.store.metadata.metrics import MetricRepository
from modelbay.store.metadata.mfa_devices import MfaDeviceRepository
from modelbay.store.metadata.migrate import upgrade_to_head
from modelbay.store.metadata.model_packages import ModelPackageGroupRepository, ModelPackageRepository
from modelbay.store.metadata.monitoring_executions import MonitoringExecutionRepository
from modelbay.store.metadata.monitoring_schedules import MonitoringScheduleRepository
from modelbay.store.metadata.processing_jobs import ProcessingJobRepository
from modelbay.store.metadata.records import Clock, utc_now
from modelbay.store.metadata.roles import Role, RoleRow
from modelbay.store.metadata.routes import RouteRepository
from modelbay.store.metadata.search_index import SearchIndex, reindex_if_stale
from modelbay.store.metadata.sessions import SessionRepository
from modelbay.store.metadata.tags import TagRepository
from modelbay.store.metadata.training_jobs import TrainingJobRepository
from modelbay.store.metadata.transform_jobs import TransformJobRepository
from modelbay.store.metadata.trial_components import TrialComponentRepository
from modelbay.store.metadata.tuning_jobs import TuningJobRepository


class MetadataStore:
    """Repositories over one SQLite or PostgreSQL database. Thread-safe.

    Every repository method that writes is one transaction: it happens entirely or not at all.
    The times repositories record come from `clock` (tests give one of their own).
    """

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db = db
        self.tags = TagRepository(db)
        self.audit = AuditRepository(db)
        self.training_jobs = TrainingJobRepository(db, clock)
        self.images = ImageRegistry(db, clock)
        self.models = DefinitionRepository(db, ModelRow, Model, clock)
        self.endpoint_configs = DefinitionRepository(db, EndpointConfigRow, EndpointConfig, clock)
        self.endpoints = EndpointRepository(db, clock)
        self.transform_jobs = TransformJobRepository(db, clock)
        self.processing_jobs = ProcessingJobRepository(db, clock)
        self.compilation_jobs = CompilationJobRepository(db, clock)
        self.roles = DefinitionRepository(db, RoleRow, Role, clock)
        self.monitoring_schedules = MonitoringScheduleRepository(db, clock)
        self.data_quality_job_definitions = DefinitionRepository(db, DataQualityJobDefinitionRow,
                                                                 DataQualityJobDefinition, clock)
        self.monitoring_executions = MonitoringExecutionRepository(db, clock)
        self.async_invocations = AsyncInvocationQueue(db, clock)
        self.metrics = MetricRepository(db)
        self.alarms = AlarmRepository(db, clock)
        self.autoscaling = AutoscalingRepository(db, clock)
        self.ground_truth = GroundTruthRepository(db, clock)
        self.tuning_jobs = TuningJobRepository(db, clock)
        self.search = SearchIndex(db)
        self.lineage = LineageRepository(db, clock)
        self.model_package_groups = ModelPackageGroupRepository(db, clock)
        self.model_packages = ModelPackageRepository(db, clock)
        self.events = EventLog(db)
        self.experiments = ExperimentRepository(db, clock)
        self.trial_components = TrialComponentRepository(db, clock)
        self.iam = IamRepository(db, clock)
        self.iam_policies = IamPolicyRepository(db, clock)
        self.sessions = SessionRepository(db, clock)
        self.mfa_devices = MfaDeviceRepository(db, clock)
        self.kms = KmsRepository(db, clock)
        self.device_fleets = DeviceFleetRepository(db, clock)
        self.devices = DeviceRepository(db, clock)
        self.edge_telemetry = TelemetryRepository(db, clock)
        self.edge_packaging_jobs = EdgePackagingJobRepository(db, clock)
        self.edge_deployment_plans = EdgeDeploymentPlanRepository(db, clock)
        self.leadership = LeadershipRepository(db, clock)
        self.routes = RouteRepository(db)
        self.changes = ChangeCounters(db)

    def close(self) -> None:
        """Close pooled connections (a later call reconnects; nothing else needs closing)."""
        self.db.dispose()


def open_metadata_store(url: str, clock: Clock = utc_now, schema: str | None = None) -> MetadataStore:
    """Connect to `url` (sqlite:///<path> or postgresql://..., there with the tables in `schema` if given)
    and migrate its tables to head.

    Raises ValueError for an unsupported URL and SQLAlchemy's errors when the database cannot
    be reached. Processes may open the same database concurrently.
    """
    engine = create_metadata_engine(url, schema)
    upgrade_to_head(engine, schema)
    db = Database(engine)
    reindex_if_stale(db)  # after the migrations: the index of rows they kept, by today's document functions
    return MetadataStore(db, clock)
