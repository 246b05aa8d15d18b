"""What every instance a controller starts gets, whatever it runs: the environment and a port."""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

from modelbay.config import AUTH_OPEN, DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY
from modelbay.container.handoff import HANDOFF_VAR
from modelbay.instance_types import InstanceType
from modelbay.platform import Platform
from modelbay.runtime.base import Runtime
from modelbay.runtime.machine import gpus_for
from modelbay.security.sessions import role_session

SERVING_PORT = 8080  # where SageMaker's contract has a model server listen
SESSION_SLACK_S = 3600  # a job's role session outlasts its longest run by this (staging, uploads, a spot wait)
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_CHOSEN = 10_000  # free_port's choices start here, above the ports services usually take
_TRIES = 50

# From the server's environment. Not TMPDIR: an instance has a /tmp of its own (runtime/sandbox.py), where
# the server's temporary directory does not exist.
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL")


def host_env(kind: InstanceType, runs_images: bool = False) -> dict[str, str]:
    """The server's basic variables (not where instances run in OCI images, whose own PATH and HOME hold) and what
    the instance type offers (read by the toolkits as SM_NUM_*): its vCPUs, and its GPUs that this machine really
    has (a program told of GPUs that are not there would fail)."""
    env = {} if runs_images else {key: os.environ[key] for key in _PASSED_ENV if key in os.environ}
    return env | {"MODELBAY_NUM_CPUS": str(kind.vcpus), "MODELBAY_NUM_GPUS": str(gpus_for(kind))}


def api_env(platform: Platform, role_arn: str, session_name: str, duration_s: int) -> dict[str, str]:
    """What a job's program needs to call the API as SageMaker's call AWS's (the SageMaker SDK's load_run in a
    training script, boto3 in a processing script): where it is, the region, and credentials: in `iam` mode those of
    a session of the job's execution role (`role_arn`), valid `duration_s`, as SageMaker gives a job its role's (none
    if the account has no such role: its calls are refused); in `open` mode the key any client gets. Nothing where
    the server has not said where instances reach it."""
    settings = platform.settings
    if settings.instance_api_url is None:
        return {}
    env = {"AWS_ENDPOINT_URL": settings.instance_api_url, "AWS_REGION": settings.region,
           "AWS_DEFAULT_REGION": settings.region, "AWS_EC2_METADATA_DISABLED": "true"}
    if settings.auth_mode == AUTH_OPEN:
        return env | {"AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY}
    session = role_session(platform.account, role_arn, session_name, duration_s)
    if session is None:
        return env
    return env | {"AWS_ACCESS_KEY_ID": session.access_key_id, "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
                  "AWS_SESSION_TOKEN": session.session_token}


def serving_port(runtime: Runtime) -> int:
    """The port a model server listens on: SageMaker's 8080 where each instance has a network of its own, else a
    free port of the host's, whose network the instances share (images that hard-code 8080 cannot run there)."""
    return SERVING_PORT if runtime.private_networks else free_port()


def listening_env(runtime: Runtime) -> dict[str, str]:
    """Where modelbay's own model server listens: on every interface, as SageMaker's containers do, in a network
    of its own, or on a cluster's node, where the server (another machine) calls it at the node's address; on the
    loopback where instances share the server's machine's network, so the machine's neighbours cannot call it."""
    wide = runtime.private_networks or runtime.spans_machines
    return {"MODELBAY_BIND_HOST": "0.0.0.0" if wide else "127.0.0.1"}  # serving_env.py reads it


def handoff_env(runtime: Runtime) -> dict[str, str]:
    """modelbay's own model server takes the connections the front door hands over (the direct data plane:
    container/handoff.py), on a socket in its /opt/ml, where the instance runs on the server's machine."""
    return {} if runtime.spans_machines else {HANDOFF_VAR: "1"}


def free_port() -> int:
    """A loopback port free now, for a program that binds it a moment later.

    Chosen at random below the kernel's ephemeral range, not by binding port 0: the ports the kernel hands out for
    port 0 and for outgoing connections come from that range, so a port taken from it could be given to another
    socket before the program binds it. Below the range only a process choosing as this one does could take it."""
    low = _ephemeral_ports()[0]
    for _ in range(_TRIES):
        port = random.randrange(_LOWEST_CHOSEN, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # every try was taken: the kernel's choice, as a last resort
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for port 0 and outgoing connections (Linux's default where it cannot be read)."""
    try:
        low, high = _EPHEMERAL_RANGE.read_text().split()
    except (OSError, ValueError):
        return 32768, 60999
    return int(low), int(high)
