"""What every instance a controller starts gets, whatever it runs: the environment and a port."""

from __future__ import annotations

import os
import socket

from modelbay.instance_types import InstanceType
from modelbay.runtime.base import Runtime
from modelbay.runtime.machine import gpus_for

SERVING_PORT = 8080  # where SageMaker's contract has a model server listen

# From the server's environment. Not TMPDIR: an instance has a /tmp of its own (runtime/sandbox.py), where
# the server's temporary directory does not exist.
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL")


def host_env(kind: InstanceType, runs_images: bool = False) -> dict[str, str]:
    """The server's basic variables (not where instances run in OCI images, whose own PATH and HOME hold) and what
    the instance type offers (read by the toolkits as SM_NUM_*): its vCPUs, and its GPUs that this machine really
    has (a program told of GPUs that are not there would fail)."""
    env = {} if runs_images else {key: os.environ[key] for key in _PASSED_ENV if key in os.environ}
    return env | {"MODELBAY_NUM_CPUS": str(kind.vcpus), "MODELBAY_NUM_GPUS": str(gpus_for(kind))}


def serving_port(runtime: Runtime) -> int:
    """The port a model server listens on: SageMaker's 8080 where each instance has a network of its own, else a
    free port of the host's, whose network the instances share (images that hard-code 8080 cannot run there)."""
    return SERVING_PORT if runtime.private_networks else free_port()


def listening_env(runtime: Runtime) -> dict[str, str]:
    """Where modelbay's own model server listens: on every interface, as SageMaker's containers do, in a network
    of its own; on the loopback where instances share the host's network, so the machine's neighbours cannot
    call it."""
    return {"MODELBAY_BIND_HOST": "0.0.0.0" if runtime.private_networks else "127.0.0.1"}  # serving_env.py reads it


def free_port() -> int:
    """A loopback port free now (another process may take it before it is bound again; rare)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
