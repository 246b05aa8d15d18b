"""The SageMaker Python SDK's KMS paths, unchanged: an Estimator with output_kms_key and volume_kms_key trains on an
encrypted scratch volume and writes its model SSE-KMS; where the server cannot encrypt volumes, it is refused."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import boto3
import pytest
import sagemaker as sagemaker_sdk
from botocore.exceptions import ClientError
from sagemaker.estimator import Estimator

from modelbay.runtime.process import can_encrypt_volumes
from modelbay.services.sagemaker.kms_key_ids import VOLUME_ENCRYPTION_UNAVAILABLE
from tests.conftest import CREDENTIALS, client
from tests.helpers import ServerProcess
from tests.integration.test_s3_encryption import stored
from tests.integration.test_training_jobs import program

# The program's /run is a directory of its scratch volume: the root it is mounted from says which one.
TRAIN = """
echo trained > /opt/ml/model/model.txt
echo secret > /tmp/scratch.txt
awk '$5 == "/run" { print "volume root: " $4 }' /proc/self/mountinfo
"""


@pytest.fixture
def sdk_session(server: ServerProcess, unique: str) -> sagemaker_sdk.Session:
    """The SageMaker SDK's session with the server (its S3 calls included), polling a job every half second."""
    boto_session = boto3.Session(**CREDENTIALS)
    made = sagemaker_sdk.Session(boto_session=boto_session, sagemaker_client=client(server.url, "sagemaker"),
                                 default_bucket=unique)
    made.s3_client = client(server.url, "s3")
    made.s3_resource = boto_session.resource("s3", endpoint_url=server.url)
    wait_for_job = made.wait_for_job
    made.wait_for_job = lambda job, poll=0.5: wait_for_job(job, poll)  # type: ignore[method-assign]
    return made


@pytest.mark.filterwarnings("ignore:Estimator is part of the SageMaker Python SDK v2")
def test_an_estimators_output_and_volume_keys_are_honoured(server: ServerProcess, sdk_session: sagemaker_sdk.Session,
                                                           sagemaker: Any, s3: Any, bucket: str, unique: str,
                                                           scratch: Path) -> None:
    key = client(server.url, "kms").create_key(Description="an estimator's keys")["KeyMetadata"]["Arn"]
    estimator = Estimator(image_uri=program(scratch / "image", TRAIN), role="arn:aws:iam::000000000000:role/Role",
                          instance_count=1, instance_type="ml.m5.large", volume_size=1, base_job_name=unique,
                          output_path=f"s3://{bucket}/out", output_kms_key=key, volume_kms_key=key,
                          sagemaker_session=sdk_session)
    if not can_encrypt_volumes():  # this machine cannot: the job is refused when it is made, saying why
        with pytest.raises(ClientError) as refused:
            estimator.fit({"train": f"s3://{bucket}/data/"}, logs="None")
        assert refused.value.response["Error"]["Message"] == VOLUME_ENCRYPTION_UNAVAILABLE.format(
            member="ResourceConfig.VolumeKmsKeyId")
        return
    estimator.fit({"train": f"s3://{bucket}/data/"}, logs="None")
    job = sagemaker.describe_training_job(TrainingJobName=estimator.latest_training_job.name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert (job["OutputDataConfig"]["KmsKeyId"], job["ResourceConfig"]["VolumeKmsKeyId"]) == (key, key)
    model_key = estimator.model_data.removeprefix(f"s3://{bucket}/")
    head = s3.head_object(Bucket=bucket, Key=model_key)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key)
    assert not stored(server, bucket, model_key).startswith(b"\x1f\x8b")  # ciphertext on disk, no gzip stream
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=model_key)["Body"].read())) as archive:
        model = archive.extractfile("model.txt")
        assert model is not None and model.read() == b"trained\n"
    events = client(server.url, "logs").filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                                           logStreamNamePrefix=job["TrainingJobName"])["events"]
    assert "volume root: /encrypted/run" in [event["message"] for event in events]
