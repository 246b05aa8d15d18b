"""`modelbay endpoints`: list, describe, follow the logs of, steer traffic between the variants of, and delete
endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from modelbay.cli.commands import PLAIN, Commands, aws_client, sdk_session
from modelbay.cli.endpoint_scaling import scaling, scaling_tables
from modelbay.cli.listing import list_options, summaries
from modelbay.cli.log_lines import print_until_quiet
from modelbay.cli.native import native_get
from modelbay.cli.output import facts_table, local_time, output, resource, styled, titled_table
from modelbay.sdk import EndpointFailed, Predictor
from modelbay.sdk.job_logs import EndpointLogs
from modelbay.sdk.waiting import wait_for
from modelbay.statuses import EndpointStatus

app = Commands(help="List, describe, reweigh and delete the endpoints of a modelbay server.")
T = TypeVar("T")
_STATUS, _NAME_CONTAINS, _MAX = list_options("endpoints")
_COLUMNS = ["Name", "Status", "Variants", "Created"]
# SageMaker serverless inference, us-east-1, on-demand compute: USD 0.0000200 per second of 1 GB of memory (AWS's
# published SageMaker pricing; not fetched, kept for reference like the instance types' prices).
SERVERLESS_USD_PER_GB_SECOND = 0.00002


@app.command("list")
def list_endpoints(
    ctx: typer.Context,
    status: EndpointStatus | None = _STATUS,
    name_contains: str | None = _NAME_CONTAINS,
    most: int | None = _MAX,
) -> None:
    """List endpoints, newest first, with each variant's weight and instance count."""
    sagemaker = aws_client(ctx, "sagemaker")
    filters = {"StatusEquals": status, "NameContains": name_contains}
    described = [_described(sagemaker, summary["EndpointName"])
                 for summary in summaries(sagemaker, "list_endpoints", "Endpoints", filters, most)]
    out = output(ctx)
    out.table(_COLUMNS, described if out.as_json else [_row(endpoint) for endpoint in described])


@app.command()
def describe(ctx: typer.Context, name: str) -> None:
    """Show an endpoint: status, failure reason, each variant's weights, instances, images and status, where
    each serving instance runs, each variant's autoscaling (its target's bounds, its policies, its recent scaling
    activities), for an asynchronous endpoint its backlog of queued requests, and for a serverless one the
    GB-seconds its variants used and what SageMaker would charge for them."""
    sagemaker = aws_client(ctx, "sagemaker")
    endpoint = _described(sagemaker, name)
    where = {"region": sagemaker.meta.region_name}  # the region the AWS call went to
    endpoint["Instances"] = _instances(ctx.obj["url"], name, where)
    endpoint["ScalableTargets"] = scaling(aws_client(ctx, "application-autoscaling"), endpoint)
    if any("DesiredServerlessConfig" in variant for variant in endpoint.get("ProductionVariants", [])):
        usage = native_get(ctx.obj["url"], f"/endpoints/{name}/serverless-usage", where, missing_ok=True)
        endpoint["ServerlessUsage"] = [] if usage is None else usage["Variants"]
    if "AsyncInferenceConfig" in endpoint:
        endpoint["AsyncBacklog"] = native_get(ctx.obj["url"], f"/endpoints/{name}/async-backlog", where,
                                              missing_ok=True)
    output(ctx).result(endpoint, _description(endpoint))


@app.command(options=PLAIN)
def logs(ctx: typer.Context, name: str,
         follow: bool = typer.Option(False, "--follow", "-f",
                                     help="Keep printing until the endpoint is deleted (or Ctrl-C).")) -> None:
    """Print what the endpoint's model servers write (CloudWatch Logs' /aws/sagemaker/Endpoints/NAME), each line
    prefixed by its stream: VARIANT/INSTANCE."""
    sagemaker = aws_client(ctx, "sagemaker")
    _described(sagemaker, name)  # an unknown endpoint is said as SageMaker says it
    try:
        print_until_quiet(EndpointLogs(aws_client(ctx, "logs"), name), True,
                          lambda: follow and _exists(sagemaker, name))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command("update-weights")
def update_weights(
    ctx: typer.Context,
    name: str,
    weights: list[str] | None = typer.Argument(None, metavar="VARIANT=WEIGHT",
                                        help="New relative weights, e.g. a=0 b=1."),
    counts: list[str] = typer.Option([], "--count", metavar="VARIANT=N", help="A variant's new instance count."),
    wait: bool = typer.Option(False, "--wait", help="Return once the endpoint is InService again."),
) -> None:
    """Change variants' traffic weights and instance counts (UpdateEndpointWeightsAndCapacities)."""
    desired_weights = assignments(weights or [], float, "WEIGHT")
    desired_counts = assignments(counts, int, "N")
    if not desired_weights and not desired_counts:
        raise typer.BadParameter("give VARIANT=WEIGHT arguments, --count VARIANT=N options, or both")
    Predictor(name, sdk_session(ctx)).update_weights(desired_weights, desired_counts, wait=wait)
    output(ctx).result({"EndpointName": name}, f"updated {name}" if wait else f"updating {name}")


@app.command()
def delete(ctx: typer.Context, name: str,
           wait: bool = typer.Option(False, "--wait", help="Return once the endpoint is gone.")) -> None:
    """Delete an endpoint (its endpoint config and models stay): its instances drain and stop."""
    sagemaker = aws_client(ctx, "sagemaker")
    sagemaker.delete_endpoint(EndpointName=name)
    if wait and (reason := wait_for(sagemaker, "endpoint_deleted", EndpointName=name)):
        raise EndpointFailed(name, reason)
    output(ctx).result({"EndpointName": name}, f"deleted {name}" if wait else f"deleting {name}")


def assignments(items: list[str], kind: Callable[[str], T], what: str) -> dict[str, T]:
    """`["a=1", "b=0"]` → `{"a": kind("1"), "b": kind("0")}`; BadParameter naming a malformed item."""
    parsed: dict[str, T] = {}
    for item in items:
        variant, _, value = item.partition("=")  # variant names hold no '='
        try:
            parsed[variant] = kind(value)
        except ValueError:
            raise typer.BadParameter(f"{item!r} is not VARIANT={what}") from None
    return parsed


def _exists(sagemaker: Any, name: str) -> bool:
    try:
        sagemaker.describe_endpoint(EndpointName=name)
    except sagemaker.exceptions.ClientError as error:
        if error.response["Error"]["Code"] == "ValidationException":  # SageMaker's "Could not find endpoint"
            return False
        raise
    return True


def _described(sagemaker: Any, name: str) -> dict[str, Any]:
    return resource(sagemaker.describe_endpoint(EndpointName=name))


def _instances(url: str | None, name: str, where: dict[str, str]) -> list[dict[str, Any]]:
    """Where each serving instance of the endpoint runs, from the server's own API; none when it is not in service."""
    answer = native_get(url, f"/endpoints/{name}/instances", where, missing_ok=True)
    instances: list[dict[str, Any]] = [] if answer is None else answer["Instances"]
    return instances


def _row(endpoint: dict[str, Any]) -> dict[str, str]:
    variants = ", ".join(_variant_brief(variant) for variant in endpoint.get("ProductionVariants", []))
    return {"Name": endpoint["EndpointName"], "Status": styled(endpoint["EndpointStatus"]), "Variants": variants,
            "Created": local_time(endpoint["CreationTime"])}


def _variant_brief(variant: dict[str, Any]) -> str:
    """`a 0.5 × 2`: name, weight and instance count, current once running, else desired."""
    weight = variant.get("CurrentWeight", variant.get("DesiredWeight", 0))
    count = variant.get("CurrentInstanceCount", variant.get("DesiredInstanceCount", 0))
    return f"{escape(variant['VariantName'])} {weight:g} × {count}"


def _description(endpoint: dict[str, Any]) -> Group:
    facts = facts_table({"Name": endpoint["EndpointName"], "Status": styled(endpoint["EndpointStatus"]),
                         "Failure reason": escape(endpoint.get("FailureReason", "")),
                         "Endpoint config": endpoint["EndpointConfigName"],
                         "Created": local_time(endpoint["CreationTime"]),
                         "Last modified": local_time(endpoint["LastModifiedTime"]),
                         "Async backlog": _backlog(endpoint.get("AsyncBacklog"))})
    variants = titled_table("Production variants", "Variant", "Weight (current/desired)",
                            "Instances (current/desired)", "Status", "Images")
    for variant in endpoint.get("ProductionVariants", []):
        variants.add_row(*_variant_cells(variant))
    parts: list[RenderableType] = [facts, Text(), variants]
    if endpoint["Instances"]:
        parts += [Text(), _instances_table(endpoint["Instances"])]
    for table in scaling_tables(endpoint["ScalableTargets"]):
        parts += [Text(), table]
    if endpoint.get("ServerlessUsage"):
        parts += [Text(), _usage_table(endpoint["ServerlessUsage"])]
    return Group(*parts)


def _usage_table(usage: list[dict[str, Any]]) -> Table:
    """Each serverless variant's GB-seconds (memory size × the time its invocations took) and their price."""
    table = titled_table(f"Serverless usage (SageMaker us-east-1: ${SERVERLESS_USD_PER_GB_SECOND:.7f} per GB-second)",
                         "Variant", "Memory", "GB-seconds", "On SageMaker")
    for variant in usage:
        table.add_row(escape(variant["VariantName"]), f"{variant['MemorySizeInMB']} MB", f"{variant['GBSeconds']:.3f}",
                      f"${variant['GBSeconds'] * SERVERLESS_USD_PER_GB_SECOND:.6f}")
    return table


def _backlog(backlog: dict[str, Any] | None) -> str | None:
    """`3 requests (1.5 per instance)`: InvokeEndpointAsync's requests queued or under way."""
    if backlog is None:
        return None
    return (f"{backlog['ApproximateBacklogSize']} requests "
            f"({backlog['ApproximateBacklogSizePerInstance']:g} per instance)")


def _instances_table(instances: list[dict[str, Any]]) -> Table:
    table = titled_table("Serving instances", "Variant", "Instance", "Zone", "In rotation")
    for instance in instances:
        table.add_row(escape(instance["variant"]), instance["instance_id"], instance["zone"],
                      "yes" if instance["in_rotation"] else "[yellow]no[/yellow]")
    return table


def _variant_cells(variant: dict[str, Any]) -> list[str]:
    """Variant, weights, instance counts, its latest status and the images its instances run."""
    statuses = variant.get("VariantStatus", [])
    latest = f"{statuses[-1]['Status']}: {statuses[-1].get('StatusMessage', '')}".rstrip(": ") if statuses else ""
    images = "\n".join(image.get("ResolvedImage") or image.get("SpecifiedImage", "")
                       for image in variant.get("DeployedImages", []))
    return [escape(variant["VariantName"]),
            f"{_or_dash(variant.get('CurrentWeight'))} / {_or_dash(variant.get('DesiredWeight'))}",
            _instances_cell(variant), escape(latest), escape(images)]


def _instances_cell(variant: dict[str, Any]) -> str:
    """Current / desired instance counts, or a serverless variant's memory size and concurrency."""
    serverless = variant.get("CurrentServerlessConfig") or variant.get("DesiredServerlessConfig")
    if serverless is None:
        return f"{_or_dash(variant.get('CurrentInstanceCount'))} / {_or_dash(variant.get('DesiredInstanceCount'))}"
    provisioned = serverless.get("ProvisionedConcurrency")
    return (f"serverless: {serverless['MemorySizeInMB']} MB, up to {serverless['MaxConcurrency']} at once"
            + (f", {provisioned} provisioned" if provisioned else ""))


def _or_dash(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
