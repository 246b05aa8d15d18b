"""CloudTrail's operations over the audit trail: LookupEvents' pages and filters, trails, public keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.errors import AwsError
from modelbay.platform import open_platform
from modelbay.security.principal import Principal
from modelbay.services import cloudtrail
from modelbay.services.base import Context
from modelbay.store.metadata import SUCCESS, AuditEvent

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
REGION = "us-east-1"


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    platform = open_platform(Settings(data_dir=tmp_path))
    platform.objects.create_bucket("logs", REGION)
    yield Context(platform, "req", REGION, Principal("AKID", platform.settings.account_id))
    platform.metadata.close()


def _append(ctx: Context, count: int, region: str = REGION, **fields: Any) -> None:
    ctx.metadata.audit.append([AuditEvent(
        event_time=T0 + timedelta(minutes=i), request_id=f"{region}-{i}", principal="p", service="sagemaker",
        operation=fields.get("operation", "CreateModel"), outcome=SUCCESS, status_code=200, region=region,
        **{k: v for k, v in fields.items() if k != "operation"}) for i in range(count)])


def _code(call: Any, ctx: Context, params: dict[str, Any]) -> str:
    with pytest.raises(AwsError) as raised:
        call(ctx, params)
    return raised.value.code


def test_lookup_events_pages_latest_first_with_each_record(ctx: Context) -> None:
    _append(ctx, 5, username="alice", read_only=False, event_source="sagemaker.amazonaws.com")
    _append(ctx, 2, region="eu-west-1")
    first = cloudtrail.lookup_events(ctx, {"MaxResults": 3})
    assert [e["EventTime"] for e in first["Events"]] == [T0 + timedelta(minutes=m) for m in (4, 3, 2)]
    rest = cloudtrail.lookup_events(ctx, {"MaxResults": 3, "NextToken": first["NextToken"]})
    assert [json.loads(e["CloudTrailEvent"])["requestID"] for e in rest["Events"]] == ["us-east-1-1", "us-east-1-0"]
    assert "NextToken" not in rest
    event = rest["Events"][0]
    assert (event["EventName"], event["Username"], event["ReadOnly"], event["EventSource"]) == (
        "CreateModel", "alice", "false", "sagemaker.amazonaws.com")


def test_lookup_events_by_attribute_and_time_range_end_inclusive(ctx: Context) -> None:
    _append(ctx, 3)
    _append(ctx, 2, operation="DeleteModel")
    found = cloudtrail.lookup_events(ctx, {
        "LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "DeleteModel"}],
        "StartTime": T0 + timedelta(minutes=1), "EndTime": T0 + timedelta(minutes=1)})
    assert [e["EventTime"] for e in found["Events"]] == [T0 + timedelta(minutes=1)]


@pytest.mark.parametrize(("params", "code"), [
    ({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "a"},
                           {"AttributeKey": "Username", "AttributeValue": "b"}]}, "InvalidLookupAttributesException"),
    ({"StartTime": T0, "EndTime": T0 - timedelta(seconds=1)}, "InvalidTimeRangeException"),
    ({"MaxResults": 51}, "InvalidMaxResultsException"), ({"NextToken": "nonsense"}, "InvalidNextTokenException")])
def test_lookup_events_refuses_what_cloudtrail_refuses(ctx: Context, params: dict[str, Any], code: str) -> None:
    assert _code(cloudtrail.lookup_events, ctx, params) == code


def test_a_trails_life(ctx: Context) -> None:
    created = cloudtrail.create_trail(ctx, {"Name": "main", "S3BucketName": "logs", "EnableLogFileValidation": True})
    assert created["TrailARN"] == f"arn:aws:cloudtrail:{REGION}:{ctx.settings.account_id}:trail/main"
    assert created["LogFileValidationEnabled"] is True and created["IsMultiRegionTrail"] is False
    assert cloudtrail.get_trail_status(ctx, {"Name": "main"}) == {"IsLogging": False}
    _append(ctx, 2)
    cloudtrail.start_logging(ctx, {"Name": created["TrailARN"]})
    status = cloudtrail.get_trail_status(ctx, {"Name": "main"})
    assert status["IsLogging"] is True and "StartLoggingTime" in status
    assert ctx.metadata.audit.trails.get("main").delivered_sequence == 2  # type: ignore[union-attr]
    cloudtrail.update_trail(ctx, {"Name": "main", "S3KeyPrefix": "audit", "IsMultiRegionTrail": True})
    [described] = cloudtrail.describe_trails(ctx, {})["trailList"]
    assert (described["S3KeyPrefix"], described["IsMultiRegionTrail"], described["HomeRegion"]) == (
        "audit", True, REGION)
    cloudtrail.stop_logging(ctx, {"Name": "main"})
    assert cloudtrail.get_trail_status(ctx, {"Name": "main"})["IsLogging"] is False
    cloudtrail.delete_trail(ctx, {"Name": "main"})
    assert _code(cloudtrail.get_trail, ctx, {"Name": "main"}) == "TrailNotFoundException"


@pytest.mark.parametrize(("params", "code"), [
    ({"Name": "ok-name", "S3BucketName": "absent"}, "S3BucketDoesNotExistException"),
    ({"Name": "a..b", "S3BucketName": "logs"}, "InvalidTrailNameException"),
    ({"Name": "ok-name", "S3BucketName": "logs", "KmsKeyId": "k"}, "InvalidParameterException")])
def test_create_trail_refuses(ctx: Context, params: dict[str, Any], code: str) -> None:
    assert _code(cloudtrail.create_trail, ctx, params) == code


def test_a_trail_name_is_taken_once(ctx: Context) -> None:
    cloudtrail.create_trail(ctx, {"Name": "main", "S3BucketName": "logs"})
    assert _code(cloudtrail.create_trail, ctx, {"Name": "main", "S3BucketName": "logs"}) == \
        "TrailAlreadyExistsException"


def test_list_public_keys_gives_the_signing_key_made_once(ctx: Context) -> None:
    [key] = cloudtrail.list_public_keys(ctx, {})["PublicKeyList"]
    assert cloudtrail.list_public_keys(ctx, {})["PublicKeyList"] == [key]
    assert key["Value"].startswith(b"\x30") and len(key["Fingerprint"]) == 32  # DER: a SEQUENCE
