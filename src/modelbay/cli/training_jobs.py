"""`modelbay jobs`: list, describe, follow the logs of, stop and interrupt (managed spot) training jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Group, RenderableType
from rich.text import Text

from modelbay.cli.commands import PLAIN, Commands, aws_client
from modelbay.cli.listing import JobStatus, job_list_command
from modelbay.cli.log_lines import print_until_quiet
from modelbay.cli.native import NativeRefused, native_post
from modelbay.cli.output import facts_table, local_time, output, report, resource, styled, titled_table
from modelbay.sdk.job_logs import TrainingLogs

app = Commands(help="List, describe, follow, stop and interrupt (managed spot) training jobs on a modelbay server.")
_COLUMNS = ["Name", "Status", "Secondary status", "Created", "Duration"]


_RUNNING: set[str] = {JobStatus.IN_PROGRESS, JobStatus.STOPPING}


def _row(summary: dict[str, Any]) -> dict[str, str]:
    return {"Name": summary["TrainingJobName"], "Status": styled(summary["TrainingJobStatus"]),
            "Secondary status": summary.get("SecondaryStatus", ""), "Created": local_time(summary["CreationTime"]),
            "Duration": _duration(summary["CreationTime"], summary.get("TrainingEndTime"))}


app.command("list")(job_list_command("training", _COLUMNS, _row))


@app.command()
def describe(ctx: typer.Context, name: str) -> None:
    """Show a training job: status, failure reason, resources, artifacts, metrics and status history."""
    job = resource(aws_client(ctx, "sagemaker").describe_training_job(TrainingJobName=name))
    output(ctx).result(job, _description(job))


@app.command(options=PLAIN)
def logs(ctx: typer.Context, name: str,
         follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing until the job ends.")) -> None:
    """Print each instance's log, prefixed by its host when the job has several."""
    sagemaker = aws_client(ctx, "sagemaker")
    job = sagemaker.describe_training_job(TrainingJobName=name)
    reader, several = TrainingLogs(aws_client(ctx, "logs"), name), job["ResourceConfig"]["InstanceCount"] > 1
    try:
        print_until_quiet(reader, several, lambda: follow and _is_running(sagemaker, name))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command()
def stop(ctx: typer.Context, name: str) -> None:
    """Stop a running training job; it goes to Stopping, then Stopped."""
    aws_client(ctx, "sagemaker").stop_training_job(TrainingJobName=name)
    output(ctx).result({"TrainingJobName": name}, f"stopping {name}")


@app.command()
def interrupt(ctx: typer.Context, name: str) -> None:
    """Take spot capacity back from a managed spot training job now: it stops, waits for capacity, then resumes from
    its checkpoints."""
    query = {"region": ctx.obj["region"]} if ctx.obj["region"] else None
    try:
        answer = native_post(ctx.obj["url"], f"/training-jobs/{name}/interrupt", query)
    except NativeRefused as refused:  # the server's words, as for an AWS error: exit status 1
        report(str(refused))
        raise typer.Exit(1) from None
    output(ctx).result(answer, f"interrupting {name}")


def _is_running(sagemaker: Any, name: str) -> bool:
    return sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in _RUNNING


def _description(job: dict[str, Any]) -> Group:
    facts = facts_table(_facts(job))
    metrics = titled_table("Final metrics", "Metric", "Value")
    for metric in job.get("FinalMetricDataList", []):
        metrics.add_row(metric["MetricName"], f"{metric['Value']:g}")
    history = titled_table("Status history", "Status", "Start", "End", "Message")
    for step in job.get("SecondaryStatusTransitions", []):
        history.add_row(step["Status"], local_time(step["StartTime"]), local_time(step.get("EndTime")),
                        step.get("StatusMessage"))
    parts: list[RenderableType] = [facts, Text(), metrics, Text(), history] if metrics.row_count else [
        facts, Text(), history]
    return Group(*parts)


def _facts(job: dict[str, Any]) -> dict[str, str | None]:
    resources = job["ResourceConfig"]
    return {"Name": job["TrainingJobName"], "Status": styled(job["TrainingJobStatus"]),
            "Secondary status": job.get("SecondaryStatus"), "Failure reason": job.get("FailureReason"),
            "Instances": f"{resources['InstanceType']} × {resources['InstanceCount']}",
            "Image": job["AlgorithmSpecification"].get("TrainingImage"),
            "Model artifacts": job.get("ModelArtifacts", {}).get("S3ModelArtifacts"),
            "Created": local_time(job["CreationTime"]),
            "Duration": _duration(job.get("TrainingStartTime") or job["CreationTime"], job.get("TrainingEndTime"))
            } | _spot_facts(job)


def _spot_facts(job: dict[str, Any]) -> dict[str, str | None]:
    """A managed spot job's interruptions, and once it has ended its training and billable seconds and the savings
    (SageMaker's formula: 1 - billable / training)."""
    if not job.get("EnableManagedSpotTraining"):
        return {}
    interruptions = sum(step["Status"] == "Interrupted" for step in job.get("SecondaryStatusTransitions", []))
    facts: dict[str, str | None] = {"Managed spot": f"yes, {interruptions} interruption"
                                                    f"{'' if interruptions == 1 else 's'}"}
    training, billable = job.get("TrainingTimeInSeconds"), job.get("BillableTimeInSeconds")
    if training and billable:
        facts |= {"Training seconds": str(training), "Billable seconds": str(billable),
                  "Spot savings": f"{(1 - billable / training) * 100:.1f} %"}
    return facts


def _duration(start: datetime, end: datetime | None) -> str:
    """'1h 02m 03s', '2m 03s' or '5s'; up to now while the job runs."""
    seconds = int(((end or datetime.now(UTC)) - start).total_seconds())
    hours, minutes = divmod(seconds // 60, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {seconds % 60:02d}s"
    return f"{minutes}m {seconds % 60:02d}s" if minutes else f"{seconds}s"
