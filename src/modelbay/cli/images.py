"""`modelbay images`: build images from Dockerfiles and push them (cli/image_builds.py), register directories as
images in the server's registry (the ECR API), list, remove, collect the registry's garbage; and the framework
environments built on this machine (cli/environments.py)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.markup import escape

from modelbay.cli import environments, image_builds
from modelbay.cli.commands import Commands, aws_client
from modelbay.cli.native import PREFIX
from modelbay.cli.output import console, fail, local_time, output, report
from modelbay.sdk import resolve_url
from modelbay.sdk.signing import SignedCalls

app = Commands(help="Build, register, list and remove the images training jobs name (a modelbay server's ECR "
                    "registry); list and prune the framework environments built on this machine.")
app.command()(image_builds.build)
app.command()(image_builds.base)
app.command(options=("url", "region", "debug"))(image_builds.mirror)
# The wire contract with the server's ECR service for a bring-your-own image on this machine.
DIRECTORY_MEDIA_TYPE = "application/vnd.modelbay.directory.v1+json"
PROGRAMS = ("train", "serve")  # SageMaker starts an image as `<image> train` or `<image> serve`
_COLUMNS = ["Repository", "Tag", "Digest", "Image", "Pushed at"]
_BATCH = 100  # imageIds per BatchGetImage call, ECR's limit
_GC_TIMEOUT_S = 600.0  # removing many blobs from an S3-compatible store takes a while


REGISTER_HELP = (
    "Register DIRECTORY as image NAME:TAG and print the image URI to use as TrainingImage or a model's Image: quick "
    "local work with the process runtime, on the host's own software (for an image of its own packages, write a "
    "Dockerfile: `modelbay images build`).\n\n"
    "SageMaker runs an image as `train` (training jobs) or `serve` (endpoints, batch transform: GET /ping and POST "
    "/invocations on port 8080, or on $SAGEMAKER_BIND_TO_PORT where instances share the host's network). Where mount "
    "namespaces exist (root, or unprivileged user namespaces) the directory is shown at /opt/program, the program's "
    "working directory and first on its PATH, and /opt/ml is the instance's; elsewhere the program runs from "
    "DIRECTORY and the SM_* variables (SM_MODEL_DIR, SM_INPUT_DIR, ...) name the instance's directories.\n\n"
    "Its environment: the server's PATH, HOME, LANG and LC_ALL; the job's or model's Environment; TRAINING_JOB_NAME "
    "and TRAINING_JOB_ARN in training; SAGEMAKER_BIND_TO_PORT in serving; MODELBAY_NUM_CPUS and MODELBAY_NUM_GPUS, "
    "the instance type's.")


@app.command(help=REGISTER_HELP)
def register(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Repository name, e.g. my-model or team/my-model."),
    directory: Path = typer.Argument(..., help="Directory holding an executable 'train' and/or 'serve'."),
    tag: str = typer.Option("latest", "--tag", help="Tag to give the image."),
) -> None:
    """Register DIRECTORY as image NAME:TAG and print the image URI to use as TrainingImage (see REGISTER_HELP)."""
    path = directory.expanduser().resolve()
    problem = _not_an_image(path)
    if problem:
        fail(problem)
    manifest = json.dumps({"schemaVersion": 1, "mediaType": DIRECTORY_MEDIA_TYPE, "directory": str(path)})
    ecr = aws_client(ctx, "ecr")
    uri = f"{image_builds.repository_uri(ecr, name)}:{tag}"
    with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):  # registered before: same answer
        ecr.put_image(repositoryName=name, imageManifest=manifest, imageManifestMediaType=DIRECTORY_MEDIA_TYPE,
                      imageTag=tag)
    # print, not rich: a long URI must stay on one line for `$(modelbay images register ...)`
    print(json.dumps({"imageUri": uri, "directory": str(path)}) if ctx.obj["json"] else uri)


@app.command("list")
def list_images(ctx: typer.Context) -> None:
    """List every image: one row per tag, and one for each untagged image."""
    ecr = aws_client(ctx, "ecr")
    pages = ecr.get_paginator("describe_repositories").paginate()
    rows = [row for page in pages for repository in page["repositories"] for row in _rows(ecr, repository)]
    out = output(ctx)
    out.table(_COLUMNS, rows if out.as_json else [_table_row(row) for row in rows], names=("Repository", "Tag"))
    if not out.as_json:  # the built-in framework images are no registry's: built on this machine, with their sizes
        console.print(escape(environments.summary()), highlight=False)


@app.command()
def remove(ctx: typer.Context,
           reference: str = typer.Argument(..., metavar="NAME[:TAG]", help="NAME:TAG removes that tag (and the "
                                           "image once it has no tag left); NAME removes the repository.")) -> None:
    """Remove a tag, or a whole repository with all its images."""
    name, _, tag = reference.partition(":")  # repository names never hold a colon
    ecr = aws_client(ctx, "ecr")
    if tag:
        failures = ecr.batch_delete_image(repositoryName=name, imageIds=[{"imageTag": tag}])["failures"]
        if failures:
            report(f"{reference}: {failures[0]['failureReason']}")
            raise typer.Exit(1)
    else:
        ecr.delete_repository(repositoryName=name, force=True)
    output(ctx).result({"removed": reference}, f"removed {reference}")


@app.command()
def gc(ctx: typer.Context,
       min_age: int = typer.Option(3600, "--min-age", min=0, metavar="SECONDS",
                                   help="Spare blobs and uploads touched this recently (a push under way).")) -> None:
    """Remove the pushed layers no image names any more (after BatchDeleteImage, `images remove`), in the
    region --region names (else the server's home region), and uploads abandoned as long."""
    query = {"min_age_seconds": str(min_age)} | ({"region": ctx.obj["region"]} if ctx.obj["region"] else {})
    try:
        answer = httpx.post(resolve_url(ctx.obj["url"]) + PREFIX + "/registry/garbage-collection", params=query,
                            timeout=_GC_TIMEOUT_S, auth=SignedCalls())
        answer.raise_for_status()
    except httpx.HTTPError as error:
        raise ConnectionError(f"garbage collection: {error}") from None
    found = answer.json()
    output(ctx).result(found, f"removed {found['BlobsRemoved']} blobs ({found['BytesFreed']} bytes) and "
                              f"{found['UploadsRemoved']} abandoned uploads")


# after the registry's commands, so `modelbay images --help` lists them in this order
app.command("environments", options=environments.OPTIONS)(environments.list_environments)
app.command(options=environments.OPTIONS)(environments.prune)


def _not_an_image(path: Path) -> str | None:
    """Why a directory cannot be an image, or None if it can."""
    if not path.is_dir():
        return f"{path} is not a directory"
    if not any(os.access(path / program, os.X_OK) and (path / program).is_file() for program in PROGRAMS):
        return (f"{path} holds no executable 'train' or 'serve': SageMaker runs an image as '<image> train' "
                "and '<image> serve', so an image directory needs at least one of them (chmod +x)")
    return None


def _rows(ecr: Any, repository: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One JSON-ready row per tag of each image of the repository (one with no tag for an untagged image)."""
    name, uri = repository["repositoryName"], repository["repositoryUri"]
    pages = ecr.get_paginator("describe_images").paginate(repositoryName=name)
    details = [detail for page in pages for detail in page["imageDetails"]]
    directories = _directories(ecr, name, [d["imageDigest"] for d in details
                                           if d.get("imageManifestMediaType") == DIRECTORY_MEDIA_TYPE])
    for detail in details:
        digest = detail["imageDigest"]
        for tag in detail.get("imageTags") or [None]:
            yield {"repositoryName": name, "imageTag": tag, "imageDigest": digest,
                   "imageUri": f"{uri}:{tag}" if tag else f"{uri}@{digest}", "directory": directories.get(digest),
                   "imageManifestMediaType": detail.get("imageManifestMediaType"),
                   "imagePushedAt": detail["imagePushedAt"]}


def _directories(ecr: Any, name: str, digests: list[str]) -> dict[str, str]:
    """The directory each of these directory images names, by digest."""
    found: dict[str, str] = {}
    for start in range(0, len(digests), _BATCH):
        ids = [{"imageDigest": digest} for digest in digests[start:start + _BATCH]]
        for image in ecr.batch_get_image(repositoryName=name, imageIds=ids)["images"]:
            found[image["imageId"]["imageDigest"]] = json.loads(image["imageManifest"])["directory"]
    return found


def _table_row(row: dict[str, Any]) -> dict[str, str]:
    return {"Repository": row["repositoryName"], "Tag": row["imageTag"] or "<none>",
            "Digest": row["imageDigest"].removeprefix("sha256:")[:12],
            "Image": row["directory"] or row["imageManifestMediaType"] or "",
            "Pushed at": local_time(row["imagePushedAt"])}
