"""`modelbay s3`: copy, list and remove objects through the server's S3 API, as `aws s3` does.

A file written goes through modelbay.user_files: atomically to a regular file, in place to anything else
(/dev/stdout, a FIFO); `-` is standard input as the source and standard output as the destination.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, BinaryIO

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from modelbay.cli.commands import Commands, aws_client
from modelbay.cli.output import Output, errors, fail, output
from modelbay.user_files import open_for_writing

app = Commands(help="Copy, list and remove objects (s3://bucket/key) on a modelbay server.")
_PROGRESS_FROM_BYTES = 8 * 1024 * 1024  # smaller transfers finish before a bar is worth drawing
_CHUNK_BYTES = 1024 * 1024
STANDARD_STREAM = "-"


def split_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/some/key' → ('bucket', 'some/key'); BadParameter for anything else."""
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise typer.BadParameter(f"not an S3 URI: {uri!r} (expected s3://bucket/key)")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


@app.command()
def mb(ctx: typer.Context, uri: str = typer.Argument(..., help="s3://bucket")) -> None:
    """Make a bucket."""
    bucket, _ = split_uri(uri)
    aws_client(ctx, "s3").create_bucket(Bucket=bucket)
    output(ctx).result({"bucket": bucket}, f"make_bucket: {bucket}")


@app.command()
def cp(ctx: typer.Context,
       source: str = typer.Argument(..., help="A file, s3://bucket/key, or - (standard input)."),
       destination: str = typer.Argument(..., help="A file or directory, s3://bucket/key (a key ending in / takes "
                                         "the source's name), or - (standard output).")) -> None:
    """Copy a file to S3, an object to a file, or an object to another object."""
    s3, out = aws_client(ctx, "s3"), output(ctx)
    if source.startswith("s3://") and destination.startswith("s3://"):
        size = _copy(s3, out, source, destination)
    elif destination.startswith("s3://"):
        size = _upload(s3, out, source, destination)
    elif source.startswith("s3://"):
        size = _download(s3, out, source, destination)
    else:
        fail("one of SOURCE and DESTINATION must be an s3:// URI")
    if not _is_standard_output(destination):  # where the object went: no report in the middle of it
        out.result({"source": source, "destination": destination, "bytes": size},
                    f"copied {source} → {destination} ({size} bytes)")


def _copy(s3: Any, out: Output, source: str, destination: str) -> int:
    (source_bucket, source_key), (bucket, key) = split_uri(source), split_uri(destination)
    with _Transfer(None, out, f"copy {source_key}") as transfer:
        s3.copy({"Bucket": source_bucket, "Key": source_key}, bucket,
                _object_key(key, source_key.rsplit("/", 1)[-1]), Callback=transfer)
    return transfer.done


def _upload(s3: Any, out: Output, source: str, destination: str) -> int:
    bucket, key = split_uri(destination)
    if source == STANDARD_STREAM and _is_prefix(key):
        fail("standard input has no name to give the object: end the destination with its key (s3://bucket/key)")
    with nullcontext(sys.stdin.buffer) if source == STANDARD_STREAM else open(source, "rb") as stream:
        size = None if source == STANDARD_STREAM else os.fstat(stream.fileno()).st_size
        with _Transfer(size, out, f"upload {Path(source).name}") as transfer:
            s3.upload_fileobj(stream, bucket, _object_key(key, Path(source).name), Callback=transfer)
    return transfer.done


def _download(s3: Any, out: Output, source: str, destination: str) -> int:
    bucket, key = split_uri(source)
    answer = s3.get_object(Bucket=bucket, Key=key)  # a missing bucket or key is an error in S3's words
    with _Transfer(answer["ContentLength"], out, f"download {key}") as transfer, \
            _writing(destination, key.rsplit("/", 1)[-1]) as sink:
        for chunk in answer["Body"].iter_chunks(_CHUNK_BYTES):
            sink.write(chunk)
            transfer(len(chunk))
    return transfer.done


def _object_key(key: str, name: str) -> str:
    """The key to write: `key`, or `name` under it when it is a prefix, as `aws s3 cp` does."""
    return key + name if _is_prefix(key) else key


def _is_prefix(key: str) -> bool:
    return not key or key.endswith("/")


@contextmanager
def _writing(destination: str, name: str) -> Iterator[BinaryIO]:
    """Where a download goes: standard output for `-`, `name` in a directory, else the file named."""
    if destination == STANDARD_STREAM:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(destination)
    with open_for_writing(target / name if target.is_dir() else target) as sink:
        yield sink


def _is_standard_output(destination: str) -> bool:
    """Whether the copy went to this process's standard output: `-`, or a path to it such as /dev/stdout."""
    if destination == STANDARD_STREAM:
        return True
    try:
        return os.path.samestat(os.stat(destination), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError):  # no such file, or no standard output to compare with
        return False


@app.command()
def ls(ctx: typer.Context, uri: str = typer.Argument("", help="s3://bucket/prefix; none lists buckets"),
       recursive: bool = typer.Option(False, "--recursive", "-r", help="List every key under the prefix.")) -> None:
    """List buckets, or the objects and folders under a prefix."""
    s3, out = aws_client(ctx, "s3"), output(ctx)
    if not uri:
        buckets = [{"Name": b["Name"], "CreationDate": b["CreationDate"]} for b in s3.list_buckets()["Buckets"]]
        out.table(["CreationDate", "Name"], buckets if out.as_json else [_markup(b) for b in buckets],
                  names=("Name",))
        return
    bucket, prefix = split_uri(uri)
    rows: list[dict[str, Any]] = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, **({} if recursive else {"Delimiter": "/"}))
    for page in pages:
        rows += [{"LastModified": "", "Size": "PRE", "Key": p["Prefix"]} for p in page.get("CommonPrefixes", [])]
        rows += [{"LastModified": o["LastModified"], "Size": o["Size"], "Key": o["Key"]}
                 for o in page.get("Contents", [])]
    out.table(["LastModified", "Size", "Key"], rows if out.as_json else [_markup(row) for row in rows], names=("Key",))


def _markup(row: dict[str, Any]) -> dict[str, str]:
    """A row's values as rich markup: a key may hold brackets."""
    return {column: escape(str(value)) for column, value in row.items()}


@app.command()
def rm(ctx: typer.Context, uri: str,
       recursive: bool = typer.Option(False, "--recursive", "-r", help="Remove every key under the prefix.")) -> None:
    """Remove an object, or every object under a prefix."""
    s3, out = aws_client(ctx, "s3"), output(ctx)
    bucket, key = split_uri(uri)
    keys = [key]
    if recursive:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
        keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    for start in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[start:start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    out.result({"deleted": keys}, "\n".join(f"delete: s3://{bucket}/{k}" for k in keys) or "nothing to delete")


class _Transfer:
    """Counts the bytes a copy moves (boto3's transfer callback, or called per chunk), and draws a progress bar on
    stderr for a large one, unless --json."""

    def __init__(self, total: int | None, out: Output, label: str) -> None:
        self.done = 0
        self.bar: Progress | None = None
        if total is not None and total >= _PROGRESS_FROM_BYTES and not out.as_json:
            self.bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                                TransferSpeedColumn(), console=errors, transient=True)
            self.task = self.bar.add_task(escape(label), total=total)

    def __enter__(self) -> _Transfer:
        if self.bar is not None:
            self.bar.start()
        return self

    def __call__(self, moved: int) -> None:
        self.done += moved
        if self.bar is not None:
            self.bar.advance(self.task, moved)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
