"""A call as CloudTrail records it: its fields, its caller's identity, and its secrets redacted."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from modelbay.api.audit_records import HIDDEN, audit_event
from modelbay.security.principal import ANONYMOUS, ASSUMED_ROLE, IAM_USER, Principal
from modelbay.store.metadata.audit import cloudtrail_record

T0 = datetime(2026, 12, 6, 10, 0, 0, 250000, tzinfo=UTC)
ACCOUNT = "123456789012"
ALICE = Principal("AKIAALICE", ACCOUNT, kind=IAM_USER, name="alice", unique_id="AIDAALICE")


def _record(service: str, operation: str, params: dict[str, Any] | None, output: dict[str, Any] | None = None,
            principal: Principal = ALICE, error_code: str | None = None, **fields: Any) -> dict[str, Any]:
    event = audit_event(event_time=T0, request_id="req-1", principal=principal, service=service, operation=operation,
                        params=params, output=output, error_code=error_code,
                        error_message=None if error_code is None else "refused", status=200 if error_code is None
                        else 400, source_ip="192.0.2.7", user_agent="aws-cli/2.9", region="eu-west-1",
                        access_key_id=principal.access_key_id, **fields)
    return cloudtrail_record(event)


def test_a_write_records_cloudtrails_fields_and_its_response() -> None:
    record = _record("sagemaker", "CreateModel", {"ModelName": "m", "ExecutionRoleArn": "arn:aws:iam::1:role/r"},
                     {"ModelArn": "arn:aws:sagemaker:eu-west-1:123456789012:model/m"})
    assert record | {"eventID": "-"} == {
        "eventVersion": "1.09", "eventTime": "2026-12-06T10:00:00Z", "eventSource": "sagemaker.amazonaws.com",
        "eventName": "CreateModel", "awsRegion": "eu-west-1", "sourceIPAddress": "192.0.2.7",
        "userAgent": "aws-cli/2.9", "requestID": "req-1", "eventID": "-", "readOnly": False,
        "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAALICE", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
                         "accountId": ACCOUNT, "accessKeyId": "AKIAALICE", "userName": "alice"},
        "requestParameters": {"ModelName": "m", "ExecutionRoleArn": "arn:aws:iam::1:role/r"},
        "responseElements": {"ModelArn": "arn:aws:sagemaker:eu-west-1:123456789012:model/m"},
        "resources": [{"ARN": "arn:aws:iam::1:role/r", "accountId": ACCOUNT, "type": "AWS::SageMaker::ExecutionRole"}],
    }


def test_a_read_or_a_failure_has_no_response_elements_and_a_failure_its_error() -> None:
    read = _record("sagemaker", "DescribeModel", {"ModelName": "m"}, {"ModelName": "m"})
    assert read["readOnly"] is True and read["responseElements"] is None
    failed = _record("sagemaker", "CreateModel", {"ModelName": "m"}, None, error_code="ValidationException")
    assert (failed["errorCode"], failed["errorMessage"], failed["responseElements"]) == (
        "ValidationException", "refused", None)


def test_sensitive_members_are_hidden_in_requests_and_responses_wherever_they_are() -> None:
    created = _record("iam", "CreateAccessKey", {"UserName": "alice"},
                      {"AccessKey": {"AccessKeyId": "AKIANEW", "SecretAccessKey": "s3cr3t", "Status": "Active"}})
    assert created["responseElements"]["AccessKey"] == {"AccessKeyId": "AKIANEW", "SecretAccessKey": HIDDEN,
                                                        "Status": "Active"}
    encrypted = _record("kms", "Encrypt", {"KeyId": "k", "Plaintext": b"secret"})  # by the model's trait
    assert encrypted["requestParameters"] == {"KeyId": "k", "Plaintext": HIDDEN}
    mfa = _record("sts", "GetSessionToken", {"SerialNumber": "arn:mfa", "TokenCode": "123456"})  # by name
    assert mfa["requestParameters"]["TokenCode"] == HIDDEN
    enabled = _record("iam", "EnableMFADevice", {"UserName": "a", "SerialNumber": "s", "AuthenticationCode1": "1",
                                                 "AuthenticationCode2": "2"})
    assert enabled["requestParameters"]["AuthenticationCode1"] == enabled["requestParameters"][
        "AuthenticationCode2"] == HIDDEN


def test_bodies_are_left_out_and_times_written_as_text() -> None:
    put = _record("s3", "PutObject", {"Bucket": "b", "Key": "k", "Body": io.BytesIO(b"data"), "Expires": T0})
    assert put["requestParameters"] == {"Bucket": "b", "Key": "k", "Expires": "2026-12-06T10:00:00.250000+00:00"}
    assert put["eventSource"] == "s3.amazonaws.com"


def test_an_assumed_roles_session_and_an_anonymous_caller() -> None:
    session = Principal("ASIAROLE", ACCOUNT, kind=ASSUMED_ROLE, name="deployer", unique_id="AROADEPLOYER",
                        session_name="ci", mfa_authenticated_at=T0)
    identity = _record("sagemaker", "ListModels", {}, principal=session)["userIdentity"]
    assert identity == {
        "type": "AssumedRole", "principalId": "AROADEPLOYER:ci",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci", "accountId": ACCOUNT, "accessKeyId": "ASIAROLE",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROADEPLOYER",
                                             "arn": f"arn:aws:iam::{ACCOUNT}:role/deployer", "accountId": ACCOUNT,
                                             "userName": "deployer"},
                           "attributes": {"mfaAuthenticated": "true", "creationDate": "2026-12-06T10:00:00Z"}}}
    anonymous = _record("s3", "GetObject", {"Bucket": "b", "Key": "k"}, principal=Principal(None, ACCOUNT))
    assert anonymous["userIdentity"] == {"type": "AWSAccount", "principalId": "", "accountId": "anonymous"}
    assert Principal(None, ACCOUNT).kind == ANONYMOUS


def test_lookup_fields_username_resources_and_event_source_of_a_runtime_call() -> None:
    event = audit_event(event_time=T0, request_id="r", principal=ALICE, service="sagemaker-runtime",
                        operation="InvokeEndpointAsync", params={"EndpointName": "e", "InputLocation": "s3://b/k"},
                        output=None, error_code=None, error_message=None, status=202, source_ip=None, user_agent=None,
                        region="eu-west-1", access_key_id="AKIAALICE")
    assert (event.username, event.event_source, event.read_only) == ("alice", "sagemaker.amazonaws.com", False)
    assert list(zip(event.resources, event.resource_types, strict=True)) == [("e", "AWS::SageMaker::Endpoint")]


def test_a_call_of_no_known_service_or_operation_is_still_recorded() -> None:
    record = _record("", "", {"Password": "p", "Other": 1})
    assert record["requestParameters"] == {"Password": HIDDEN, "Other": 1}
    assert record["eventSource"] is None
