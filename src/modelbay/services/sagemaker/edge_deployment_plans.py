"""SageMaker Edge Manager's deployments: Create/Describe/List/DeleteEdgeDeploymentPlan, Create/Delete/Start/Stop
EdgeDeploymentStage, ListStageDevices, and GetDeviceFleetReport (a fleet's devices and the models they run).

A plan has no controller: StartEdgeDeploymentStage selects the fleet's devices there and then, devices fetch the
stage's deployment with GetDeployments and report how it went in their heartbeats (services/sagemaker_edge.py),
which move each device's deployment and the stage (store/metadata/edge_deployment_plans.py says how).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from modelbay.errors import ResourceInUse, ResourceNotFound, ValidationError
from modelbay.services.base import Context, Handler, present
from modelbay.services.listing import capital_sort, list_filter, list_page
from modelbay.services.sagemaker.device_fleets import device_arn, get_fleet
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.statuses import EdgePackagingJobStatus
from modelbay.store.metadata import RecordExists, StatusConflict
from modelbay.store.metadata.device_fleets import DeviceRecord
from modelbay.store.metadata.edge_deployment_plans import (
    EdgeDeploymentPlan,
    EdgeDeploymentPlanNotFound,
    EdgeDeploymentStage,
    EdgeDeploymentStageNotFound,
    PlanFilter,
    PlanInUse,
    StageDevice,
    StageExists,
)

T = TypeVar("T")
# ListEdgeDeploymentPlans' SortBy values as the store's sort keys (DEVICE_FLEET_NAME is not one of them).
SORT_KEYS = ("NAME", "CREATION_TIME", "LAST_MODIFIED_TIME")  # what ListEdgeDeploymentPlans sorts by here
# A device is connected while its last heartbeat is this recent (the agent's default interval is 20 seconds).
CONNECTED_WINDOW = timedelta(minutes=5)
# What each DeviceSubsetType needs of DeviceSelectionConfig.
_SUBSET_MEMBERS = {"PERCENTAGE": "Percentage", "SELECTION": "DeviceNames", "NAMECONTAINS": "DeviceNameContains"}


# -- plans --------------------------------------------------------------------------------------------------------

def create_edge_deployment_plan(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Store the plan and its stages, READYTODEPLOY; ResourceInUse if a plan has the name."""
    name, fleet = params["EdgeDeploymentPlanName"], params["DeviceFleetName"]
    get_fleet(ctx, fleet)
    _check_models(ctx, params["ModelConfigs"])
    stages = params.get("Stages", [])
    _check_stages(stages)
    arn = ctx.arn("sagemaker", f"edge-deployment/{name.lower()}")
    tags = creation_tags(params)
    try:
        ctx.metadata.edge_deployment_plans.create(name, arn, fleet, params["ModelConfigs"], stages)
    except RecordExists as err:
        raise ResourceInUse(f"Edge deployment plan {name} exists already ({err.arn}).") from err
    except StageExists as err:
        raise _stage_exists(err) from err
    store_tags(ctx, arn, tags)
    return {"EdgeDeploymentPlanArn": arn}


def _check_models(ctx: Context, configs: Sequence[dict[str, Any]]) -> None:
    """Each ModelHandle once, each EdgePackagingJobName an existing job."""
    if not configs:
        raise ValidationError("ModelConfigs must name at least one model.")
    handles = Counter(config["ModelHandle"] for config in configs)
    if repeated := [handle for handle, count in handles.items() if count > 1]:
        raise ValidationError(f"ModelConfigs: ModelHandle {repeated[0]} is given more than once.")
    for config in configs:
        if ctx.metadata.edge_packaging_jobs.get(config["EdgePackagingJobName"]) is None:
            raise ValidationError(f"ModelConfigs: edge packaging job {config['EdgePackagingJobName']} does not "
                                  "exist.")


def _check_stages(stages: Sequence[dict[str, Any]]) -> None:
    """Each stage's DeviceSelectionConfig has the member its DeviceSubsetType reads."""
    for stage in stages:
        selection = stage["DeviceSelectionConfig"]
        member = _SUBSET_MEMBERS[selection["DeviceSubsetType"]]
        if not selection.get(member):
            raise ValidationError(f"Stage {stage['StageName']}: DeviceSelectionConfig.{member} is required when "
                                  f"DeviceSubsetType is {selection['DeviceSubsetType']}.")


def describe_edge_deployment_plan(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The plan with a page of its stages (MaxResults, at most 10, default 10)."""
    plan = _plan(ctx, params["EdgeDeploymentPlanName"])
    stages, next_token = _page(plan.stages, params)
    deployed, pending, failed = plan.counts
    return {"EdgeDeploymentPlanArn": plan.arn, "EdgeDeploymentPlanName": plan.name,
            "ModelConfigs": plan.model_configs, "DeviceFleetName": plan.device_fleet_name,
            "EdgeDeploymentSuccess": deployed, "EdgeDeploymentPending": pending, "EdgeDeploymentFailed": failed,
            "Stages": [_stage_summary(stage) for stage in stages], "CreationTime": plan.creation_time,
            "LastModifiedTime": plan.last_modified_time} | present(NextToken=next_token)


def list_edge_deployment_plans(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    filters = PlanFilter(**vars(list_filter(params)), fleet_name_contains=params.get("DeviceFleetNameContains"))
    return list_page(capital_sort(params, SORT_KEYS), ctx.metadata.edge_deployment_plans.list,
                     "EdgeDeploymentPlanSummaries", _plan_summary, filters)


def delete_edge_deployment_plan(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete the plan; ResourceInUse while one of its stages is deploying."""
    name = params["EdgeDeploymentPlanName"]
    with _plan_errors(name):
        ctx.metadata.edge_deployment_plans.delete(name)
    return {}


# -- stages -------------------------------------------------------------------------------------------------------

def create_edge_deployment_stage(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Append stages to the plan, READYTODEPLOY."""
    name = params["EdgeDeploymentPlanName"]
    _check_stages(params["Stages"])
    with _plan_errors(name):
        ctx.metadata.edge_deployment_plans.add_stages(name, params["Stages"])
    return {}


def delete_edge_deployment_stage(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete a stage not started; ResourceInUse once it has been."""
    name = params["EdgeDeploymentPlanName"]
    with _plan_errors(name):
        ctx.metadata.edge_deployment_plans.delete_stage(name, params["StageName"])
    return {}


def start_edge_deployment_stage(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Select the fleet's devices for the stage now; they get its deployment at their next GetDeployments. Every
    package of the plan must have been made (COMPLETED)."""
    name, stage = params["EdgeDeploymentPlanName"], params["StageName"]
    plan = _plan(ctx, name)
    for config in plan.model_configs:
        job = ctx.metadata.edge_packaging_jobs.get(config["EdgePackagingJobName"])
        if job is None or job.status != EdgePackagingJobStatus.COMPLETED:
            raise ValidationError(f"Edge packaging job {config['EdgePackagingJobName']} of model "
                                  f"{config['ModelHandle']} is {job.status if job else 'gone'}: a stage starts once "
                                  "every package of the plan is COMPLETED.")
    devices = [device.name for device in ctx.metadata.devices.list_in_fleet(plan.device_fleet_name)]
    with _plan_errors(name):
        ctx.metadata.edge_deployment_plans.start_stage(name, stage, devices)
    return {}


def stop_edge_deployment_stage(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Withdraw the stage's deployment from its devices; the stage ends STOPPED."""
    name = params["EdgeDeploymentPlanName"]
    with _plan_errors(name):
        ctx.metadata.edge_deployment_plans.stop_stage(name, params["StageName"])
    return {}


def list_stage_devices(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The devices the stage selected (none before it starts), by name. A device belongs to one stage of a plan,
    so ExcludeDevicesDeployedInOtherStage leaves nothing out."""
    name, stage = params["EdgeDeploymentPlanName"], params["StageName"]
    plan = _plan(ctx, name)
    with _plan_errors(name):
        devices = ctx.metadata.edge_deployment_plans.stage_devices(name, stage)
    page, next_token = _page(devices, params)
    return {"DeviceDeploymentSummaries": [_device_summary(ctx, plan, device) for device in page]} | present(
        NextToken=next_token)


# -- the fleet report ---------------------------------------------------------------------------------------------

def get_device_fleet_report(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The fleet's devices as their agents last reported: how many are connected (a heartbeat within
    CONNECTED_WINDOW), the agents' versions, and per model version how many devices run it."""
    fleet = get_fleet(ctx, params["DeviceFleetName"])
    devices = ctx.metadata.devices.list_in_fleet(fleet.name)
    now = datetime.now().astimezone()
    connected = {device.name for device in devices if _is_connected(device, now)}
    agents = Counter(device.agent_version for device in devices if device.agent_version)
    return {"DeviceFleetArn": fleet.arn, "DeviceFleetName": fleet.name, "OutputConfig": fleet.output_config,
            "ReportGenerated": now,
            "DeviceStats": {"ConnectedDeviceCount": len(connected), "RegisteredDeviceCount": len(devices)},
            "AgentVersions": [{"Version": version, "AgentCount": count} for version, count in sorted(agents.items())],
            "ModelStats": _model_stats(devices, connected, now)} | present(Description=fleet.description)


def _is_connected(device: DeviceRecord, now: datetime) -> bool:
    return device.latest_heartbeat is not None and now - device.latest_heartbeat <= CONNECTED_WINDOW


def _model_stats(devices: Sequence[DeviceRecord], connected: set[str], now: datetime) -> list[dict[str, Any]]:
    """Per (ModelName, ModelVersion) the devices last reporting it: offline, connected, active (an inference within
    CONNECTED_WINDOW) and sampling (a sample captured within it)."""
    stats: dict[tuple[str, str], Counter[str]] = {}
    for device in devices:
        for model in device.models:
            counts = stats.setdefault((model["ModelName"], model["ModelVersion"]), Counter())
            online = device.name in connected
            counts["ConnectedDeviceCount" if online else "OfflineDeviceCount"] += 1
            counts["ActiveDeviceCount"] += online and _is_recent(model.get("LatestInference"), now)
            counts["SamplingDeviceCount"] += online and _is_recent(model.get("LatestSampleTime"), now)
    keys = ("OfflineDeviceCount", "ConnectedDeviceCount", "ActiveDeviceCount", "SamplingDeviceCount")
    return [{"ModelName": name, "ModelVersion": version} | {key: counts[key] for key in keys}
            for (name, version), counts in sorted(stats.items())]


def _is_recent(when: Any, now: datetime) -> bool:
    """Whether a model's reported time (a datetime, an ISO 8601 string or epoch seconds) is within the window."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    elif isinstance(when, int | float):
        when = datetime.fromtimestamp(when).astimezone()
    return isinstance(when, datetime) and when.tzinfo is not None and now - when <= CONNECTED_WINDOW


# -- shared -------------------------------------------------------------------------------------------------------

def _plan(ctx: Context, name: str) -> EdgeDeploymentPlan:
    plan = ctx.metadata.edge_deployment_plans.get(name)
    if plan is None:
        raise _plan_not_found(name)
    return plan


def _plan_not_found(name: str) -> ResourceNotFound:
    return ResourceNotFound(f"Edge deployment plan {name} does not exist.")


def _stage_exists(err: StageExists) -> ValidationError:
    return ValidationError(f"Stage names must be unique within a plan: stage {err.name} exists already.")


@contextmanager
def _plan_errors(name: str) -> Iterator[None]:
    """Within it, the store's errors of a request on plan `name` are SageMaker's."""
    try:
        yield
    except EdgeDeploymentPlanNotFound as err:
        raise _plan_not_found(name) from err
    except EdgeDeploymentStageNotFound as err:
        raise ResourceNotFound(f"Edge deployment plan {name} has no stage {err}.") from err
    except StageExists as err:
        raise _stage_exists(err) from err
    except PlanInUse as err:
        raise ResourceInUse(f"Stage {err.stage} of edge deployment plan {name} is {err.status}.") from err
    except StatusConflict as err:
        raise ValidationError(f"Stage {err} of edge deployment plan {name}: the request is not allowed "
                              "now.") from err


def _page(items: Sequence[T], params: dict[str, Any], default: int = 10) -> tuple[Sequence[T], str | None]:
    """A page of `items` after NextToken (the index to go on from), MaxResults long."""
    token = params.get("NextToken") or "0"
    if not token.isdigit() or int(token) > len(items):
        raise ValidationError("Invalid NextToken: pass the NextToken of the previous page of the same listing.")
    start, limit = int(token), params.get("MaxResults") or default
    end = start + limit
    return items[start:end], str(end) if end < len(items) else None


def _stage_summary(stage: EdgeDeploymentStage) -> dict[str, Any]:
    status = {"StageStatus": stage.status, "EdgeDeploymentSuccessInStage": stage.deployed,
              "EdgeDeploymentPendingInStage": stage.pending, "EdgeDeploymentFailedInStage": stage.failed} | present(
        EdgeDeploymentStatusMessage=stage.status_message, EdgeDeploymentStageStartTime=stage.start_time)
    return {"StageName": stage.name, "DeviceSelectionConfig": stage.selection,
            "DeploymentConfig": {"FailureHandlingPolicy": stage.failure_handling_policy}, "DeploymentStatus": status}


def _plan_summary(plan: EdgeDeploymentPlan) -> dict[str, Any]:
    deployed, pending, failed = plan.counts
    return {"EdgeDeploymentPlanArn": plan.arn, "EdgeDeploymentPlanName": plan.name,
            "DeviceFleetName": plan.device_fleet_name, "EdgeDeploymentSuccess": deployed,
            "EdgeDeploymentPending": pending, "EdgeDeploymentFailed": failed, "CreationTime": plan.creation_time,
            "LastModifiedTime": plan.last_modified_time}


def _device_summary(ctx: Context, plan: EdgeDeploymentPlan, device: StageDevice) -> dict[str, Any]:
    found = ctx.metadata.devices.get(device.device_fleet_name, device.device_name)
    deployed = device.stage_name if device.status == "DEPLOYED" else None
    return {"EdgeDeploymentPlanArn": plan.arn, "EdgeDeploymentPlanName": plan.name, "StageName": device.stage_name,
            "DeviceFleetName": device.device_fleet_name, "DeviceName": device.device_name,
            "DeviceArn": found.arn if found else device_arn(ctx, device.device_fleet_name, device.device_name),
            "DeviceDeploymentStatus": device.status, "DeploymentStartTime": device.start_time} | present(
        DeployedStageName=deployed, DeviceDeploymentStatusMessage=device.status_message,
        Description=found.description if found else None)


OPERATIONS: dict[str, Handler] = {
    "CreateEdgeDeploymentPlan": create_edge_deployment_plan,
    "DescribeEdgeDeploymentPlan": describe_edge_deployment_plan,
    "ListEdgeDeploymentPlans": list_edge_deployment_plans, "DeleteEdgeDeploymentPlan": delete_edge_deployment_plan,
    "CreateEdgeDeploymentStage": create_edge_deployment_stage,
    "DeleteEdgeDeploymentStage": delete_edge_deployment_stage,
    "StartEdgeDeploymentStage": start_edge_deployment_stage, "StopEdgeDeploymentStage": stop_edge_deployment_stage,
    "ListStageDevices": list_stage_devices, "GetDeviceFleetReport": get_device_fleet_report}
