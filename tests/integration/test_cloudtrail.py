"""The audit trail as CloudTrail: LookupEvents through boto3 and the AWS CLI, a trail delivering log files to a
bucket, and `modelbay audit verify` finding an audit row edited in the database and a delivered log file removed.

A server of the module's own: the tests change its database and bucket behind its back. Delivery is the delivery
controller's pass, run here over the server's data directory (as a second server on the same data would), so that
a test need not wait for its interval.
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from modelbay.config import Settings
from modelbay.controllers.trail_delivery import TrailDelivery
from modelbay.platform import open_platform
from tests.conftest import client
from tests.helpers import ServerProcess, modelbay_server, user_shell, wait_until
from tests.integration.test_aws_cli import aws
from tests.integration.test_cli import modelbay

# a log file's key: its folder's day, and the time of the pass that delivered it in its name
LOG_FILE_KEY = re.compile(r"AWSLogs/000000000000/CloudTrail/us-east-1/(\d{4}/\d\d/\d\d)/"
                          r"000000000000_CloudTrail_us-east-1_(\d{8}T\d{4}Z)_[0-9a-f]{16}\.json\.gz")


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with modelbay_server(tmp_path_factory.mktemp("cloudtrail")) as server:
        yield server


def _failed_describe(server: ServerProcess, name: str) -> str:
    """Ask for a model that is not there; the failed call's request id."""
    with pytest.raises(ClientError) as raised:
        client(server.url, "sagemaker").describe_model(ModelName=name)
    request_id: str = raised.value.response["ResponseMetadata"]["RequestId"]
    return request_id


def _looked_up(cloudtrail: Any, name: str) -> list[dict[str, Any]]:
    attribute = {"AttributeKey": "ResourceName", "AttributeValue": name}
    events: list[dict[str, Any]] = cloudtrail.lookup_events(LookupAttributes=[attribute])["Events"]
    return events


def test_lookup_events_through_boto3_and_the_aws_cli(own: ServerProcess, unique: str, tmp_path: Path) -> None:
    request_id = _failed_describe(own, unique)
    cloudtrail = client(own.url, "cloudtrail")
    wait_until(lambda: _looked_up(cloudtrail, unique), timeout_s=10, what="the call to be audited")
    [event] = _looked_up(cloudtrail, unique)
    record = json.loads(event["CloudTrailEvent"])
    assert (event["EventName"], record["requestID"], record["eventSource"], record["errorCode"]) == (
        "DescribeModel", request_id, "sagemaker.amazonaws.com", "ValidationException")
    done = aws(user_shell(own.url, tmp_path), "cloudtrail", "lookup-events", "--lookup-attributes",
               f"AttributeKey=ResourceName,AttributeValue={unique}", "--endpoint-url", own.url)
    assert done.returncode == 0, done.stderr
    [listed] = json.loads(done.stdout)["Events"]
    assert listed["EventId"] == event["EventId"]


def test_a_trail_delivers_log_files_and_verify_finds_an_edited_row_and_a_removed_file(own: ServerProcess,
                                                                                      unique: str,
                                                                                      tmp_path: Path) -> None:
    s3, cloudtrail = client(own.url, "s3"), client(own.url, "cloudtrail")
    s3.create_bucket(Bucket=unique)
    cloudtrail.create_trail(Name=unique, S3BucketName=unique, EnableLogFileValidation=True)
    cloudtrail.start_logging(Name=unique)
    edited = _failed_describe(own, f"{unique}-edited")
    wait_until(lambda: _looked_up(cloudtrail, f"{unique}-edited"), timeout_s=10, what="the call to be audited")
    _deliver(own.data_dir, datetime.now(UTC) + timedelta(hours=1))  # a log file, and the hour's digest
    assert cloudtrail.get_trail_status(Name=unique)["LatestDigestDeliveryTime"]
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=unique)["Contents"]]
    # the server's own pass (every 5 minutes) may have delivered the edited call before this one did
    [log_key] = [key for key in keys if "/CloudTrail/" in key and edited in _request_ids(s3, unique, key)]
    named = LOG_FILE_KEY.fullmatch(log_key)
    assert named, log_key
    day, delivered_at = named.groups()
    assert day == f"{datetime.strptime(delivered_at, '%Y%m%dT%H%MZ'):%Y/%m/%d}"  # the day of the pass that wrote it
    assert any("/CloudTrail-Digest/" in key for key in keys)
    shell = user_shell(own.url, tmp_path)
    assert modelbay("audit", "verify", env=shell).returncode == 0

    with sqlite3.connect(own.data_dir / "metadata.db") as database:
        database.execute("UPDATE audit_events SET error_message = 'nothing to see' WHERE request_id = ?", (edited,))
    s3.delete_object(Bucket=unique, Key=log_key)
    done = modelbay("audit", "verify", env=shell)
    assert done.returncode == 1
    assert f"request {edited}" in done.stdout and "changed" in done.stdout
    assert f"Log file\ts3://{unique}/{log_key}\tINVALID: not found" in done.stdout


def _request_ids(s3: Any, bucket: str, key: str) -> list[str]:
    records = json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))["Records"]
    return [record["requestID"] for record in records]


def _deliver(data_dir: Path, now: datetime) -> None:
    """The delivery controller's pass over the server's data directory."""
    platform = open_platform(Settings(data_dir=data_dir))
    try:
        TrailDelivery(platform).deliver(now)
    finally:
        platform.metadata.close()
