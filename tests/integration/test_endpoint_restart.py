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
from tests.integration.models import create_model, trained_artifact
from tests.integration.test_endpoints import IN_SERVICE, create_config, invoke, model_servers

# A classifier that always answers 7.
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
        artifact = trained_artifact(sagemaker, s3, unique, CONSTANT_MODEL, image="modelbay/sklearn:1.2-1")
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


def _answers(runtime: Any, endpoint: str) -> bool:
    try:
        invoke(runtime, endpoint)
    except Exception:  # not found until the controller has published it again
        return False
    return True
