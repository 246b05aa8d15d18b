"""The runtime a server runs its instances with, as its settings say (Settings.runtime)."""

from __future__ import annotations

from pathlib import Path

from modelbay.config import Settings
from modelbay.podman_engine import PodmanError, require_podman
from modelbay.runtime.base import Runtime
from modelbay.runtime.podman import PodmanRuntime
from modelbay.runtime.process import ProcessRuntime, can_encrypt_volumes


class RuntimeUnavailable(RuntimeError):
    """The runtime the settings name cannot run on this machine; the message says what to install."""


def open_runtime(settings: Settings, state_dir: Path) -> Runtime:
    """The runtime of `settings` on `state_dir`; close it when done. Raise RuntimeUnavailable."""
    if settings.runtime == "process":
        return ProcessRuntime(state_dir=state_dir, networks=settings.instance_networks)
    if settings.runtime == "ray":
        return _ray_runtime(settings, state_dir)
    try:
        require_podman()
        return PodmanRuntime(state_dir=state_dir, config_dir=settings.podman_dir)
    except PodmanError as error:
        raise RuntimeUnavailable(f"MODELBAY_RUNTIME=podman, but {error}") from error


def _ray_runtime(settings: Settings, state_dir: Path) -> Runtime:
    """Instances on a Ray cluster's nodes, which reach their directories through S3-compatible storage alone."""
    if settings.ray_address is None:
        raise RuntimeUnavailable("MODELBAY_RUNTIME=ray needs MODELBAY_RAY_ADDRESS, the host:port of the Ray "
                                 "cluster's head (`ray start --head` prints it)")
    if settings.s3_endpoint_url is None:
        raise RuntimeUnavailable("MODELBAY_RUNTIME=ray needs MODELBAY_S3_ENDPOINT_URL: the cluster's nodes reach "
                                 "instances' data only through S3-compatible storage, not the server's local folder")
    try:
        from modelbay.runtime.ray import RayRuntime  # ray loads only here
    except ImportError as error:
        raise RuntimeUnavailable(f"MODELBAY_RUNTIME=ray needs Ray ({error}): pip install 'modelbay[cluster]'") \
            from error
    try:
        return RayRuntime(settings, state_dir)
    except ConnectionError as error:
        raise RuntimeUnavailable(f"MODELBAY_RUNTIME=ray, but the Ray cluster at {settings.ray_address} cannot be "
                                 f"reached: {error}") from error


def encrypts_volumes(settings: Settings) -> bool:
    """Whether the runtime `settings` name encrypts instances' scratch volumes (Runtime.encrypts_volumes), known
    without opening it: so that a request asking for encrypted volumes is refused when it is made, not when its
    instances start. Podman's containers have no volume of their own to encrypt, nor have Ray's instances yet."""
    return settings.runtime == "process" and can_encrypt_volumes()
