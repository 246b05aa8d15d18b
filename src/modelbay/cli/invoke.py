"""`modelbay invoke`: call an endpoint once (sagemaker-runtime InvokeEndpoint) and print its answer."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import typer

from modelbay.cli.commands import aws_client
from modelbay.cli.output import errors


def invoke(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The endpoint."),
    stdin: str | None = typer.Argument(None, metavar="[-]", help="'-' reads the body from standard input."),
    body: str | None = typer.Option(None, "--body", help="The body, as text."),
    file: Path | None = typer.Option(None, "--file", help="Send this file's bytes as the body."),
    content_type: str = typer.Option("text/csv", "--content-type", help="The body's type."),
    accept: str | None = typer.Option(None, "--accept", help="The answer's type wanted (default: the model's choice)."),
    target_variant: str | None = typer.Option(None, "--target-variant", help="Ask this variant, whatever its weight."),
    custom_attributes: str | None = typer.Option(None, "--custom-attributes", help="Passed to the model as is."),
) -> None:
    """Call an endpoint once and print its answer.

    The answer's body goes to standard output as it came, the variant that answered to standard
    error. With --json, the answer is printed as JSON (a body that is not UTF-8 as BodyBase64).
    """
    data = _body(stdin, body, file)
    optional = {"Accept": accept, "TargetVariant": target_variant, "CustomAttributes": custom_attributes}
    answer = aws_client(ctx, "sagemaker-runtime").invoke_endpoint(
        EndpointName=name, Body=data, ContentType=content_type,
        **{key: value for key, value in optional.items() if value is not None})
    answered = answer["Body"].read()
    if ctx.obj["json"]:
        print(json.dumps(_as_json(answer, answered)))
        return
    sys.stdout.buffer.write(answered)
    sys.stdout.flush()
    errors.print(f"variant: {answer.get('InvokedProductionVariant', '')}", markup=False, highlight=False)


def _body(stdin: str | None, body: str | None, file: Path | None) -> bytes:
    """The request body from exactly one of '-', --body and --file; BadParameter otherwise."""
    if stdin not in (None, "-"):
        raise typer.BadParameter(f"{stdin!r}: the only argument after the endpoint is '-' (standard input)")
    given = [source for source in (stdin, body, file) if source is not None]
    if len(given) != 1:
        raise typer.BadParameter("give the body with exactly one of --body STRING, --file PATH or - (standard input)")
    if body is not None:
        return body.encode()
    if file is not None:
        try:
            return file.read_bytes()
        except OSError as error:
            raise typer.BadParameter(f"--file: {error.strerror}: {file}") from None
    return sys.stdin.buffer.read()


def _as_json(answer: dict[str, Any], body: bytes) -> dict[str, Any]:
    members = {key: answer[key] for key in ("ContentType", "InvokedProductionVariant", "CustomAttributes")
               if key in answer}
    try:
        return members | {"Body": body.decode()}
    except UnicodeDecodeError:
        return members | {"BodyBase64": base64.b64encode(body).decode()}
