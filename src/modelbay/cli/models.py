"""`modelbay models`: list, describe and delete the models (CreateModel) that endpoints and transform jobs run."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Group
from rich.markup import escape
from rich.text import Text

from modelbay.cli.commands import Commands, aws_client
from modelbay.cli.listing import list_options, print_summaries
from modelbay.cli.output import facts_table, local_time, output, resource, titled_table

app = Commands(help="List, describe and delete the models of a modelbay server (what `transform create --model` and "
                    "endpoints name).")
_, _NAME_CONTAINS, _MAX = list_options("models")  # models have no status
_COLUMNS = ["Name", "Created"]


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
