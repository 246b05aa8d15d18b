"""SageMaker's status vocabularies, each a StrEnum of every value its API model lists, in the model's order.

Every layer speaks them: the store's lifecycles (each family's LIFECYCLE says which moves its
statuses may make), the services and controllers, and the clients (the CLI's --status choices),
so they live in this leaf module, as errors.py holds the error vocabulary.
"""

from __future__ import annotations

from enum import StrEnum


class TrainingJobStatus(StrEnum):
    """SageMaker's TrainingJobStatus, every value in the model's order."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    DELETING = "Deleting"  # DeleteTrainingJob's: modelbay does not enter it yet


class SecondaryStatus(StrEnum):
    """SageMaker's SecondaryStatus of a training job, every value in the model's order."""

    STARTING = "Starting"
    LAUNCHING_ML_INSTANCES = "LaunchingMLInstances"
    PREPARING_TRAINING_STACK = "PreparingTrainingStack"
    DOWNLOADING = "Downloading"
    DOWNLOADING_TRAINING_IMAGE = "DownloadingTrainingImage"
    TRAINING = "Training"
    UPLOADING = "Uploading"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
    COMPLETED = "Completed"
    FAILED = "Failed"
    INTERRUPTED = "Interrupted"
    MAX_WAIT_TIME_EXCEEDED = "MaxWaitTimeExceeded"
    UPDATING = "Updating"
    RESTARTING = "Restarting"
    PENDING = "Pending"


class TransformJobStatus(StrEnum):
    """SageMaker's TransformJobStatus."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class EndpointStatus(StrEnum):
    """SageMaker's EndpointStatus, every value in the model's order."""

    OUT_OF_SERVICE = "OutOfService"
    CREATING = "Creating"
    UPDATING = "Updating"
    SYSTEM_UPDATING = "SystemUpdating"
    ROLLING_BACK = "RollingBack"
    IN_SERVICE = "InService"
    DELETING = "Deleting"
    FAILED = "Failed"
    UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"


class VariantStatus(StrEnum):
    """SageMaker's VariantStatus (the Status of a production variant's VariantStatus), in the model's order."""

    CREATING = "Creating"
    UPDATING = "Updating"
    DELETING = "Deleting"
    ACTIVATING_TRAFFIC = "ActivatingTraffic"
    BAKING = "Baking"


class ProcessingJobStatus(StrEnum):
    """SageMaker's ProcessingJobStatus, every value in the model's order."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class MonitoringScheduleStatus(StrEnum):
    """SageMaker's ScheduleStatus (a monitoring schedule's MonitoringScheduleStatus), in the model's order."""

    PENDING = "Pending"
    FAILED = "Failed"
    SCHEDULED = "Scheduled"
    STOPPED = "Stopped"


class MonitoringExecutionStatus(StrEnum):
    """SageMaker's ExecutionStatus (a monitoring execution's MonitoringExecutionStatus), in the model's order."""

    PENDING = "Pending"
    COMPLETED = "Completed"
    COMPLETED_WITH_VIOLATIONS = "CompletedWithViolations"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class HyperParameterTuningJobStatus(StrEnum):
    """SageMaker's HyperParameterTuningJobStatus, every value in the model's order."""

    COMPLETED = "Completed"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    STOPPED = "Stopped"
    STOPPING = "Stopping"
    DELETING = "Deleting"
    DELETE_FAILED = "DeleteFailed"  # modelbay does not enter it: deleting a tuning job's records does not fail


class ModelPackageGroupStatus(StrEnum):
    """SageMaker's ModelPackageGroupStatus, every value in the model's order (modelbay creates groups Completed and
    deletes them at once: it enters no other)."""

    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    DELETING = "Deleting"
    DELETE_FAILED = "DeleteFailed"


class ModelPackageStatus(StrEnum):
    """SageMaker's ModelPackageStatus, every value in the model's order."""

    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    DELETING = "Deleting"


class ModelApprovalStatus(StrEnum):
    """SageMaker's ModelApprovalStatus of a model package version, in the model's order."""

    APPROVED = "Approved"
    REJECTED = "Rejected"
    PENDING_MANUAL_APPROVAL = "PendingManualApproval"


class ObjectiveStatus(StrEnum):
    """SageMaker's ObjectiveStatus of a tuning job's training job, in the model's order."""

    SUCCEEDED = "Succeeded"
    PENDING = "Pending"
    FAILED = "Failed"


class CompilationJobStatus(StrEnum):
    """SageMaker's CompilationJobStatus (Neo), every value in the model's order."""

    INPROGRESS = "INPROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    STARTING = "STARTING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


class EdgePackagingJobStatus(StrEnum):
    """SageMaker's EdgePackagingJobStatus, every value in the model's order."""

    STARTING = "STARTING"
    INPROGRESS = "INPROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


class StageStatus(StrEnum):
    """SageMaker's StageStatus of an edge deployment plan's stage, in the model's order."""

    CREATING = "CREATING"
    READYTODEPLOY = "READYTODEPLOY"
    STARTING = "STARTING"
    INPROGRESS = "INPROGRESS"
    DEPLOYED = "DEPLOYED"
    FAILED = "FAILED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"


class DeviceDeploymentStatus(StrEnum):
    """SageMaker's DeviceDeploymentStatus of one device in a stage, in the model's order."""

    READYTODEPLOY = "READYTODEPLOY"
    INPROGRESS = "INPROGRESS"
    DEPLOYED = "DEPLOYED"
    FAILED = "FAILED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
