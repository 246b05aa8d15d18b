"""`modelbay models`: list, describe and delete the models (CreateModel) that endpoints and transform jobs run; and the
Model Registry's versions: `models packages <group>` (each version's approval and key metrics), `models approve` and
`models reject`."""

from __future__ import annotations

import re
from typing import Any

import typer
from botocore.exceptions import ClientError
from rich.console import Group
from rich.markup import escape
from rich.text import Text

from modelbay.cli.commands import Commands, aws_client
from modelbay.cli.listing import list_options, print_summaries, summaries
from modelbay.cli.output import facts_table, local_time, output, resource, styled, titled_table

app = Commands(help="List, describe and delete the models of a modelbay server (what `transform create --model` and "
                    "endpoints name).")
_, _NAME_CONTAINS, _MAX = list_options("models")  # models have no status
_COLUMNS = ["Name", "Created"]
_PACKAGE_COLUMNS = ["Version", "Approval", "Created", "Metrics", "ARN"]
_MODEL_DATA = re.compile(r"s3://[^/]+/(?:.+/)?(?P<job>[^/]+)/output/model\.tar\.gz")  # a training job's artifacts
_DESCRIPTION = typer.Option(None, "--description", help="Why (the package's ApprovalDescription).")


@app.command("list")
def list_models(ctx: typer.Context, name_contains: str | None = _NAME_CONTAINS, most: int | None = _MAX) -> None:
    """List models, newest first."""
    print_summaries(ctx, "list_models", "Models", {"NameContains": name_contains}, most, _COLUMNS, _row)


@app.command()
def describe(ctx: typer.Context, name: str) -> None:
    """Show a model: its execution role and each container's image, model data and environment."""
    model = resource(aws_client(ctx, "sagemaker").describe_model(ModelName=name))
    output(ctx).result(model, _description(model))


@app.command()
def delete(ctx: typer.Context, name: str) -> None:
    """Delete a model (DeleteModel); endpoints made from it keep running, since they copied what they use."""
    aws_client(ctx, "sagemaker").delete_model(ModelName=name)
    output(ctx).result({"ModelName": name}, f"deleted {name}")


@app.command()
def packages(ctx: typer.Context, group: str) -> None:
    """List a model package group's versions, oldest first: approval status, creation time, key metrics (the
    CustomerMetadataProperties, and the final metrics of the training job whose artifacts the version serves) and
    ARN."""
    sagemaker = aws_client(ctx, "sagemaker")
    found = [_version(sagemaker, summary) for summary in summaries(
        sagemaker, "list_model_packages", "ModelPackageSummaryList",
        {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Ascending"}, None)]
    out = output(ctx)
    out.table(_PACKAGE_COLUMNS, found if out.as_json else [_version_row(version) for version in found],
              names=("Version", "ARN"))


def _version(sagemaker: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """A version's summary with its CustomerMetadataProperties and, when its model data is a training job's
    artifacts, that job's name and FinalMetricDataList."""
    described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
    version = summary | {"CustomerMetadataProperties": described.get("CustomerMetadataProperties", {})}
    for container in described.get("InferenceSpecification", {}).get("Containers", []):
        job = _training_job(sagemaker, container.get("ModelDataUrl", ""))
        if job is not None:
            return version | {"TrainingJobName": job["TrainingJobName"],
                              "FinalMetricDataList": job.get("FinalMetricDataList", [])}
    return version


def _training_job(sagemaker: Any, model_data: str) -> dict[str, Any] | None:
    """The training job whose artifacts `model_data` is (checked against its ModelArtifacts), or None."""
    match = _MODEL_DATA.fullmatch(model_data)
    if match is None:
        return None
    try:
        job: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName=match["job"])
    except ClientError:
        return None
    return job if job.get("ModelArtifacts", {}).get("S3ModelArtifacts") == model_data else None


def _version_row(version: dict[str, Any]) -> dict[str, str]:
    metrics = [f"{key}={value}" for key, value in version["CustomerMetadataProperties"].items()]
    metrics += [f"{metric['MetricName']}={metric['Value']:g}" for metric in version.get("FinalMetricDataList", [])]
    return {"Version": str(version["ModelPackageVersion"]), "Approval": styled(version["ModelApprovalStatus"]),
            "Created": local_time(version["CreationTime"]), "Metrics": escape(", ".join(metrics)),
            "ARN": escape(version["ModelPackageArn"])}


@app.command()
def approve(ctx: typer.Context, package_arn: str, description: str | None = _DESCRIPTION) -> None:
    """Approve a model package version (UpdateModelPackage): what deploys it, and what `modelbay events` reports."""
    _set_approval(ctx, package_arn, "Approved", description)


@app.command()
def reject(ctx: typer.Context, package_arn: str, description: str | None = _DESCRIPTION) -> None:
    """Reject a model package version (UpdateModelPackage)."""
    _set_approval(ctx, package_arn, "Rejected", description)


def _set_approval(ctx: typer.Context, arn: str, status: str, description: str | None) -> None:
    update = {"ModelPackageArn": arn, "ModelApprovalStatus": status}
    aws_client(ctx, "sagemaker").update_model_package(**update | (
        {"ApprovalDescription": description} if description else {}))
    output(ctx).result(update, f"{escape(arn)} is {status}")


def _row(summary: dict[str, Any]) -> dict[str, str]:
    return {"Name": summary["ModelName"], "Created": local_time(summary["CreationTime"])}


def _description(model: dict[str, Any]) -> Group:
    facts = facts_table({"Name": model["ModelName"], "ARN": model["ModelArn"],
                         "Execution role": model.get("ExecutionRoleArn"),
                         "Created": local_time(model["CreationTime"])})
    containers = titled_table("Containers", "Image", "Model data", "Environment")
    for container in ([model["PrimaryContainer"]] if "PrimaryContainer" in model else model.get("Containers", [])):
        environment = "\n".join(f"{key}={value}" for key, value in container.get("Environment", {}).items())
        containers.add_row(escape(container["Image"]), escape(container.get("ModelDataUrl", "")), escape(environment))
    return Group(facts, Text(), containers)
