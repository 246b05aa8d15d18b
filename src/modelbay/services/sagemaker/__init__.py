"""The SageMaker control API: the operations of every resource family, in one table."""

from __future__ import annotations

from modelbay.services.base import Handler
from modelbay.services.sagemaker import (
    compilation_jobs,
    data_quality_job_definitions,
    device_fleets,
    edge_deployment_plans,
    edge_packaging_jobs,
    endpoint_configs,
    endpoints,
    experiments,
    lineage,
    model_package_groups,
    model_packages,
    models,
    monitoring_executions,
    monitoring_schedules,
    processing_jobs,
    search,
    tags,
    training_jobs,
    transform_jobs,
    trial_components,
    tuning_jobs,
)

OPERATIONS: dict[str, Handler] = {
    **tags.OPERATIONS,
    **training_jobs.OPERATIONS,
    **models.OPERATIONS,
    **endpoint_configs.OPERATIONS,
    **endpoints.OPERATIONS,
    **transform_jobs.OPERATIONS,
    **processing_jobs.OPERATIONS,
    **compilation_jobs.OPERATIONS,
    **monitoring_schedules.OPERATIONS,
    **data_quality_job_definitions.OPERATIONS,
    **monitoring_executions.OPERATIONS,
    **tuning_jobs.OPERATIONS,
    **search.OPERATIONS,
    **lineage.OPERATIONS,
    **model_package_groups.OPERATIONS,
    **model_packages.OPERATIONS,
    **experiments.OPERATIONS,
    **trial_components.OPERATIONS,
    **device_fleets.OPERATIONS,
    **edge_packaging_jobs.OPERATIONS,
    **edge_deployment_plans.OPERATIONS,
}
