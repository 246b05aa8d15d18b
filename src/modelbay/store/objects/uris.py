"""The two kinds of data location SageMaker requests name: `s3://bucket/key` and `file:///path`.

Both are taken literally, as SageMaker and its SDK's local mode take them: a key keeps its
slashes, `?`, `#` and `%` as written (no percent-decoding, no normalisation), and so does a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class S3Location:
    """An object, or a prefix of keys (possibly empty), in a bucket."""

    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class FileLocation:
    """An absolute path on this machine."""

    path: Path

    def __str__(self) -> str:
        return f"file://{self.path}"


def parse_uri(uri: str) -> S3Location | FileLocation:
    """Split `s3://bucket[/key]` or `file://[localhost]/absolute/path`; raise ValueError otherwise."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in ("s3", "file"):
        raise ValueError(f"unsupported URI {uri!r}: expected s3://bucket/key or file:///absolute/path")
    host, slash, path = rest.partition("/")
    if scheme == "s3":
        if not host:
            raise ValueError(f"invalid S3 URI {uri!r}: the bucket name is empty")
        return S3Location(host, path)
    if host not in ("", "localhost") or not slash:
        raise ValueError(f"invalid file URI {uri!r}: expected file:///absolute/path (no host, no relative path)")
    return FileLocation(Path("/" + path))
