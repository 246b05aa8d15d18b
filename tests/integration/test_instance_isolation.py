"""One training job checks from inside what its instance sees of the machine, and the test what it leaves behind.

The job (a bring-your-own program, ml.m5.large, VolumeSizeInGB 1) writes a report into /opt/ml/model:
its hostname and /etc/hosts, its CPUs, files written to /tmp, /var/log, /var/lib and HOME (which the host must not
see), what filling more than its volume gives, how far a fork bomb gets, its address, port 8080 and whether
it reaches the server on the host's loopback, and the pid of a daemon it leaves running. The test reads the
report from the model artifact, then checks that the daemon is gone and that no cgroup, loop device or volume
of the instance remains.
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Any

from modelbay.instance_types import instance_type
from modelbay.runtime.cgroups import CGROUP_MOUNT, CONTROLLERS
from modelbay.runtime.machine import machine_cpus, pids_limit
from modelbay.runtime.network import DEFAULT_SUBNET, networks_available
from tests.helpers import ServerProcess, wait_until
from tests.integration.test_training_jobs import WAITER, program

CHECKS = """
import errno, json, os, signal, socket, subprocess, sys, time
marker, server_port = sys.argv[1], int(sys.argv[2])
report = {"hostname": socket.gethostname(), "hosts": open("/etc/hosts").read().split("\\n"),
          "cgroups": open("/proc/self/cgroup").read().split(), "address": socket.gethostbyname("algo-1"),
          "cpu_count": os.cpu_count(),
          "nproc": int(subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout)}
for directory in ("/tmp", "/var/tmp", "/var/log", "/var/lib", os.environ["HOME"]):
    with open(os.path.join(directory, marker), "w") as file:
        file.write("the instance's")
try:
    with open("/tmp/filler", "wb") as file:
        os.posix_fallocate(file.fileno(), 0, 2 * 1024**3)
    report["filled"] = "no error"
except OSError as err:
    report["filled"] = errno.errorcode[err.errno]
os.remove("/tmp/filler")
children = []
try:
    for _ in range(2000):
        child = os.fork()
        if child == 0:
            signal.pause()
            os._exit(0)
        children.append(child)
    report["fork_bomb"] = "no error"
except OSError as err:
    report["fork_bomb"] = errno.errorcode[err.errno]
report["forked"] = len(children)
for child in children:
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
daemonize = "sleep 600 > /dev/null 2>&1 & echo $! > /opt/ml/model/daemon"
subprocess.run(["setsid", "--wait", "sh", "-c", daemonize], check=True)
report["daemon"] = int(open("/opt/ml/model/daemon").read())
with socket.create_server(("0.0.0.0", 8080)):  # SageMaker's port: its own, whatever the host runs there
    report["listened_on_8080"] = True
with socket.socket() as probe:  # the modelbay server, on the host's loopback
    report["server_from_inside"] = errno.errorcode.get(probe.connect_ex(("127.0.0.1", server_port)), "connected")
with open("/opt/ml/model/report.json", "w") as file:
    json.dump(report, file)
"""


def has_ended(pid: int) -> bool:
    """Whether the process is gone or a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_training_instance_is_isolated_and_leaves_nothing_behind(
        sagemaker: Any, s3: Any, server: ServerProcess, bucket: str, unique: str, scratch: Path) -> None:
    (scratch / "checks.py").write_text(textwrap.dedent(CHECKS))
    server_port = server.url.rsplit(":", 1)[1]
    image = program(scratch / "image", f"exec {sys.executable} {scratch / 'checks.py'} {unique} {server_port}\n")
    sagemaker.create_training_job(
        TrainingJobName=unique, RoleArn="arn:aws:iam::000000000000:role/SageMakerRole",
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=unique, WaiterConfig=WAITER)
    job = sagemaker.describe_training_job(TrainingJobName=unique)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    body = s3.get_object(Bucket=bucket, Key=f"out/{unique}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        report_file = archive.extractfile("report.json")
        assert report_file is not None
        report = json.load(report_file)

    cpus = min(2, len(machine_cpus()))  # ml.m5.large has 2 vCPUs
    assert report["hostname"] == "algo-1"
    assert f"{report['address']}\talgo-1" in report["hosts"] and report["listened_on_8080"]
    if networks_available():  # a network of its own: an address in modelbay's subnet, the host's loopback unseen
        assert ipaddress.ip_address(report["address"]) in DEFAULT_SUBNET
        assert report["server_from_inside"] == "ECONNREFUSED"
    else:
        assert (report["address"], report["server_from_inside"]) == ("127.0.0.1", "connected")
    assert (report["nproc"], report["cpu_count"]) == (cpus, cpus)
    home = os.environ["HOME"]
    assert [d for d in ("/tmp", "/var/tmp", "/var/log", "/var/lib", home) if (Path(d) / unique).exists()] == []
    assert report["filled"] == "ENOSPC"  # 2 GiB on a 1 GB volume
    assert report["fork_bomb"] == "EAGAIN" and report["forked"] < pids_limit(instance_type("ml.m5.large"))

    # its own cgroups (other tests' instances run on the same server), named by the instance's id
    own = [CGROUP_MOUNT / controller / path.lstrip("/") for _, controllers, path in
           (line.split(":", 2) for line in report["cgroups"]) if "/modelbay/" in path
           for controller in controllers.split(",") if controller in CONTROLLERS]
    assert own, report["cgroups"]
    instance_id = own[0].name
    wait_until(lambda: not any(path.exists() for path in own), 10, "the instance's cgroups to be removed")
    assert has_ended(report["daemon"])  # killed before the job ended, not reaped by init yet perhaps
    runtime_dir = server.data_dir / "runtime"
    assert not list(runtime_dir.glob(f"{instance_id}*"))  # its record, volume and scratch directory
    backing = [f.read_text() for f in Path("/sys/block").glob("loop*/loop/backing_file")]
    assert not [b for b in backing if instance_id in b]
