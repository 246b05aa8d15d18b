"""s3:// and file:// URIs, taken literally as SageMaker takes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelbay.store.objects import FileLocation, S3Location, parse_uri


@pytest.mark.parametrize(("uri", "bucket", "key"), [
    ("s3://bucket/key", "bucket", "key"),
    ("s3://bucket/prefix/", "bucket", "prefix/"),
    ("s3://bucket/", "bucket", ""),
    ("s3://bucket", "bucket", ""),
    ("s3://my.bucket/a//b/../c", "my.bucket", "a//b/../c"),
    ("s3://bucket/a b/100%25/q?x=1#frag", "bucket", "a b/100%25/q?x=1#frag"),
    ("s3://bucket/données/é", "bucket", "données/é"),
])
def test_s3_uris(uri: str, bucket: str, key: str) -> None:
    location = parse_uri(uri)
    assert location == S3Location(bucket, key)
    assert str(location) == f"s3://{bucket}/{key}"


@pytest.mark.parametrize(("uri", "path"), [
    ("file:///opt/ml/model", "/opt/ml/model"),
    ("file:///tmp/data/", "/tmp/data"),
    ("file://localhost/tmp/x", "/tmp/x"),
    ("file:///tmp/a b/100%25", "/tmp/a b/100%25"),
    ("file:///", "/"),
])
def test_file_uris(uri: str, path: str) -> None:
    location = parse_uri(uri)
    assert location == FileLocation(Path(path))
    assert parse_uri(str(location)) == location


@pytest.mark.parametrize(("uri", "message"), [
    ("s3:///key", "bucket name is empty"),
    ("s3://", "bucket name is empty"),
    ("https://bucket.s3.amazonaws.com/key", "unsupported URI"),
    ("S3://bucket/key", "unsupported URI"),
    ("bucket/key", "unsupported URI"),
    ("s3:/bucket/key", "unsupported URI"),
    ("", "unsupported URI"),
    ("file://relative/path", "no host, no relative path"),
    ("file://", "no host, no relative path"),
    ("file:relative", "unsupported URI"),
    ("/abs/path", "unsupported URI"),
])
def test_other_uris_are_refused(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_uri(uri)
