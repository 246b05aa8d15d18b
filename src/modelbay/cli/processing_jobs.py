"""`modelbay processing`: describe, list and stop processing jobs."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from modelbay.cli.commands import Commands, aws_client
from modelbay.cli.listing import job_list_command
from modelbay.cli.output import facts_table, local_time, output, resource, styled

app = Commands(help="See and stop processing jobs on a modelbay server.")
_COLUMNS = ["Name", "Status", "Created", "Ended", "Failure reason"]


@app.command()
def describe(ctx: typer.Context, name: str) -> None:
    """Show a processing job: status, failure reason, image, inputs, outputs, resources and times."""
    job = resource(aws_client(ctx, "sagemaker").describe_processing_job(ProcessingJobName=name))
    output(ctx).result(job, _description(job))


def _row(summary: dict[str, Any]) -> dict[str, str]:
    return {"Name": summary["ProcessingJobName"], "Status": styled(summary["ProcessingJobStatus"]),
            "Created": local_time(summary["CreationTime"]), "Ended": local_time(summary.get("ProcessingEndTime")),
            "Failure reason": escape(summary.get("FailureReason", ""))}


app.command("list")(job_list_command("processing", _COLUMNS, _row))


@app.command()
def stop(ctx: typer.Context, name: str) -> None:
    """Stop a running processing job; it goes to Stopping, then Stopped."""
    aws_client(ctx, "sagemaker").stop_processing_job(ProcessingJobName=name)
    output(ctx).result({"ProcessingJobName": name}, f"stopping {name}")


def _description(job: dict[str, Any]) -> Table:
    app_spec, cluster = job["AppSpecification"], job["ProcessingResources"]["ClusterConfig"]
    inputs = [f"{given['S3Input']['S3Uri']} → {given['S3Input']['LocalPath']}"
              for given in job.get("ProcessingInputs", []) if "S3Input" in given]
    outputs = [f"{given['S3Output']['LocalPath']} → {given['S3Output']['S3Uri']}"
               for given in job.get("ProcessingOutputConfig", {}).get("Outputs", []) if "S3Output" in given]
    return facts_table({"Name": job["ProcessingJobName"], "Status": styled(job["ProcessingJobStatus"]),
                        "Failure reason": escape(job.get("FailureReason", "")), "Image": app_spec["ImageUri"],
                        "Command": escape(" ".join([*app_spec.get("ContainerEntrypoint", []),
                                                    *app_spec.get("ContainerArguments", [])])),
                        "Inputs": escape("\n".join(inputs)), "Outputs": escape("\n".join(outputs)),
                        "Instances": f"{cluster['InstanceType']} × {cluster['InstanceCount']}",
                        "Created": local_time(job["CreationTime"]),
                        "Started": local_time(job.get("ProcessingStartTime")),
                        "Ended": local_time(job.get("ProcessingEndTime"))})
