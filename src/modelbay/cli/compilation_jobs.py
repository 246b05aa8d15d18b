"""`modelbay compilation-jobs`: describe, list and stop compilation jobs (SageMaker Neo)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from modelbay.cli.commands import Commands, aws_client
from modelbay.cli.listing import list_options, print_summaries
from modelbay.cli.output import facts_table, local_time, output, resource, styled
from modelbay.statuses import CompilationJobStatus

app = Commands(help="See and stop compilation jobs (SageMaker Neo) on a modelbay server.")
_COLUMNS = ["Name", "Status", "Target", "Created", "Ended"]
_VERIFICATION_TAG = "modelbay:verification"  # the compiler's same-answers check, as the server tags the job
_PLATFORM_PARTS = ("Os", "Arch", "Accelerator")
_status_option, _name_contains_option, _max_option = list_options("jobs")


@app.command()
def describe(ctx: typer.Context, name: str) -> None:
    """Show a compilation job: status, failure reason, model, target, artifact, the compiled model's check, times."""
    sagemaker = aws_client(ctx, "sagemaker")
    job = resource(sagemaker.describe_compilation_job(CompilationJobName=name))
    tags = sagemaker.list_tags(ResourceArn=job["CompilationJobArn"])["Tags"]
    verification = next((tag["Value"] for tag in tags if tag["Key"] == _VERIFICATION_TAG), None)
    output(ctx).result(job, _description(job, verification))


@app.command("list")
def list_jobs(ctx: typer.Context, status: CompilationJobStatus | None = _status_option,
              name_contains: str | None = _name_contains_option, most: int | None = _max_option) -> None:
    """List compilation jobs, newest first."""
    print_summaries(ctx, "list_compilation_jobs", "CompilationJobSummaries",
                    {"StatusEquals": status, "NameContains": name_contains}, most, _COLUMNS, _row)


@app.command()
def stop(ctx: typer.Context, name: str) -> None:
    """Stop a compilation job; it goes to STOPPING, then STOPPED."""
    aws_client(ctx, "sagemaker").stop_compilation_job(CompilationJobName=name)
    output(ctx).result({"CompilationJobName": name}, f"stopping {name}")


def _row(summary: dict[str, Any]) -> dict[str, str]:
    return {"Name": summary["CompilationJobName"], "Status": styled(summary["CompilationJobStatus"]),
            "Target": _target(summary.get("CompilationTargetDevice"), [summary.get(f"CompilationTargetPlatform{part}")
                                                                       for part in _PLATFORM_PARTS]),
            "Created": local_time(summary["CreationTime"]),
            "Ended": local_time(summary.get("CompilationEndTime"))}


def _target(device: str | None, platform: list[str | None]) -> str:
    """The TargetDevice, else the TargetPlatform as Os_Arch[_Accelerator]."""
    return device or "_".join(part for part in platform if part)


def _check(verification: str | None) -> str:
    """The same-answers check as a line: passed or failed, on how many samples, the largest difference."""
    if verification is None:
        return ""
    found = json.loads(verification)
    verdict = "[green]passed[/green]" if found.get("passed") else "[red]failed[/red]"
    return (f"{verdict} on {found.get('samples')} samples: max |difference| {found.get('max_abs_diff')} "
            f"(tolerance {found.get('tolerance')})")


def _description(job: dict[str, Any], verification: str | None) -> Table:
    given, out = job["InputConfig"], job["OutputConfig"]
    target = _target(out.get("TargetDevice"), [out.get("TargetPlatform", {}).get(part) for part in _PLATFORM_PARTS])
    framework = " ".join(part for part in (given["Framework"], given.get("FrameworkVersion")) if part)
    return facts_table({"Name": job["CompilationJobName"], "Status": styled(job["CompilationJobStatus"]),
                        "Failure reason": escape(job.get("FailureReason", "")),
                        "Model": escape(f"{given['S3Uri']} ({framework})"), "Target": escape(target),
                        "Artifact": escape(job.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")),
                        "Digest": job.get("ModelDigests", {}).get("ArtifactDigest"),
                        "Inference image": job.get("InferenceImage"), "Check": _check(verification),
                        "Created": local_time(job["CreationTime"]),
                        "Started": local_time(job.get("CompilationStartTime")),
                        "Ended": local_time(job.get("CompilationEndTime"))})
