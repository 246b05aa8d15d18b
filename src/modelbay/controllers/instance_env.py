"""What every instance a controller starts gets, whatever it runs: the environment and a port."""

from __future__ import annotations

import os
import socket

from modelbay.instance_types import InstanceType
from modelbay.runtime.machine import gpus_for

# From the server's environment. Not TMPDIR: an instance has a /tmp of its own (runtime/sandbox.py), where
# the server's temporary directory does not exist.
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL")


def host_env(kind: InstanceType) -> dict[str, str]:
    """The server's basic variables and what the instance type offers (read by the toolkits as SM_NUM_*): its
    vCPUs, and its GPUs that this machine really has (a program told of GPUs that are not there would fail)."""
    env = {key: os.environ[key] for key in _PASSED_ENV if key in os.environ}
    return env | {"MODELBAY_NUM_CPUS": str(kind.vcpus), "MODELBAY_NUM_GPUS": str(gpus_for(kind))}


def free_port() -> int:
    """A loopback port free now (another process may take it before it is bound again; rare)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
