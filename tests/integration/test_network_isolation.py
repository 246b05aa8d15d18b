"""EnableNetworkIsolation as SageMaker has it: the job's program reaches nothing, while modelbay, outside its sandbox,
still gives it its input channel and uploads its model.

Two training jobs run the same program, which tries to connect to a socket the test listens on (on every address of
the host: its loopback, its other addresses, the instance bridge's gateway) and to the API at its link-local address,
and writes what each attempt gave into /opt/ml/model. The isolated job must reach none of them; the control job,
without isolation, reaches the host's own addresses and the API, so the checks could fail. Where the machine cannot
give instances networks of their own, the isolated job fails and says why rather than run on the host's network.
"""

from __future__ import annotations

import io
import ipaddress
import json
import socket
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Any

from modelbay.runtime.network import API_ADDRESS, DEFAULT_SUBNET, networks_available
from tests.helpers import ServerProcess
from tests.integration.test_training_jobs import WAITER, program

PROBE = """
import errno, ipaddress, json, socket, sys
port, (api, api_port), host_addresses = int(sys.argv[1]), sys.argv[2].split(":"), sys.argv[3:]

def connect(address, to):
    with socket.socket() as probe:
        probe.settimeout(5)
        try:
            code = probe.connect_ex((address, to))
        except TimeoutError:
            return "timed out"
    return errno.errorcode.get(code, "connected") if code else "connected"

gateway = str(ipaddress.ip_address(socket.gethostbyname("algo-1")) - 1)  # algo-<k> is the gateway's address + k
report = {"loopback": connect("127.0.0.1", port), "gateway": connect(gateway, port),
          "host": {address: connect(address, port) for address in host_addresses},
          "api": connect(api, int(api_port)),
          "input": open("/opt/ml/input/data/train/rows.csv").read()}
with open("/opt/ml/model/report.json", "w") as file:
    json.dump(report, file)
"""


def host_addresses() -> list[str]:
    """The host's IPv4 addresses but its loopback's and the instance bridges' (its own network's, say eth0's)."""
    interfaces = json.loads(subprocess.run(["ip", "-4", "-j", "address"], capture_output=True, text=True,
                                           check=True).stdout)
    return [found["local"] for interface in interfaces if interface["ifname"] != "lo"
            for found in interface["addr_info"] if ipaddress.ip_address(found["local"]) not in DEFAULT_SUBNET]


def train(sagemaker: Any, name: str, image: str, bucket: str, isolated: bool) -> None:
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::000000000000:role/SageMakerRole", EnableNetworkIsolation=isolated,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 300})


def report_of(sagemaker: Any, s3: Any, bucket: str, name: str) -> dict[str, Any]:
    """The job's report, from the model artifact modelbay uploaded; the job must have completed."""
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=name, WaiterConfig=WAITER)
    job = sagemaker.describe_training_job(TrainingJobName=name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    body = s3.get_object(Bucket=bucket, Key=f"out/{name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        report = archive.extractfile("report.json")
        assert report is not None
        return dict(json.load(report))


def test_a_network_isolated_job_reaches_nothing_yet_gets_its_input_and_its_model_uploaded(
        sagemaker: Any, s3: Any, server: ServerProcess, bucket: str, unique: str, scratch: Path) -> None:
    addresses = host_addresses() if networks_available() else []
    (scratch / "probe.py").write_text(textwrap.dedent(PROBE))
    with socket.create_server(("0.0.0.0", 0), backlog=16) as listener:
        port, api = listener.getsockname()[1], f"{API_ADDRESS}:{server.url.rsplit(':', 1)[1]}"
        image = program(scratch / "image", f"exec {sys.executable} {scratch / 'probe.py'} {port} {api} "
                                           f"{' '.join(addresses)}\n")
        train(sagemaker, f"{unique}-isolated", image, bucket, isolated=True)
        train(sagemaker, f"{unique}-open", image, bucket, isolated=False)
        if not networks_available():
            sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=f"{unique}-isolated",
                                                                          WaiterConfig=WAITER)
            job = sagemaker.describe_training_job(TrainingJobName=f"{unique}-isolated")
            assert job["TrainingJobStatus"] == "Failed"
            assert "EnableNetworkIsolation needs a network namespace" in job["FailureReason"]
            return
        isolated = report_of(sagemaker, s3, bucket, f"{unique}-isolated")
        control = report_of(sagemaker, s3, bucket, f"{unique}-open")

    assert addresses, "the host has an address besides its loopback"
    assert isolated["input"] == control["input"] == "1,2\n"
    assert isolated["loopback"] == control["loopback"] == "ECONNREFUSED"  # each instance's loopback is its own
    assert isolated["gateway"] == "ECONNREFUSED"  # refused by the host (table modelbay's input chain)
    assert set(isolated["host"].values()) == {"ENETUNREACH"} and isolated["api"] == "ENETUNREACH"  # no route out
    assert control["gateway"] == "connected" and set(control["host"].values()) == {"connected"}
    assert control["api"] == "connected"
