"""Regions kept apart (issue 13, part 5): a resource lives in the region of the credential scope that made it.

Each region is a deployment of its own (metadata, logs, controllers), as in AWS; S3's bucket names
are global, each bucket with its region.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import CREDENTIALS, client
from tests.helpers import ServerProcess, audit_events, modelbay_server
from tests.integration.test_training_jobs import WAITER, create, program

PARIS = "eu-west-3"


def in_region(url: str, service: str, region: str) -> Any:
    return boto3.client(service, endpoint_url=url, config=Config(retries={"max_attempts": 1}),
                        **(CREDENTIALS | {"region_name": region}))


def _create_model(sagemaker: Any, name: str, image: str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1") -> str:
    return str(sagemaker.create_model(ModelName=name, ExecutionRoleArn="arn:aws:iam::000000000000:role/R",
                                      PrimaryContainer={"Image": image})["ModelArn"])


def test_a_resource_is_listed_and_found_in_its_region_only(server: ServerProcess, unique: str) -> None:
    virginia, paris = client(server.url, "sagemaker"), in_region(server.url, "sagemaker", PARIS)
    arn = _create_model(paris, unique)

    assert arn == f"arn:aws:sagemaker:{PARIS}:000000000000:model/{unique}"
    assert paris.describe_model(ModelName=unique)["ModelArn"] == arn
    assert unique in [m["ModelName"] for m in paris.list_models(NameContains=unique)["Models"]]
    assert virginia.list_models(NameContains=unique)["Models"] == []
    with pytest.raises(ClientError) as caught:
        virginia.describe_model(ModelName=unique)
    assert caught.value.response["Error"]["Message"].startswith("Could not find model")
    # the same name is free in another region
    assert _create_model(virginia, unique).startswith("arn:aws:sagemaker:us-east-1:")
    # the audit trail says where each call was made
    paris_calls = audit_events(server.url, operation="CreateModel", region=PARIS)
    assert unique in [resource for event in paris_calls for resource in event["Resources"]]
    assert {event["Region"] for event in paris_calls} == {PARIS}


def test_a_training_job_runs_in_a_second_region_with_its_logs_there(server: ServerProcess, s3: Any, bucket: str,
                                                                    unique: str, scratch: Path) -> None:
    s3.put_object(Bucket=bucket, Key="data/rows.csv", Body=b"1,2\n")
    paris = in_region(server.url, "sagemaker", PARIS)
    create(paris, unique, program(scratch / "image", "echo trained in paris\n"), bucket)
    paris.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=unique, WaiterConfig=WAITER)

    job = paris.describe_training_job(TrainingJobName=unique)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TrainingJobArn"].startswith(f"arn:aws:sagemaker:{PARIS}:")
    streams = {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamNamePrefix": unique}
    paris_streams = _stream_names(in_region(server.url, "logs", PARIS), streams)
    assert paris_streams and all(name.startswith(f"{unique}/algo-1") for name in paris_streams)
    assert _stream_names(client(server.url, "logs"), streams) == []
    with pytest.raises(ClientError) as caught:
        client(server.url, "sagemaker").describe_training_job(TrainingJobName=unique)
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def _stream_names(logs: Any, params: dict[str, str]) -> list[str]:
    try:
        return [stream["logStreamName"] for stream in logs.describe_log_streams(**params)["logStreams"]]
    except logs.exceptions.ResourceNotFoundException:
        return []


def test_buckets_are_global_and_each_has_its_region(server: ServerProcess, unique: str) -> None:
    paris_s3 = in_region(server.url, "s3", PARIS)
    paris_s3.create_bucket(Bucket=unique, CreateBucketConfiguration={"LocationConstraint": PARIS})
    paris_s3.put_object(Bucket=unique, Key="k", Body=b"v")

    virginia_s3 = client(server.url, "s3")
    assert virginia_s3.get_bucket_location(Bucket=unique)["LocationConstraint"] == PARIS
    assert virginia_s3.get_object(Bucket=unique, Key="k")["Body"].read() == b"v"
    assert paris_s3.head_bucket(Bucket=unique)["BucketRegion"] == PARIS


def test_a_region_aws_does_not_have_is_refused_as_aws_refuses_its_credential_scope(server: ServerProcess) -> None:
    with pytest.raises(ClientError) as caught:
        in_region(server.url, "sagemaker", "xx-nowhere-1").list_models()
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Code"] == "InvalidSignatureException"
    assert "xx-nowhere-1" in error["Error"]["Message"]
    assert not (server.data_dir / "regions" / "xx-nowhere-1").exists()


def test_a_second_regions_resources_outlive_a_restart(tmp_path: Path, unique: str) -> None:
    with modelbay_server(tmp_path) as server:
        arn = _create_model(in_region(server.url, "sagemaker", PARIS), unique)
    with modelbay_server(tmp_path) as server:
        assert in_region(server.url, "sagemaker", PARIS).describe_model(ModelName=unique)["ModelArn"] == arn
        assert client(server.url, "sagemaker").list_models(NameContains=unique)["Models"] == []
    assert CREDENTIALS["region_name"] == "us-east-1"  # the home region, whose data is at the data directory's top
    assert (tmp_path / "regions" / PARIS / "metadata.db").exists()
