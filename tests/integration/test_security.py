"""Security as an AWS account has it, through boto3 and the AWS CLI with real keys (the server runs in `iam` mode):
refused signatures answered with AWS's errors and audited, IAM policies (managed, explicit Deny, conditions on
instance types and tags, iam:PassRole), AssumeRole with a trust policy, and an MFA-protected action."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import httpx
import pyotp
import pytest
from botocore.auth import BaseSigner, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from modelbay.security.sigv4 import signing_key
from tests.conftest import CREDENTIALS, client
from tests.helpers import ServerProcess, audit_events, error_response, user_shell
from tests.integration.test_aws_cli import aws

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecutionRole"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MODEL = f"security-{uuid.uuid4().hex[:8]}"
ROOT = Credentials(CREDENTIALS["aws_access_key_id"], CREDENTIALS["aws_secret_access_key"])


@pytest.fixture(scope="module")
def iam(server: ServerProcess) -> Any:
    return client(server.url, "iam")


def keyed(url: str, service: str, key: dict[str, str]) -> Any:
    """A client signing with `key` (an AccessKey of CreateAccessKey, or STS's Credentials)."""
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", config=Config(retries={"max_attempts": 1}),
                        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                        aws_session_token=key.get("SessionToken"))


def user_with(iam: Any, name: str, *managed: str, **inline: dict[str, Any]) -> dict[str, str]:
    """A new user with these managed policies and inline policies; its access key."""
    iam.create_user(UserName=name)
    for arn in managed:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    for policy, document in inline.items():
        iam.put_user_policy(UserName=name, PolicyName=policy, PolicyDocument=json.dumps(document))
    key: dict[str, str] = iam.create_access_key(UserName=name)["AccessKey"]
    return key


def allow(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def code_of(call: Any, **params: Any) -> tuple[str, int]:
    answer = error_response(call, **params)
    return answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"]


def endpoint_config(name: str, instance_type: str) -> dict[str, Any]:
    return {"EndpointConfigName": name, "ProductionVariants": [
        {"VariantName": "v", "ModelName": MODEL, "InstanceType": instance_type, "InitialInstanceCount": 1}]}


@pytest.fixture(scope="module", autouse=True)
def model(sagemaker: Any) -> None:
    """The model the tests' endpoint configs name (made by the root)."""
    sagemaker.create_model(ModelName=MODEL, ExecutionRoleArn=ROLE,
                           PrimaryContainer={"Image": "modelbay/sklearn:1.2-1"})


def signed_at(moment: datetime, signer: BaseSigner, request: AWSRequest) -> AWSRequest:
    """`request` signed by botocore's `signer` as if the clock said `moment` (boto3's clients may sign with awscrt,
    whose clock is its own: the test signs with botocore's Python signers)."""
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment.replace(tzinfo=None)):
        signer.add_auth(request)
    return request


# -- signatures ----------------------------------------------------------------------------------------------------

def test_a_wrong_secret_a_tampered_body_and_a_skewed_clock_are_refused_and_audited(server: ServerProcess) -> None:
    wrong = boto3.client("sagemaker", endpoint_url=server.url, region_name="us-east-1",
                         aws_access_key_id=CREDENTIALS["aws_access_key_id"], aws_secret_access_key="not-the-secret",
                         config=Config(retries={"max_attempts": 1}))
    assert code_of(wrong.list_models) == ("InvalidSignatureException", 403)

    tampered = client(server.url, "sagemaker")

    def change_body(request: Any, **_: Any) -> None:  # after signing: the body says another name
        request.body = request.body.replace(b"tamper-me", b"tamper-it")

    tampered.meta.events.register_last("before-send.sagemaker.DescribeModel", change_body)
    assert code_of(tampered.describe_model, ModelName="tamper-me") == ("InvalidSignatureException", 403)

    request = AWSRequest("POST", server.url + "/", data=b"{}", headers={
        "X-Amz-Target": "SageMaker.ListEndpoints", "Content-Type": "application/x-amz-json-1.1"})
    twenty_minutes_ago = datetime.now(UTC) - timedelta(minutes=20)
    signed_at(twenty_minutes_ago, SigV4Auth(ROOT, "sagemaker", "us-east-1"), request)
    skewed = httpx.post(request.url, content=request.body, headers=dict(request.headers.items()))
    assert (skewed.status_code, skewed.json()["__type"]) == (403, "InvalidSignatureException")
    assert skewed.json()["message"].startswith("Signature expired:") and "15 min." in skewed.json()["message"]

    refused = [event for event in audit_events(server.url, failed="true") if event["Operation"] in
               ("ListModels", "DescribeModel", "ListEndpoints") and event["Outcome"] == "InvalidSignatureException"]
    assert {event["Operation"] for event in refused} >= {"ListModels", "DescribeModel", "ListEndpoints"}


def test_an_expired_presigned_url_and_a_replayed_chunk_signature_are_refused(
        server: ServerProcess, s3: Any, unique: str) -> None:
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="k", Body=b"hello")
    presign = S3SigV4QueryAuth(ROOT, "s3", "us-east-1", expires=60)
    expired = signed_at(datetime.now(UTC) - timedelta(hours=2), presign, AWSRequest("GET", f"{server.url}/{unique}/k"))
    answer = httpx.get(expired.url)
    assert answer.status_code == 403 and b"<Code>AccessDenied</Code>" in answer.content
    assert b"Request has expired" in answer.content
    current = signed_at(datetime.now(UTC), presign, AWSRequest("GET", f"{server.url}/{unique}/k"))
    assert httpx.get(current.url).content == b"hello"

    chunks = [b"a" * 8192, b"b" * 1024]
    assert chunked_put(server.url, unique, "whole", chunks).status_code == 200
    assert s3.get_object(Bucket=unique, Key="whole")["Body"].read() == b"".join(chunks)
    replayed = chunked_put(server.url, unique, "replayed", chunks, replay=True)
    assert replayed.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in replayed.content
    assert error_response(s3.head_object, Bucket=unique, Key="replayed")["Error"]["Code"] == "404"  # nothing kept
    audited = audit_events(server.url, operation="PutObject", failed="true")
    assert any(event["Outcome"] == "SignatureDoesNotMatch" for event in audited)


def chunked_put(url: str, bucket: str, key: str, chunks: list[bytes], replay: bool = False) -> httpx.Response:
    """PutObject with an aws-chunked body whose chunks are signed as the SDKs sign them (each signature chains the one
    before); `replay`: the second chunk carries the first one's signature, as a replayed chunk would."""
    body_length = sum(len(chunk) for chunk in chunks)
    request = AWSRequest("PUT", f"{url}/{bucket}/{key}", headers={
        "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(body_length),
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"})
    SigV4Auth(ROOT, "s3", "us-east-1").add_auth(request)
    seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    amz_date = request.headers["X-Amz-Date"]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key_bytes = signing_key(CREDENTIALS["aws_secret_access_key"], amz_date[:8], "us-east-1", "s3")
    body, previous, signatures = b"", seed, []
    for data in [*chunks, b""]:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_SHA256,
                             hashlib.sha256(data).hexdigest()])
        previous = hmac.new(key_bytes, to_sign.encode(), hashlib.sha256).hexdigest()
        signatures.append(previous)
    if replay:
        signatures[1] = signatures[0]
    for data, signature in zip([*chunks, b""], signatures, strict=True):
        body += f"{len(data):x};chunk-signature={signature}\r\n".encode() + data + b"\r\n"
    headers = {name: value for name, value in request.headers.items()}
    return httpx.put(f"{url}/{bucket}/{key}", content=body, headers=headers)


def test_the_aws_cli_with_a_wrong_secret_is_refused(server: ServerProcess, tmp_path: Path) -> None:
    env = user_shell(server.url, tmp_path) | {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    done = aws(env, "sagemaker", "list-training-jobs")
    assert done.returncode != 0 and "InvalidSignatureException" in done.stderr


# -- policies ------------------------------------------------------------------------------------------------------

def test_a_read_only_user_lists_but_cannot_create_and_an_explicit_deny_wins(
        server: ServerProcess, iam: Any, unique: str) -> None:
    reader = keyed(server.url, "sagemaker", user_with(iam, unique, "arn:aws:iam::aws:policy/AmazonSageMakerReadOnly"))
    assert isinstance(reader.list_models()["Models"], list)
    denied = error_response(reader.create_endpoint_config, **endpoint_config(unique, "ml.m5.large"))["Error"]
    assert denied["Code"] == "AccessDeniedException" and "sagemaker:CreateEndpointConfig" in denied["Message"]

    full = keyed(server.url, "sagemaker", user_with(
        iam, f"{unique}f", "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess",
        no_listing=allow({"Effect": "Deny", "Action": "sagemaker:ListModels", "Resource": "*"})))
    assert isinstance(full.list_endpoints()["Endpoints"], list)
    refused = error_response(full.list_models)["Error"]
    assert refused["Code"] == "AccessDeniedException" and "explicit deny" in refused["Message"]


def test_conditions_on_instance_types_and_tags(server: ServerProcess, iam: Any, unique: str) -> None:
    key = user_with(iam, unique, scoped=allow(
        {"Effect": "Allow", "Action": "sagemaker:CreateEndpointConfig", "Resource": "*",
         "Condition": {"ForAllValues:StringLike": {"sagemaker:InstanceTypes": "ml.m5.*"}}},
        {"Effect": "Allow", "Action": ["sagemaker:CreateModel", "sagemaker:AddTags"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/team": "ml"}}},
        {"Effect": "Allow", "Action": "sagemaker:DeleteModel", "Resource": "*",
         "Condition": {"StringEquals": {"sagemaker:ResourceTag/team": "ml"}}},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE}))
    user = keyed(server.url, "sagemaker", key)
    assert code_of(user.create_endpoint_config, **endpoint_config(f"{unique}-gpu", "ml.p3.2xlarge"))[0] == \
        "AccessDeniedException"
    user.create_endpoint_config(**endpoint_config(f"{unique}-cpu", "ml.m5.large"))

    model = {"ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": "modelbay/sklearn:1.2-1"}}
    assert code_of(user.create_model, ModelName=f"{unique}-x", **model, Tags=[{"Key": "team", "Value": "web"}])[0] == \
        "AccessDeniedException"
    user.create_model(ModelName=f"{unique}-ml", **model, Tags=[{"Key": "team", "Value": "ml"}])
    client(server.url, "sagemaker").create_model(ModelName=f"{unique}-web", **model,
                                                 Tags=[{"Key": "team", "Value": "web"}])
    assert code_of(user.delete_model, ModelName=f"{unique}-web")[0] == "AccessDeniedException"  # another team's
    user.delete_model(ModelName=f"{unique}-ml")


def test_pass_role_is_needed_to_hand_a_role_to_sagemaker(server: ServerProcess, iam: Any, unique: str) -> None:
    key = user_with(iam, unique, models=allow({"Effect": "Allow", "Action": "sagemaker:CreateModel", "Resource": "*"}))
    user = keyed(server.url, "sagemaker", key)
    model = {"ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": "modelbay/sklearn:1.2-1"}}
    refused = error_response(user.create_model, ModelName=unique, **model)["Error"]
    assert refused["Code"] == "AccessDeniedException" and f"iam:PassRole on resource: {ROLE}" in refused["Message"]
    iam.put_user_policy(UserName=unique, PolicyName="pass", PolicyDocument=json.dumps(allow(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE,
         "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}})))
    user.create_model(ModelName=unique, **model)


def test_assume_role_follows_the_roles_trust_policy(server: ServerProcess, iam: Any, unique: str) -> None:
    key = user_with(iam, unique, assume=allow({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{unique}"
    trusted = iam.create_role(RoleName=f"{unique}-reader", AssumeRolePolicyDocument=json.dumps(allow(
        {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"})))["Role"]["Arn"]
    iam.attach_role_policy(RoleName=f"{unique}-reader", PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerReadOnly")
    other = iam.create_role(RoleName=f"{unique}-other", AssumeRolePolicyDocument=json.dumps(allow(
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"})))
    sts = keyed(server.url, "sts", key)
    session = sts.assume_role(RoleArn=trusted, RoleSessionName="review", DurationSeconds=900)
    assert session["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{unique}-reader/review"
    credentials = session["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert keyed(server.url, "sts", credentials).get_caller_identity()["Arn"] == session["AssumedRoleUser"]["Arn"]
    as_role = keyed(server.url, "sagemaker", credentials)
    assert isinstance(as_role.list_models()["Models"], list)
    assert code_of(as_role.create_endpoint_config, **endpoint_config(unique, "ml.m5.large"))[0] == \
        "AccessDeniedException"
    assert code_of(sts.assume_role, RoleArn=other["Role"]["Arn"], RoleSessionName="xy") == ("AccessDenied", 403)
    without_token = dict(credentials, SessionToken=None)
    assert code_of(keyed(server.url, "sagemaker", without_token).list_models)[0] == "UnrecognizedClientException"


# -- MFA -----------------------------------------------------------------------------------------------------------

def test_an_mfa_protected_action_with_the_aws_cli(server: ServerProcess, iam: Any, unique: str,
                                                 tmp_path: Path) -> None:
    key = user_with(iam, unique, mfa=allow(
        {"Effect": "Allow", "Action": ["sagemaker:*", "sts:GetSessionToken"], "Resource": "*"},
        {"Effect": "Deny", "Action": "sagemaker:*", "Resource": "*",
         "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}))
    seed_file = tmp_path / "seed"
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=unique)["VirtualMFADevice"]
    seed_file.write_bytes(device["Base32StringSeed"])
    totp, now = pyotp.TOTP(seed_file.read_text()), time.time()
    iam.enable_mfa_device(UserName=unique, SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=totp.at(now - 30), AuthenticationCode2=totp.at(now))
    env = user_shell(server.url, tmp_path) | {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                                              "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    refused = aws(env, "sagemaker", "list-training-jobs")
    assert refused.returncode != 0 and "explicit deny" in refused.stderr

    wrong = aws(env, "sts", "get-session-token", "--serial-number", device["SerialNumber"], "--token-code", "000000")
    assert wrong.returncode != 0 and "AccessDenied" in wrong.stderr
    code = totp.at(now + 30)  # the next step's code: never used before, and no wait for it
    got = aws(env, "sts", "get-session-token", "--serial-number", device["SerialNumber"], "--token-code", code)
    assert got.returncode == 0, got.stderr
    credentials = json.loads(got.stdout)["Credentials"]
    session = env | {"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                     "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                     "AWS_SESSION_TOKEN": credentials["SessionToken"]}
    listed = aws(session, "sagemaker", "list-training-jobs")
    assert listed.returncode == 0, listed.stderr
    reused = aws(env, "sts", "get-session-token", "--serial-number", device["SerialNumber"], "--token-code", code)
    assert reused.returncode != 0 and "invalid MFA one time pass code" in reused.stderr
