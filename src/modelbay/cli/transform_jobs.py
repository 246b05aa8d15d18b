"""`modelbay transform`: create, describe, list and stop batch transform jobs."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from modelbay.cli.commands import Commands, aws_client, sdk_session
from modelbay.cli.listing import job_list_command
from modelbay.cli.output import facts_table, local_time, output, resource, styled
from modelbay.sdk import Transformer

app = Commands(help="Run a model over S3 data with batch transform jobs on a modelbay server.")
_COLUMNS = ["Name", "Status", "Created", "Ended", "Failure reason"]


@app.command()
def create(
    ctx: typer.Context,
    model: str = typer.Option(..., "--model", help="The model to run."),
    data: str = typer.Option(..., "--input", help="S3 prefix (or manifest) of the input objects."),
    output_path: str = typer.Option(..., "--output", help="S3 prefix for the outputs, one <input>.out per input."),
    name: str | None = typer.Option(None, "--name", help="The job's name.",
                                    show_default="<model>-<time>"),
    split_type: str | None = typer.Option(None, "--split-type", help="Line: each line of an input is a record."),
    content_type: str | None = typer.Option(None, "--content-type", help="The inputs' type, e.g. text/csv."),
    accept: str | None = typer.Option(None, "--accept", help="The outputs' type."),
    assemble_with: str | None = typer.Option(None, "--assemble-with", help="Line: one output line per record."),
    strategy: str | None = typer.Option(None, "--strategy", help="MultiRecord or SingleRecord per request."),
    instance_type: str = typer.Option("ml.m5.large", "--instance-type"),
    instance_count: int = typer.Option(1, "--instance-count", min=1),
    wait: bool = typer.Option(False, "--wait", help="Return once the job has ended; fail if it failed."),
) -> None:
    """Create a transform job (CreateTransformJob) and print its name."""
    transformer = Transformer(model, instance_count, instance_type, output_path=output_path, strategy=strategy,
                              assemble_with=assemble_with, accept=accept, session=sdk_session(ctx))
    transformer.transform(data, content_type=content_type, split_type=split_type, job_name=name, wait=wait)
    job = transformer.latest_transform_job
    output(ctx).result({"TransformJobName": job}, f"{'completed' if wait else 'created'} {job}")


@app.command()
def describe(ctx: typer.Context, name: str) -> None:
    """Show a transform job: status, failure reason, model, input, output, resources and times."""
    job = resource(aws_client(ctx, "sagemaker").describe_transform_job(TransformJobName=name))
    output(ctx).result(job, _description(job))


def _row(summary: dict[str, Any]) -> dict[str, str]:
    return {"Name": summary["TransformJobName"], "Status": styled(summary["TransformJobStatus"]),
            "Created": local_time(summary["CreationTime"]), "Ended": local_time(summary.get("TransformEndTime")),
            "Failure reason": escape(summary.get("FailureReason", ""))}


app.command("list")(job_list_command("transform", _COLUMNS, _row))


@app.command()
def stop(ctx: typer.Context, name: str) -> None:
    """Stop a running transform job; it goes to Stopping, then Stopped."""
    aws_client(ctx, "sagemaker").stop_transform_job(TransformJobName=name)
    output(ctx).result({"TransformJobName": name}, f"stopping {name}")


def _description(job: dict[str, Any]) -> Table:
    source, output = job["TransformInput"], job.get("TransformOutput", {})
    resources = job["TransformResources"]
    return facts_table({"Name": job["TransformJobName"], "Status": styled(job["TransformJobStatus"]),
             "Failure reason": escape(job.get("FailureReason", "")), "Model": job["ModelName"],
             "Input": f"{source['DataSource']['S3DataSource']['S3Uri']} ({source.get('ContentType', 'any type')}, "
                      f"split {source.get('SplitType', 'None')})",
             "Output": output.get("S3OutputPath", ""),
             "Instances": f"{resources['InstanceType']} × {resources['InstanceCount']}",
             "Created": local_time(job["CreationTime"]), "Started": local_time(job.get("TransformStartTime")),
             "Ended": local_time(job.get("TransformEndTime"))})
