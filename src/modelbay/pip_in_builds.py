"""pip inside podman builds: the package indexes and CA bundle this machine's pip uses, for the build only.

A site's pip is often configured to reach a mirror (an air-gapped site's, a local file index) and to trust a
TLS-inspecting proxy's CA; a `RUN pip install` in a build knows none of it. `pip_volumes` gives `podman build`
volumes that show the build a pip.conf at /etc/pip.conf (pip's site-wide file, so unchanged Dockerfiles read it)
holding this machine's index options, with local indexes, find-links and constraints and the CA bundle mounted
under BUILD_MOUNTS. Volumes exist for the build only: nothing of the host lands in the image (buildah leaves
empty files where mount points were).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

BUILD_MOUNTS = "/run/modelbay-build"  # what a build sees of the host, mounted for the build only
HOST_CA = f"{BUILD_MOUNTS}/ca.crt"
PIP_CONF = "/etc/pip.conf"
DEFAULT_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# What of the host's pip configuration a build carries over; the rest (caches, user options) stays here.
_PIP_KEYS = ("index-url", "extra-index-url", "find-links", "constraint", "trusted-host", "no-index", "timeout",
             "default-timeout", "retries")
_INDEX_KEYS = ("index-url", "extra-index-url")  # a local index's pages link to files beside it: its parent is seen


class PipConfigError(RuntimeError):
    """This machine's pip configuration could not be read."""


@dataclass(frozen=True)
class PipConfig:
    """The options a build's pip gets, as pip.conf text, and the host paths they name (mounted read-only)."""

    text: str
    paths: tuple[Path, ...]
    ca_bundle: Path | None


def pip_volumes(work: Path, pip: Sequence[str] = (sys.executable, "-m", "pip")) -> list[str]:
    """`podman build` arguments mounting this machine's pip configuration into the build (its pip.conf written to
    `work`, a directory that must outlive the build)."""
    config = host_pip_config(pip)
    pip_conf = work / "pip.conf"
    pip_conf.write_text(config.text)
    mounts = [f"{pip_conf}:{PIP_CONF}:ro", *(f"{path}:{BUILD_MOUNTS}{path}:ro" for path in config.paths)]
    mounts += [f"{config.ca_bundle}:{HOST_CA}:ro"] if config.ca_bundle else []
    return [arg for mount in mounts for arg in ("--volume", mount)]


def host_pip_config(pip: Sequence[str] = (sys.executable, "-m", "pip")) -> PipConfig:
    """What this machine's pip is configured with (files and PIP_* variables, as `pip config list` shows them),
    for a build: local indexes, find-links and constraints are mounted under BUILD_MOUNTS (an index with the
    directory holding it, where its pages' links lead), and the CA bundle at HOST_CA."""
    try:
        listed = subprocess.run([*pip, "config", "list"], capture_output=True, text=True,
                                check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise PipConfigError(f"could not read this machine's pip configuration: {error}") from error
    options = parse_pip_config(listed)
    ca_bundle = Path(options.pop("cert", DEFAULT_CA_BUNDLE))
    lines, mounts = [], set()
    for key, value in sorted(options.items()):
        if key in _PIP_KEYS:
            items = [(item, _local_path(item)) for item in value.split()]
            mounts |= {path.parent if key in _INDEX_KEYS else path for _, path in items if path is not None}
            lines.append(f"{key} = {' '.join(item if path is None else _moved(item, path) for item, path in items)}")
    lines += [f"cert = {HOST_CA}"] if ca_bundle.is_file() else []
    return PipConfig("[global]\n" + "".join(f"{line}\n" for line in lines), tuple(sorted(mounts)),
                     ca_bundle if ca_bundle.is_file() else None)


def parse_pip_config(listed: str) -> dict[str, str]:
    """`global.index-url='https://…'` lines → {"index-url": "https://…"}; a later line wins, as PIP_* variables
    (listed last, as `:env:.<key>`) win over files."""
    options: dict[str, str] = {}
    for line in listed.splitlines():
        name, equals, value = line.partition("=")
        if equals and "." in name:
            options[name.split(".", 1)[1].strip()] = value.strip().strip("'\"")
    return options


def _local_path(item: str) -> Path | None:
    """The existing local file or directory a URL or path names; None for a remote one."""
    path = Path(urlsplit(item).path) if item.startswith("file://") else Path(item) if item.startswith("/") else None
    return path if path is not None and path.exists() else None


def _moved(item: str, path: Path) -> str:
    """A local URL or path as the build sees it, under BUILD_MOUNTS."""
    return item.replace(str(path), f"{BUILD_MOUNTS}{path}", 1)
