"""Stop the server while an endpoint serves, start it again; delete the data dir of running instances.

SIGKILL: the model servers run in their own sessions, so they outlive the server; the restarted
endpoint controller finds them by their labels, checks their health and publishes them to the
router again, without restarting them: the endpoint answers as before, from the same processes.
Ctrl-C: the server stops its model servers before it exits, unless told to keep them; started
again, it replaces them. Instances whose data directory is gone are stopped by the next server.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tests.conftest import client
from tests.helpers import ServerProcess, is_running, serve_image, serve_program, wait_until
from tests.integration.models import ROLE, create_model, trained_artifact
from tests.integration.test_endpoints import IN_SERVICE, create_config, invoke, model_servers

# A classifier that always answers 7.
CONSTANT_MODEL = b"""
import os, joblib, numpy as np
from sklearn.dummy import DummyClassifier
model = DummyClassifier(strategy="constant", constant=7).fit(np.zeros((2, 2)), [7, 7])
joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""
# A bring-your-own model server that says it has an invocation, then takes its time to answer it.
SLOW = serve_program(preamble="import pathlib, time", on_post="""
    pathlib.Path(os.environ["PID_FILE"]).write_text(str(os.getpid()))
    time.sleep(2)
    self.answer(b"done")
""")


def serving(server: ServerProcess, name: str, count: int) -> list[int]:
    """Deploy endpoint `name` of `count` instances, each answering 7, on `server`; return its model servers' pids."""
    sagemaker, s3 = client(server.url, "sagemaker"), client(server.url, "s3")
    artifact = trained_artifact(sagemaker, s3, name, CONSTANT_MODEL, image="modelbay/sklearn:1.2-1")
    model = create_model(sagemaker, name, artifact, TEST_TAG=name)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=create_config(
        sagemaker, name, [("a", model, count, 1.0)]))
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=IN_SERVICE)
    pids = sorted(model_servers(name))
    assert len(pids) == count
    return pids


def test_an_endpoint_serves_from_the_same_instances_after_the_server_is_killed(tmp_path: Path,
                                                                              unique: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(data)
    server.start()
    try:
        before = serving(server, unique, 2)
        server.kill()
        server.start()
        runtime = client(server.url, "sagemaker-runtime")
        _invoke_at_once(runtime, unique)
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


def test_ctrl_c_stops_the_model_servers_and_the_restarted_server_replaces_them(tmp_path: Path, unique: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(data)
    server.start()
    try:
        before = serving(server, unique, 1)
        server.interrupt()  # SIGINT, as Ctrl-C sends
        assert model_servers(unique) == []  # gone by the time the server has exited

        server.start()
        runtime = client(server.url, "sagemaker-runtime")
        _invoke_at_once(runtime, unique)
        wait_until(lambda: _answers(runtime, unique), 60, "the endpoint to answer again")
        assert invoke(runtime, unique) == ("[7]", "a")
        after = model_servers(unique)
        assert len(after) == 1 and after != before
    finally:
        server.stop()


def test_ctrl_c_lets_an_invocation_in_flight_finish_before_it_stops_the_model_server(tmp_path: Path,
                                                                                     unique: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    # the model server writes its pid into its instance directory, the one host directory an instance writes to
    pid_files = lambda: list(data.glob("endpoints/*/*/*/opt_ml/pid"))  # noqa: E731
    server = ServerProcess(data)
    server.start()
    try:
        sagemaker = client(server.url, "sagemaker")
        sagemaker.create_model(ModelName=unique, ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": serve_image(tmp_path / "slow", SLOW), "Environment": {"PID_FILE": "/opt/ml/pid"}})
        sagemaker.create_endpoint(EndpointName=unique, EndpointConfigName=create_config(
            sagemaker, unique, [("a", unique, 1, 1.0)]))
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=unique, WaiterConfig=IN_SERVICE)
        answers: list[str] = []
        runtime = client(server.url, "sagemaker-runtime")
        call = threading.Thread(target=lambda: answers.append(invoke(runtime, unique)[0]))
        call.start()
        wait_until(pid_files, 30, "the model server to have the invocation")
        server.interrupt()
        call.join()
        assert answers == ["done"]
        assert not is_running(int(pid_files()[0].read_text()))
    finally:
        server.stop()


def test_kept_instances_outlive_a_graceful_stop_and_the_next_server_stops_them_once_their_data_is_deleted(
        tmp_path: Path, unique: str) -> None:
    data, other = tmp_path / "data", tmp_path / "other"
    data.mkdir()
    other.mkdir()
    server, next_server = ServerProcess(data, env={"MODELBAY_KEEP_INSTANCES": "1"}), ServerProcess(other)
    server.start()
    try:
        before = serving(server, unique, 1)
        server.interrupt()
        assert model_servers(unique) == before

        shutil.rmtree(data)  # no server can adopt them now
        next_server.start()  # on another data directory: it stops them before it listens
        assert model_servers(unique) == []
    finally:
        next_server.stop()
        server.stop()


def _answers(runtime: Any, endpoint: str) -> bool:
    try:
        invoke(runtime, endpoint)
    except Exception:  # unavailable until the controller has published it again
        return False
    return True


def _invoke_at_once(runtime: Any, endpoint: str) -> None:
    """Invoke right after a restart: held until the routes are restored, or told to retry; never "not found"."""
    try:
        invoke(runtime, endpoint)
    except ClientError as error:
        assert (error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]) == (
            "ServiceUnavailable", 503)
