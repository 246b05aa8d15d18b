"""A trial's training job as SageMaker makes it, and what the tuning controller reads back from it.

A trial is named `<tuning job>-<3-digit trial number>-<8 hex>` (the hex from the tuning job's ARN, creation time
and the number: the same name every time for the same trial, so a restarted controller never makes a second
job for it). Its CreateTrainingJob request is its TrainingJobDefinition's, with the static hyperparameters (among
them `_tuning_objective_metric`, which the service adds) and the suggested ones, and `TuningJobArn`, which
DescribeTrainingJob echoes. Its intermediate objective values are the objective metric's regex matches in algo-1's
log, in order (step 1, 2, ...), as SageMaker reads them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from modelbay.controllers.instance_logs import LOG_GROUP, metric_values
from modelbay.monitoring.logs import LogStore
from modelbay.statuses import TrainingJobStatus
from modelbay.store.metadata import Objective, TrainingJob, TrialState, TuningJob
from modelbay.store.metadata.training_jobs import MetricDefinition
from modelbay.store.metadata.tuning_jobs import training_resources

# The TrainingJobDefinition members that a CreateTrainingJob request has too, passed on as they are.
TRAINING_MEMBERS = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "VpcConfig", "OutputDataConfig",
                    "ResourceConfig", "StoppingCondition", "EnableNetworkIsolation",
                    "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "CheckpointConfig",
                    "RetryStrategy", "Environment")
# What CreateTrainingJob's service fills in when a request leaves these out (Describe shows them).
TRAINING_DEFAULTS: dict[str, Any] = {"EnableNetworkIsolation": False, "EnableInterContainerTrafficEncryption": False,
                                     "EnableManagedSpotTraining": False}
_STATES = {TrainingJobStatus.COMPLETED: TrialState.COMPLETED, TrainingJobStatus.STOPPED: TrialState.STOPPED,
           TrainingJobStatus.FAILED: TrialState.FAILED}


def trial_name(job: TuningJob, number: int) -> str:
    identity = f"{job.arn}|{job.creation_time.isoformat()}|{number}"
    return f"{job.name}-{number:03d}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"


def trial_arn(job: TuningJob, name: str) -> str:
    return f"{job.arn.split(':hyper-parameter-tuning-job/')[0]}:training-job/{name.lower()}"


def training_request(job: TuningJob, definition: str | None, parameters: dict[str, str]) -> dict[str, Any]:
    """The stored CreateTrainingJob request of a trial of `definition` with the tuned `parameters`."""
    given = job.spec.definition(definition)
    request = TRAINING_DEFAULTS | {key: value for key, value in given.items() if key in TRAINING_MEMBERS}
    return request | {"ResourceConfig": training_resources(given),
                      "HyperParameters": given.get("StaticHyperParameters", {}) | parameters, "TuningJobArn": job.arn}


def intermediate_values(logs: LogStore, training: TrainingJob, objective: Objective) -> list[tuple[int, float]]:
    """The objective's values in the order algo-1 logged them, as (step, value) from step 1."""
    definition = next((d for d in training.spec.metric_definitions if d.name == objective.metric_name), None)
    if definition is None or not logs.groups(LOG_GROUP):  # no training job has logged yet
        return []
    values = [_value(definition, event.message) for stream in logs.streams(LOG_GROUP, f"{training.name}/algo-1-")
              for event in logs.read(LOG_GROUP, stream.name, None, None)]
    return list(enumerate((value for value in values if value is not None), start=1))


def _value(definition: MetricDefinition, line: str) -> float | None:
    return metric_values([definition], [line]).get(definition.name)


def ended_state(training: TrainingJob, objective: float | None) -> TrialState:
    """The state of a trial whose training job has ended: a job that completed without an objective failed, for the
    search as for ObjectiveStatus."""
    state = _STATES[training.status]
    return TrialState.FAILED if state is TrialState.COMPLETED and objective is None else state


def final_objective(training: TrainingJob, objective: Objective,
                    intermediate: list[tuple[int, float]]) -> float | None:
    """The trial's final objective: the metric's FinalMetricDataList value, else (a stopped trial) its last logged."""
    final = next((m.value for m in training.final_metrics if m.name == objective.metric_name), None)
    if final is None and training.status is TrainingJobStatus.STOPPED and intermediate:
        return intermediate[-1][1]
    return final
