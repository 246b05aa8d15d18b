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
    try:
        require_podman()
        return PodmanRuntime(state_dir=state_dir, config_dir=settings.podman_dir)
    except PodmanError as error:
        raise RuntimeUnavailable(f"MODELBAY_RUNTIME=podman, but {error}") from error


def encrypts_volumes(settings: Settings) -> bool:
    """Whether the runtime `settings` name encrypts instances' scratch volumes (Runtime.encrypts_volumes), known
    without opening it: so that a request asking for encrypted volumes is refused when it is made, not when its
    instances start. Podman's containers have no volume of their own to encrypt."""
    return settings.runtime == "process" and can_encrypt_volumes()
