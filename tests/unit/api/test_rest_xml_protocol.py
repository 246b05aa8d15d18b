"""The S3 REST-XML codec in a tiny app: in-process through httpx, and served by uvicorn to the real
boto3 s3 client, over HTTP (checksums in headers) and HTTPS (aws-chunked with a trailing checksum,
what boto3 sends over TLS)."""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import fromstring

import httpx
import pytest
from botocore.exceptions import ClientError

from modelbay.api.rest_xml_protocol import RestXmlCodec
from modelbay.api.spellings import SPELLINGS
from modelbay.errors import aws_error
from tests.unit.api.codec_harness import REQUEST_ID, botocore_call, service_model
from tests.unit.api.rest_harness import Service, boto3_client, http_client, rest_app, self_signed_certificate, served

S3 = service_model("s3")
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MOMENT = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
DATA = bytes(range(256)) * 12289  # 3 MiB and a bit: several chunks of every kind
NoSuchKey = aws_error("NoSuchKey", 404)
NoSuchBucket = aws_error("NoSuchBucket", 404)
LISTING = {"Name": "bkt", "Prefix": "a/", "KeyCount": 1, "MaxKeys": 1000, "IsTruncated": False,
           "Contents": [{"Key": "a/ü b", "LastModified": MOMENT, "ETag": '"e"', "Size": 3, "StorageClass": "STANDARD"}],
           "CommonPrefixes": [{"Prefix": "a/d/"}]}


class Reader:
    """An object body as the store hands it out: read(n) and close(), recorded."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)
        self.sizes: list[int] = []
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        self.sizes.append(size)
        return self.data.read(size)

    def close(self) -> None:
        self.closed = True


def codec(**limits: int) -> RestXmlCodec:
    return RestXmlCodec(S3, SPELLINGS["s3"], virtual_hosts=["s3.example.test", "s3.localhost"], **limits)


def md5_of(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def crc32_of(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.fixture
def service() -> Service:
    return Service({"PutObject": {"ETag": '"etag"'}, "ListObjectsV2": LISTING, "CreateBucket": {"Location": "/bkt"},
                    "CopyObject": {"CopyObjectResult": {"ETag": '"c"', "LastModified": MOMENT}},
                    "GetBucketLocation": {"LocationConstraint": "eu-west-1"},
                    "HeadObject": {"ContentLength": 10, "ETag": '"h"', "LastModified": MOMENT},
                    "GetObject": NoSuchKey("The specified key does not exist.", Key="missing")})


@pytest.fixture
async def http(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(codec(max_body_bytes=1024, max_stream_bytes=len(DATA)), service) as client:
        yield client


# -- in-process ---------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_put_object_streams_its_body_to_the_service(http: httpx.AsyncClient, service: Service) -> None:
    response = await http.put("/bkt/dir/a%20b", content=DATA, headers={
        "Content-MD5": md5_of(DATA), "x-amz-checksum-crc32": crc32_of(DATA), "Content-Type": "text/plain",
        "x-amz-meta-Owner": "team-a"})
    assert response.status_code == 200, response.text
    assert (response.content, response.headers["etag"]) == (b"", '"etag"')
    assert response.headers["x-amz-request-id"] == REQUEST_ID and response.headers["x-amz-id-2"]
    params = service.calls[0].params
    assert {k: params[k] for k in ("Bucket", "Key", "ContentType", "Metadata", "ContentLength")} == {
        "Bucket": "bkt", "Key": "dir/a b", "ContentType": "text/plain", "Metadata": {"owner": "team-a"},
        "ContentLength": len(DATA)}
    assert service.bodies == [DATA]
    assert service.checksums == [{"ChecksumCRC32": crc32_of(DATA)}]


@pytest.mark.anyio
async def test_a_body_that_fails_its_digest(http: httpx.AsyncClient, service: Service) -> None:
    response = await http.put("/bkt/k", content=b"payload", headers={"Content-MD5": md5_of(b"other")})
    assert response.status_code == 400
    error = fromstring(response.content)
    assert (error.findtext("Code"), error.findtext("Message")) == (
        "BadDigest", "The Content-MD5 you specified did not match what we received.")


@pytest.mark.anyio
@pytest.mark.parametrize(("host", "path", "bucket", "key"), [
    ("bkt.localhost", "/k/x", "bkt", "k/x"),
    ("bkt.localhost:9000", "/k", "bkt", "k"),
    ("my.bucket.s3.example.test", "/k", "my.bucket", "k"),
    ("bkt.s3.localhost", "/k", "bkt", "k"),  # the longest host we serve wins
    ("127.0.0.1:9000", "/bkt/k", "bkt", "k"),  # an IP address: path-style
    ("[::1]:9000", "/bkt/k", "bkt", "k"),
    ("bkt.elsewhere.test", "/bkt/k", "bkt", "k"),  # not a host we answer for buckets
    ("localhost", "/bkt/k", "bkt", "k"),
])
async def test_virtual_hosted_and_path_style(http: httpx.AsyncClient, service: Service, host: str, path: str,
                                            bucket: str, key: str) -> None:
    response = await http.put(path, content=b"x", headers={"Host": host})
    assert response.status_code == 200
    assert (service.calls[0].params["Bucket"], service.calls[0].params["Key"]) == (bucket, key)


@pytest.mark.anyio
async def test_a_virtual_hosted_bucket_root_lists_it(http: httpx.AsyncClient, service: Service) -> None:
    response = await http.get("/", params={"list-type": "2", "prefix": "a/"}, headers={"Host": "bkt.localhost"})
    assert response.status_code == 200
    assert service.calls[0].operation.name == "ListObjectsV2"
    assert service.calls[0].params == {"Bucket": "bkt", "Prefix": "a/"}


@pytest.mark.anyio
async def test_get_object_streams_the_reader_and_closes_it() -> None:
    reader = Reader(DATA)
    output = {"Body": reader, "ContentLength": len(DATA), "ContentType": "text/plain", "LastModified": MOMENT,
              "ETag": '"e"', "Metadata": {"owner": "team-a"}, "AcceptRanges": "bytes"}
    async with http_client(codec(), Service({"GetObject": output})) as http:
        response = await http.get("/bkt/k")
    assert response.status_code == 200
    assert response.content == DATA
    assert {k: response.headers[k] for k in ("content-length", "content-type", "last-modified", "x-amz-meta-owner")} \
        == {"content-length": str(len(DATA)), "content-type": "text/plain",
            "last-modified": "Mon, 06 May 2024 07:08:09 GMT", "x-amz-meta-owner": "team-a"}
    assert reader.closed
    assert len(reader.sizes) > 3 and set(reader.sizes) == {1024 * 1024}


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path", "root"), [
    ("GET", "/bkt?list-type=2", "ListBucketResult"),
    ("GET", "/bkt", "ListBucketResult"),
    ("GET", "/", "ListAllMyBucketsResult"),
    ("POST", "/bkt/k?uploads", "InitiateMultipartUploadResult"),
    ("GET", "/bkt/k?uploadId=u", "ListPartsResult"),
    ("GET", "/bkt?uploads", "ListMultipartUploadsResult"),
    ("GET", "/bkt?tagging", "GetBucketTaggingResult"),  # the default rule
])
async def test_document_roots(method: str, path: str, root: str) -> None:
    async with http_client(codec(), Service()) as http:
        response = await http.request(method, path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml"
    assert fromstring(response.content).tag == NS + root


@pytest.mark.anyio
async def test_payload_and_member_roots(http: httpx.AsyncClient) -> None:
    copied = await http.put("/bkt/k", headers={"x-amz-copy-source": "src/k"})
    assert fromstring(copied.content).tag == NS + "CopyObjectResult"
    assert fromstring(copied.content).findtext(NS + "LastModified") == "2024-05-06T07:08:09.000Z"
    location = await http.get("/bkt?location")
    assert location.content.endswith(
        b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">eu-west-1</LocationConstraint>')


@pytest.mark.anyio
async def test_botocore_reads_the_documents(http: httpx.AsyncClient, service: Service) -> None:
    listed = await botocore_call(http, S3, "ListObjectsV2", {"Bucket": "bkt", "Prefix": "a/"})
    assert {k: listed[k] for k in LISTING} == LISTING
    copied = await botocore_call(http, S3, "CopyObject", {"Bucket": "b", "Key": "k", "CopySource": "src/k"})
    assert copied["CopyObjectResult"] == {"ETag": '"c"', "LastModified": MOMENT}
    assert service.calls[-1].params == {"Bucket": "b", "Key": "k", "CopySource": "src/k"}


@pytest.mark.anyio
async def test_xml_payloads_are_read(http: httpx.AsyncClient, service: Service) -> None:
    parts = {"Parts": [{"PartNumber": 1, "ETag": '"a"'}, {"PartNumber": 2, "ETag": '"b"'}]}
    await botocore_call(http, S3, "CompleteMultipartUpload",
                        {"Bucket": "b", "Key": "k", "UploadId": "u", "MultipartUpload": parts})
    assert service.calls[-1].params == {"Bucket": "b", "Key": "k", "UploadId": "u", "MultipartUpload": parts}
    await botocore_call(http, S3, "CreateBucket", {"Bucket": "b", "CreateBucketConfiguration": {
        "LocationConstraint": "eu-west-1"}})
    assert service.calls[-1].params["CreateBucketConfiguration"] == {"LocationConstraint": "eu-west-1"}
    await botocore_call(http, S3, "CreateBucket", {"Bucket": "c"})
    assert service.calls[-1].params == {"Bucket": "c"}  # an empty body holds no payload


@pytest.mark.anyio
async def test_an_xml_payload_is_checked_too(http: httpx.AsyncClient, service: Service) -> None:
    body = b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a</Key></Object></Delete>'
    ok = await http.post("/bkt?delete", content=body, headers={"Content-MD5": md5_of(body)})
    assert ok.status_code == 200, ok.text
    assert service.calls[-1].params["Delete"] == {"Objects": [{"Key": "a"}]}
    bad = await http.post("/bkt?delete", content=body, headers={"x-amz-checksum-crc32": crc32_of(b"x")})
    assert fromstring(bad.content).findtext("Code") == "BadDigest"


@pytest.mark.anyio
async def test_errors_are_s3s(http: httpx.AsyncClient) -> None:
    response = await http.get("/bkt/missing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/xml"
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    error = fromstring(response.content)
    assert [(child.tag, child.text) for child in error] == [
        ("Code", "NoSuchKey"), ("Message", "The specified key does not exist."), ("Key", "missing"),
        ("RequestId", REQUEST_ID), ("HostId", response.headers["x-amz-id-2"])]
    assert response.headers["x-amz-request-id"] == REQUEST_ID


@pytest.mark.anyio
async def test_head_answers_have_no_body(http: httpx.AsyncClient) -> None:
    found = await http.head("/bkt/k")
    assert (found.status_code, found.headers["content-length"], found.content) == (200, "10", b"")
    missing = await http.head("/")  # no HEAD operation there
    assert (missing.status_code, missing.content) == (405, b"")


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("PATCH", "/bkt/k", b"", 405, "MethodNotAllowed"),
    ("POST", "/bkt?delete", b"<Delete><Object>", 400, "MalformedXML"),
    ("POST", "/bkt?delete", b"", 400, "InvalidArgument"),  # Delete is required
    ("POST", "/bkt?delete", b"<Delete>" + b" " * 1024 + b"</Delete>", 400, "EntityTooLarge"),
    ("PUT", "/bkt/k", DATA + b"!", 400, "EntityTooLarge"),  # at once, from Content-Length
    ("GET", "/bkt?list-type=2&max-keys=ten", b"", 400, "InvalidArgument"),
])
async def test_bad_requests(http: httpx.AsyncClient, service: Service, method: str, path: str, body: bytes,
                            status: int, code: str) -> None:
    response = await http.request(method, path, content=body)
    assert response.status_code == status
    assert fromstring(response.content).findtext("Code") == code
    assert service.calls == []


@pytest.mark.anyio
async def test_statuses_and_empty_bodies(http: httpx.AsyncClient) -> None:
    deleted = await http.delete("/bkt/k")
    assert (deleted.status_code, deleted.content) == (204, b"")
    created = await http.put("/bkt")
    assert (created.status_code, created.headers["location"], created.content) == (200, "/bkt", b"")
    assert "content-type" not in created.headers


def test_matches_what_s3_serves() -> None:
    from starlette.requests import Request
    s3 = codec()

    def request(method: str, path: str) -> Request:
        return Request({"type": "http", "method": method, "path": path, "raw_path": path.encode(),
                        "query_string": b"", "headers": []})

    assert s3.matches(request("GET", "/bkt/k"))
    assert not s3.matches(request("PATCH", "/bkt/k"))


# -- the real boto3 client, through uvicorn -----------------------------------------------------

@pytest.fixture
def boto_service() -> Service:
    return Service({
        "PutObject": lambda params: {"ETag": '"etag"', **params["Body"].checksums},
        "GetObject": lambda params: {"Body": Reader(DATA), "ContentLength": len(DATA), "LastModified": MOMENT,
                                     "ETag": '"e"', "Metadata": {"owner": "team-a"}},
        "HeadObject": NoSuchKey("The specified key does not exist.", Key="missing"),
        "ListObjectsV2": LISTING,
        "DeleteObjects": {"Deleted": [{"Key": "a"}], "Errors": [{"Key": "b", "Code": "AccessDenied"}]},
        "CreateMultipartUpload": {"Bucket": "bkt", "Key": "k", "UploadId": "up-1"},
        "UploadPart": lambda params: {"ETag": '"p1"', **params["Body"].checksums},
        "CompleteMultipartUpload": {"Bucket": "bkt", "Key": "k", "ETag": '"m-1"', "Location": "/bkt/k"},
        "CreateBucket": NoSuchBucket("The specified bucket does not exist", BucketName="nope"),
    })


@pytest.fixture
def s3_http(boto_service: Service) -> Iterator[Any]:
    with served(rest_app(codec(), boto_service)) as url, closing(boto3_client("s3", url)) as client:
        yield client


@pytest.fixture
def s3_https(boto_service: Service, tmp_path: Path) -> Iterator[Any]:
    certificate = self_signed_certificate(tmp_path)
    with served(rest_app(codec(), boto_service), certificate) as url, \
            closing(boto3_client("s3", url, verify=certificate[0])) as client:
        yield client


def test_boto3_over_http(s3_http: Any, boto_service: Service) -> None:
    put = s3_http.put_object(Bucket="bkt", Key="dir/ü b+c", Body=DATA, Metadata={"Owner": "team-a"})
    assert (put["ETag"], put["ChecksumCRC32"]) == ('"etag"', crc32_of(DATA))
    params = boto_service.calls[-1].params
    assert (params["Key"], params["Metadata"], params["ChecksumCRC32"]) == ("dir/ü b+c", {"owner": "team-a"},
                                                                           crc32_of(DATA))
    assert "ContentEncoding" not in params  # over HTTP boto3 sends the checksum as a header, unframed
    assert boto_service.bodies == [DATA]
    got = s3_http.get_object(Bucket="bkt", Key="k")
    assert (got["Body"].read(), got["Metadata"], got["LastModified"]) == (DATA, {"owner": "team-a"}, MOMENT)
    listed = s3_http.list_objects_v2(Bucket="bkt", Prefix="a/")
    assert [o["Key"] for o in listed["Contents"]] == ["a/ü b"]  # botocore decodes its EncodingType=url itself
    assert listed["CommonPrefixes"] == [{"Prefix": "a/d/"}]


def test_boto3_reads_errors_and_goes_on_after_one_before_the_body(s3_http: Any, boto_service: Service) -> None:
    with pytest.raises(ClientError) as caught:
        s3_http.create_bucket(Bucket="nope")
    assert caught.value.response["Error"] == {"Code": "NoSuchBucket", "Message": "The specified bucket does not exist",
                                              "BucketName": "nope"}
    assert caught.value.response["ResponseMetadata"]["RequestId"] == REQUEST_ID
    boto_service.answers["PutObject"] = NoSuchBucket("The specified bucket does not exist", BucketName="nope")
    with pytest.raises(ClientError) as caught:  # boto3 holds the body back until told to send it (Expect)
        s3_http.put_object(Bucket="nope", Key="k", Body=b"held back")
    assert caught.value.response["Error"]["Code"] == "NoSuchBucket"
    listed = s3_http.list_objects_v2(Bucket="bkt")  # on the same connection, had it been kept
    assert listed["Name"] == "bkt"
    with pytest.raises(ClientError) as caught:
        s3_http.head_object(Bucket="bkt", Key="missing")
    assert caught.value.response["Error"]["Code"] == "404"


def test_boto3_multipart_and_batch_delete(s3_http: Any, boto_service: Service) -> None:
    upload = s3_http.create_multipart_upload(Bucket="bkt", Key="k")
    part = s3_http.upload_part(Bucket="bkt", Key="k", UploadId=upload["UploadId"], PartNumber=1, Body=DATA)
    assert (upload["UploadId"], part["ETag"]) == ("up-1", '"p1"')
    assert boto_service.calls[-1].params["PartNumber"] == 1
    done = s3_http.complete_multipart_upload(Bucket="bkt", Key="k", UploadId="up-1",
                                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"p1"'}]})
    assert (done["ETag"], done["Location"]) == ('"m-1"', "/bkt/k")
    assert boto_service.calls[-1].params["MultipartUpload"] == {"Parts": [{"PartNumber": 1, "ETag": '"p1"'}]}
    deleted = s3_http.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})
    assert (deleted["Deleted"], deleted["Errors"]) == ([{"Key": "a"}], [{"Key": "b", "Code": "AccessDenied"}])
    assert boto_service.calls[-1].params["Delete"] == {"Objects": [{"Key": "a"}, {"Key": "b"}]}


def test_boto3_over_https_sends_aws_chunked_with_a_trailer(s3_https: Any, boto_service: Service) -> None:
    put = s3_https.put_object(Bucket="bkt", Key="k", Body=DATA, ContentEncoding="gzip")
    params = boto_service.calls[-1].params
    assert params["ContentEncoding"] == "gzip,aws-chunked"  # what boto3 sent; the service drops aws-chunked
    assert params["ChecksumAlgorithm"] == "CRC32" and "ChecksumCRC32" not in params  # it came as a trailer
    assert boto_service.bodies == [DATA]
    assert put["ChecksumCRC32"] == crc32_of(DATA)
    part = s3_https.upload_part(Bucket="bkt", Key="k", UploadId="up-1", PartNumber=2, Body=b"part two")
    assert part["ChecksumCRC32"] == crc32_of(b"part two")
    assert boto_service.bodies[-1] == b"part two"
