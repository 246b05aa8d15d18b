"""The S3 REST API through boto3's s3 client, exactly as users call it."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.helpers import signed_headers


@pytest.fixture
def bucket(s3: Any, unique: str) -> str:
    s3.create_bucket(Bucket=unique)
    return unique


def error_code(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


def write_random(path: Path, size: int) -> str:
    """Write `size` random bytes in 1 MiB pieces; return their MD5."""
    digest = hashlib.md5()
    with path.open("wb") as out:
        for start in range(0, size, 1 << 20):
            piece = os.urandom(min(1 << 20, size - start))
            digest.update(piece)
            out.write(piece)
    return digest.hexdigest()


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as data:
        while piece := data.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def test_upload_and_download_50_mb_in_parts(s3: Any, bucket: str, tmp_path: Path) -> None:
    source, target = tmp_path / "big.bin", tmp_path / "back.bin"
    checksum = write_random(source, 50 * 1024 * 1024)
    config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20)
    s3.upload_file(str(source), bucket, "data/big.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="data/big.bin")
    assert head["ContentLength"] == 50 * 1024 * 1024
    assert head["ETag"].strip('"').endswith("-7")  # 6 parts of 8 MiB and one of 2 MiB
    s3.download_file(bucket, "data/big.bin", str(target), Config=config)
    assert md5_of(target) == checksum


def test_multipart_etag_follows_s3s_rule(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 * 1024 * 1024), b"tail"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/plain")
    etags = [s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=n + 1,
                            Body=part)["ETag"] for n, part in enumerate(parts)]
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload["UploadId"])["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2]
    assert [p["Size"] for p in listed] == [len(p) for p in parts]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]})
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-2"
    assert done["ETag"].strip('"') == expected
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["ContentType"] == "text/plain"
    assert got["Body"].read() == b"".join(parts)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_abort_and_list_uploads(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="aborted")
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == ["aborted"]
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload["UploadId"])
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as caught:
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId=upload["UploadId"], PartNumber=1, Body=b"x")
    assert error_code(caught) == "NoSuchUpload"


def test_put_get_with_metadata_and_content_md5(s3: Any, bucket: str) -> None:
    body = b"hello, modelbay"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    put = s3.put_object(Bucket=bucket, Key="a/b c/ü.txt", Body=body, ContentType="text/plain", ContentMD5=md5,
                        Metadata={"Owner": "team-a"}, CacheControl="max-age=60")
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="a/b c/ü.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"owner": "team-a"}
    assert got["CacheControl"] == "max-age=60"
    assert got["ETag"] == put["ETag"]


def test_ranged_get(s3: Any, bucket: str) -> None:
    body = bytes(range(256)) * 4
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    part = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["ContentRange"] == "bytes 10-19/1024"
    assert part["Body"].read() == body[10:20]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-")["Body"].read() == body[1000:]
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=5000-5001")
    assert error_code(caught) == "InvalidRange"


def test_listing_with_delimiter_across_pages(s3: Any, bucket: str) -> None:
    keys = [f"top{i:02d}.txt" for i in range(7)] + [f"dir{i}/x" for i in range(5)] + ["dir0/y", "dir1/z/w"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"k")
    pages = list(s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 3}))
    assert len(pages) == 4
    found = [o["Key"] for p in pages for o in p.get("Contents", [])]
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert found == sorted(k for k in keys if "/" not in k)
    assert prefixes == [f"dir{i}/" for i in range(5)]
    nested = s3.list_objects_v2(Bucket=bucket, Prefix="dir1/", Delimiter="/")
    assert [o["Key"] for o in nested["Contents"]] == ["dir1/x"]
    assert [c["Prefix"] for c in nested["CommonPrefixes"]] == ["dir1/z/"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="top04.txt")
    assert [o["Key"] for o in after["Contents"]] == ["top05.txt", "top06.txt"]
    v1 = list(s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 4}))
    assert [o["Key"] for p in v1 for o in p["Contents"]] == sorted(keys)


def test_copy_and_batch_delete(s3: Any, bucket: str, unique: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"original", Metadata={"a": "1"})
    other = unique + "-other"
    s3.create_bucket(Bucket=other)
    s3.copy_object(Bucket=other, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    copied = s3.get_object(Bucket=other, Key="dst")
    assert copied["Body"].read() == b"original"
    assert copied["Metadata"] == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   Metadata={"b": "2"})
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"b": "2"}
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"del/{i}", Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"del/{i}"} for i in range(5)]})
    assert sorted(d["Key"] for d in result["Deleted"]) == [f"del/{i}" for i in range(5)]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="del/")


def test_s3_errors(s3: Any, bucket: str) -> None:
    checks = [
        (lambda: s3.get_object(Bucket=bucket, Key="missing"), "NoSuchKey"),
        (lambda: s3.get_object(Bucket=bucket + "-missing", Key="k"), "NoSuchBucket"),
        (lambda: s3.list_objects_v2(Bucket=bucket + "-missing"), "NoSuchBucket"),
        (lambda: s3.create_bucket(Bucket=bucket), "BucketAlreadyOwnedByYou"),
        (lambda: s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/missing"), "NoSuchKey"),
        (lambda: s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId="nope",
                                              MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}),
         "NoSuchUpload"),
    ]
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    checks.append((lambda: s3.delete_bucket(Bucket=bucket), "BucketNotEmpty"))
    for call, code in checks:
        with pytest.raises(ClientError) as caught:
            call()
        assert error_code(caught) == code
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="missing")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_bad_digest_and_invalid_part(s3: Any, bucket: str) -> None:
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="bd", Body=b"payload", ContentMD5=wrong_md5)
    assert error_code(caught) == "BadDigest"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="ip")
    s3.upload_part(Bucket=bucket, Key="ip", UploadId=upload["UploadId"], PartNumber=1, Body=b"x")
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(Bucket=bucket, Key="ip", UploadId=upload["UploadId"],
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0000"'}]})
    assert error_code(caught) == "InvalidPart"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bd")


def aws_chunked(body: bytes, crc32: bytes) -> bytes:
    """Frame a body as aws-chunked with a trailing x-amz-checksum-crc32, as current boto3 does."""
    trailer = b"x-amz-checksum-crc32:" + base64.b64encode(crc32)
    return b"%x\r\n%s\r\n0\r\n%s\r\n\r\n" % (len(body), body, trailer)


@pytest.mark.parametrize("correct", [True, False])
def test_aws_chunked_trailing_checksum(server: Any, s3: Any, bucket: str, correct: bool) -> None:
    body = b"streamed with a trailer" * 100
    crc = zlib.crc32(body if correct else body + b"!").to_bytes(4, "big")
    url = f"{server.url}/{bucket}/chunked"
    headers = {"Content-Encoding": "aws-chunked", "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
               "x-amz-trailer": "x-amz-checksum-crc32", "x-amz-decoded-content-length": str(len(body))}
    response = httpx.put(url, content=aws_chunked(body, crc), headers=signed_headers("PUT", url, "s3", headers))
    if correct:
        assert response.status_code == 200, response.text
        assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == body
    else:
        assert response.status_code == 400
        assert "<Code>BadDigest</Code>" in response.text
        with pytest.raises(ClientError):
            s3.head_object(Bucket=bucket, Key="chunked")


def test_bucket_location_and_listing(s3: Any, unique: str) -> None:
    s3.create_bucket(Bucket=unique, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3.get_bucket_location(Bucket=unique)["LocationConstraint"] == "eu-west-1"
    assert unique in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=unique)
    s3.delete_bucket(Bucket=unique)
    with pytest.raises(ClientError) as caught:
        s3.head_bucket(Bucket=unique)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_keys_of_any_segment_length_and_character(s3: Any, bucket: str) -> None:
    keys = ["line\nbreak", "é" * 100, "deep/" + "é" * 300 + "/x", "\U0001f600" * 256, "tab\tand\rreturn"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in keys:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=str.encode)
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="é" * 513, Body=b"")
    assert error_code(caught) == "KeyTooLongError"


def test_s3s_own_limits(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=-1)
    assert caught.value.response["Error"] == {
        "Code": "InvalidArgument", "Message": "Argument maxKeys must be an integer between 0 and 2147483647",
        "ArgumentName": "maxKeys", "ArgumentValue": "-1"}
    s3.put_object(Bucket=bucket, Key="kept", Body=b"")
    with pytest.raises(ClientError) as caught:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1000)]
                                                  + [{"Key": "kept"}]})
    assert (error_code(caught), caught.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("MalformedXML", 400)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1  # nothing was deleted
