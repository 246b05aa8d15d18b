"""One port, several APIs: told apart by the SigV4 credential scope, then target header or path."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.helpers import signed_headers


def test_a_bucket_named_endpoints_is_still_a_bucket(s3: Any) -> None:
    """An S3-scoped PUT to /endpoints/x/invocations stores an object; it is not an inference call."""
    try:
        s3.create_bucket(Bucket="endpoints")
    except ClientError as error:
        assert error.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket="endpoints", Key="my-endpoint/invocations", Body=b"not an inference")
    got = s3.get_object(Bucket="endpoints", Key="my-endpoint/invocations")
    assert got["Body"].read() == b"not an inference"
    listed = s3.list_objects_v2(Bucket="endpoints", Prefix="my-endpoint/")
    assert [o["Key"] for o in listed["Contents"]] == ["my-endpoint/invocations"]


def test_runtime_scope_reaches_sagemaker_runtime(server: Any) -> None:
    runtime = client(server.url, "sagemaker-runtime")
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName="my-endpoint", Body=b"1,2,3", ContentType="text/csv")
    assert caught.value.response["Error"] == {"Code": "ValidationError",
                                              "Message": "Endpoint my-endpoint of account 000000000000 not found."}


def test_sts_answers_the_configured_account(server: Any) -> None:
    identity = client(server.url, "sts").get_caller_identity()
    assert identity["Account"] == "000000000000"
    assert identity["UserId"] == "000000000000"  # the account root's, as AWS answers it
    assert identity["Arn"].startswith("arn:aws:iam::000000000000:")


@pytest.mark.parametrize(("signature", "marker"), [("s3v4", "X-Amz-Credential"), ("s3", "AWSAccessKeyId")])
def test_presigned_urls_are_routed_by_their_query(server: Any, unique: str, signature: str, marker: str) -> None:
    s3 = client(server.url, "s3", signature_version=signature)
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="sagemaker/x", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": unique, "Key": "sagemaker/x"})
    assert marker in url
    assert httpx.get(url).content == b"presigned"


def test_unsigned_requests_fall_back_to_target_and_path(server: Any, open_server: Any, unique: str) -> None:
    """An `open` server answers unsigned requests (told apart by target and path); an `iam` one refuses them, in the
    API's own shape."""
    arn = f"arn:aws:sagemaker:us-east-1:000000000000:model/{unique}"
    list_tags = {"X-Amz-Target": "SageMaker.ListTags", "Content-Type": "application/x-amz-json-1.1"}
    tagged = httpx.post(open_server.url + "/", json={"ResourceArn": arn}, headers=list_tags)
    assert tagged.status_code == 200
    assert tagged.json() == {"Tags": []}
    refused = httpx.post(server.url + "/", json={"ResourceArn": arn}, headers=list_tags)
    assert (refused.status_code, refused.json()["__type"]) == (403, "AccessDeniedException")
    client(open_server.url, "s3").create_bucket(Bucket=unique)
    listed = httpx.get(f"{open_server.url}/{unique}?list-type=2")
    assert listed.status_code == 200
    assert "<ListBucketResult" in listed.text
    assert listed.headers["x-amz-request-id"]
    refused = httpx.get(f"{server.url}/{unique}?list-type=2")
    assert refused.status_code == 403 and "<Code>AccessDenied</Code>" in refused.text


def test_unknown_s3_route_is_an_s3_error_not_a_404_page(server: Any) -> None:
    url = f"{server.url}/some-bucket/key"
    response = httpx.request("PATCH", url, headers=signed_headers("PATCH", url, "s3"))
    assert response.status_code == 405
    assert "<Code>MethodNotAllowed</Code>" in response.text


def test_virtual_host_style_addressing(server: Any, s3: Any, unique: str) -> None:
    """`<bucket>.localhost` names the bucket in the Host header, as virtual-host-style clients send it."""
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="dir/file.txt", Body=b"virtual")
    port = server.url.rsplit(":", 1)[1]
    signed = signed_headers("GET", f"http://{unique}.localhost:{port}/dir/file.txt", "s3")
    got = httpx.get(f"{server.url}/dir/file.txt", headers={**signed, "Host": f"{unique}.localhost:{port}"})
    assert got.status_code == 200
    assert got.content == b"virtual"
