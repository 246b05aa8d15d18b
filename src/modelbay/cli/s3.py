"""`modelbay s3`: copy, list and remove objects through the server's S3 API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from boto3.s3.transfer import TransferConfig
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from modelbay.cli.output import Output, fail, reported_errors, url_option
from modelbay.sdk import client

app = typer.Typer(help="Copy, list and remove objects (s3://bucket/key) on a modelbay server.",
                  no_args_is_help=True)
app.callback()(url_option)
_PROGRESS_FROM_BYTES = 8 * 1024 * 1024  # smaller transfers finish before a bar is worth drawing


def _s3(ctx: typer.Context) -> Any:
    return client("s3", ctx.obj["url"])


def _output(ctx: typer.Context) -> Output:
    return Output(ctx.obj["json"])


def split_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/some/key' → ('bucket', 'some/key'); ValueError for anything else."""
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise ValueError(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


@app.command()
def mb(ctx: typer.Context, uri: str = typer.Argument(..., help="s3://bucket")) -> None:
    """Make a bucket."""
    with reported_errors():
        bucket, _ = split_uri(uri)
        _s3(ctx).create_bucket(Bucket=bucket)
        _output(ctx).result({"bucket": bucket}, f"make_bucket: {bucket}")


@app.command()
def cp(ctx: typer.Context, source: str, destination: str) -> None:
    """Copy a file to S3, an object to a file, or an object to another object."""
    with reported_errors():
        s3, out = _s3(ctx), _output(ctx)
        if source.startswith("s3://") and destination.startswith("s3://"):
            (src_bucket, src_key), (bucket, key) = split_uri(source), split_uri(destination)
            s3.copy({"Bucket": src_bucket, "Key": src_key}, bucket, key or src_key.rsplit("/", 1)[-1])
            size = s3.head_object(Bucket=bucket, Key=key or src_key.rsplit("/", 1)[-1])["ContentLength"]
        elif destination.startswith("s3://"):
            bucket, key = split_uri(destination)
            key = key + Path(source).name if not key or key.endswith("/") else key
            size = Path(source).stat().st_size
            with _progress(size, out, f"upload {Path(source).name}") as callback:
                s3.upload_file(source, bucket, key, Callback=callback, Config=TransferConfig())
        elif source.startswith("s3://"):
            bucket, key = split_uri(source)
            size = s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
            target = Path(destination)
            target = target / key.rsplit("/", 1)[-1] if target.is_dir() else target
            with _progress(size, out, f"download {key}") as callback:
                s3.download_file(bucket, key, str(target), Callback=callback)
        else:
            fail("one of SOURCE and DESTINATION must be an s3:// URI")
            return
        out.result({"source": source, "destination": destination, "bytes": size},
                    f"copied {source} → {destination} ({size} bytes)")


@app.command()
def ls(ctx: typer.Context, uri: str = typer.Argument("", help="s3://bucket/prefix; none lists buckets"),
       recursive: bool = typer.Option(False, "--recursive", "-r", help="List every key under the prefix.")) -> None:
    """List buckets, or the objects and folders under a prefix."""
    with reported_errors():
        s3, out = _s3(ctx), _output(ctx)
        if not uri:
            buckets = s3.list_buckets()["Buckets"]
            out.table(["CreationDate", "Name"], [{"Name": b["Name"], "CreationDate": b["CreationDate"]}
                                                 for b in buckets])
            return
        bucket, prefix = split_uri(uri)
        rows: list[dict[str, Any]] = []
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, **({} if recursive else {"Delimiter": "/"}))
        for page in pages:
            rows += [{"LastModified": "", "Size": "PRE", "Key": p["Prefix"]} for p in page.get("CommonPrefixes", [])]
            rows += [{"LastModified": o["LastModified"], "Size": o["Size"], "Key": o["Key"]}
                     for o in page.get("Contents", [])]
        out.table(["LastModified", "Size", "Key"], rows)


@app.command()
def rm(ctx: typer.Context, uri: str,
       recursive: bool = typer.Option(False, "--recursive", "-r", help="Remove every key under the prefix.")) -> None:
    """Remove an object, or every object under a prefix."""
    with reported_errors():
        s3, out = _s3(ctx), _output(ctx)
        bucket, key = split_uri(uri)
        keys = [key]
        if recursive:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
            keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start:start + 1000]]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        out.result({"deleted": keys}, "\n".join(f"delete: s3://{bucket}/{k}" for k in keys) or "nothing to delete")


class _progress:
    """A rich progress bar fed by boto3's transfer callback; silent for small or --json transfers."""

    def __init__(self, total: int, out: Output, label: str) -> None:
        self.bar: Progress | None = None
        if total >= _PROGRESS_FROM_BYTES and not out.as_json:
            self.bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                                TransferSpeedColumn(), transient=True)
            self.task = self.bar.add_task(label, total=total)

    def __enter__(self) -> Any:
        if self.bar is None:
            return None
        self.bar.start()
        bar, task = self.bar, self.task
        return lambda sent: bar.advance(task, sent)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
