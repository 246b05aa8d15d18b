"""SIGKILL the server while an endpoint serves, start it again on the same data dir.

The model servers run in their own sessions, so they outlive the server; the restarted endpoint
controller finds them by their labels, checks their health and publishes them to the router
again, without restarting them: the endpoint answers as before, from the same processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import client
from tests.helpers import ServerProcess, wait_until
from tests.integration.test_endpoints import (
    IN_SERVICE,
    create_config,
    create_model,
    invoke,
    model_servers,
    tar_gz,
)

CONSTANT_MODEL = b"""
import os, joblib, numpy as np
from sklearn.dummy import DummyClassifier
model = DummyClassifier(strategy="constant", constant=7).fit(np.zeros((2, 2)), [7, 7])
joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""


def test_an_endpoint_serves_from_the_same_instances_after_the_server_is_killed(tmp_path: Path,
                                                                              unique: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(data)
    server.start()
    try:
        sagemaker, s3 = client(server.url, "sagemaker"), client(server.url, "s3")
        artifact = _constant_model(sagemaker, s3, unique)
        model = create_model(sagemaker, unique, artifact, TEST_TAG=unique)
        sagemaker.create_endpoint(EndpointName=unique, EndpointConfigName=create_config(
            sagemaker, unique, [("a", model, 2, 1.0)]))
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=unique, WaiterConfig=IN_SERVICE)
        before = sorted(model_servers(unique))
        assert len(before) == 2

        server.kill()
        server.start()
        runtime = client(server.url, "sagemaker-runtime")
        wait_until(lambda: _answers(runtime, unique), 60, "the endpoint to answer again")
        assert invoke(runtime, unique) == ("[7]", "a")
        assert sorted(model_servers(unique)) == before  # adopted, not restarted
        described = client(server.url, "sagemaker").describe_endpoint(EndpointName=unique)
        assert (described["EndpointStatus"], described["ProductionVariants"][0]["CurrentInstanceCount"]) == (
            "InService", 2)
        client(server.url, "sagemaker").delete_endpoint(EndpointName=unique)
        wait_until(lambda: not model_servers(unique), 60, "the model servers to stop")
    finally:
        server.stop()


def _constant_model(sagemaker: Any, s3: Any, bucket: str) -> str:
    """A model.tar.gz whose classifier always answers 7, made by a training job."""
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=tar_gz("train.py", CONSTANT_MODEL))
    sagemaker.create_training_job(
        TrainingJobName=bucket, RoleArn="arn:aws:iam::000000000000:role/R",
        AlgorithmSpecification={"TrainingImage": "modelbay/sklearn:1.2-1", "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"train.py"',
                         "sagemaker_submit_directory": f'"s3://{bucket}/code/sourcedir.tar.gz"'},
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=bucket, WaiterConfig=IN_SERVICE)
    job = sagemaker.describe_training_job(TrainingJobName=bucket)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    uri: str = job["ModelArtifacts"]["S3ModelArtifacts"]
    return uri


def _answers(runtime: Any, endpoint: str) -> bool:
    try:
        invoke(runtime, endpoint)
    except Exception:  # not found until the controller has published it again
        return False
    return True
