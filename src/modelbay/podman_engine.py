"""Podman as modelbay drives it: one configuration of ours, and the `podman` command run with it.

modelbay never edits `/etc/containers`: it writes a `containers.conf` of its own (runc, as crun refuses
cgroup v1 hybrid layouts; default ulimits within the hard limits root has here; netavark, as podman 4.3
otherwise tries CNI) in a directory it owns and points podman at it with CONTAINERS_CONF. Images and
containers live in podman's usual store, shared by every server of the machine (as framework environments
are shared), so a base image is built once per machine; each runtime finds its own containers by label.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"

[network]
network_backend = "netavark"
"""
_TAIL_CHARS = 2000


class PodmanError(RuntimeError):
    """A podman command failed; the message holds what it said."""


@functools.cache
def podman_available() -> bool:
    """Whether podman (with runc) is installed here."""
    return shutil.which("podman") is not None and shutil.which("runc") is not None


def require_podman() -> None:
    """Raise PodmanError saying what to install where podman cannot run."""
    if not podman_available():
        raise PodmanError("podman or runc is not installed: apt-get install podman runc netavark aardvark-dns "
                          "catatonit")


def podman_env(config_dir: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment podman runs in: `environ` (default: ours) with CONTAINERS_CONF naming our configuration,
    written to `config_dir` if it is missing or out of date."""
    config_dir.mkdir(parents=True, exist_ok=True)
    conf = config_dir / "containers.conf"
    if not conf.is_file() or conf.read_text() != CONTAINERS_CONF:
        tmp = conf.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(CONTAINERS_CONF)
        tmp.replace(conf)
    return {**(os.environ if environ is None else environ), "CONTAINERS_CONF": str(conf)}


def podman(args: Sequence[str], config_dir: Path, stdin: str | None = None, timeout_s: float = 600) -> str:
    """Run `podman ARGS` with our configuration; answer its stdout, raise PodmanError with its output's tail."""
    try:
        done = subprocess.run(["podman", *args], input=stdin, capture_output=True, text=True, timeout=timeout_s,
                              env=podman_env(config_dir))
    except subprocess.TimeoutExpired as error:
        raise PodmanError(f"podman {' '.join(args)} took more than {timeout_s:.0f} s") from error
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()[-_TAIL_CHARS:]
        raise PodmanError(f"podman {' '.join(args)} failed (exit code {done.returncode}): {said}")
    return done.stdout


def image_exists(reference: str, config_dir: Path) -> bool:
    """Whether podman's store holds `reference`."""
    try:
        podman(["image", "exists", reference], config_dir)
    except PodmanError:
        return False
    return True


def ensure_image(reference: str, config_dir: Path, make: Callable[[], None]) -> str:
    """`reference`, made by `make` first if podman's store lacks it: under a file lock of its own, so two
    processes (servers, the CLI) never make one image at once, and each image is made once per machine."""
    if image_exists(reference, config_dir):
        return reference
    with _lock(config_dir / "locks" / (hashlib.sha256(reference.encode()).hexdigest()[:16] + ".lock")):
        if not image_exists(reference, config_dir):
            make()
    return reference


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive file lock, held across processes until the block ends (lock files are never removed: a
    process may hold one open)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
