"""An instance's own view of the machine: `/opt/ml`, private scratch dirs, a hostname, its CPUs, its cgroups.

With mount namespaces (root, or unprivileged user namespaces) the program runs in a mount and UTS
namespace of its own, where:

- the instance directory is bind-mounted at `/opt/ml`, so hard-coded paths work. A bring-your-own
  directory image is shown at `/opt/program`, where AWS's examples and SageMaker's documentation put
  the program (a Dockerfile's `COPY … /opt/program` and `WORKDIR /opt/program`): it is the program's
  working directory and first on its PATH, and an overlay, so what the program writes there (a
  `__pycache__`) lands on the scratch volume, never in the image. The host's `/opt` is never written
  to: when `/opt/ml` (or `/opt/program`) does not exist, the namespace gets a tmpfs over `/opt` holding
  bind mounts of what `/opt` had, plus empty mount points;
- `/run` is an empty directory of the instance's scratch volume (scratch.py), as in a container;
  `/tmp`, `/var/tmp`, `/var/log`, `/var/lib` and `$HOME` are overlays whose writes land on that volume: programs
  find what the host has there and the host's copies are never written. An overlay, not an empty
  directory, because here the host's filesystem is the image: a bring-your-own image is a host
  directory (often under /tmp), the server's data directory (framework environments, the instance
  directory) lies under HOME or anywhere, `/var/log/nginx` exists where nginx is installed, user
  site-packages lie under HOME, nginx keeps its request buffers under /var/lib/nginx. An image's `serve`
  replacing /var/log/nginx/access.log with a symlink to /dev/stdout replaces it in the instance only;
- the hostname is the instance's (`algo-<n>` for job hosts) and `/etc/hosts` is a generated file
  naming it and its peers;
- `/sys/devices/system/cpu/online` names the instance's CPUs: glibc's sysconf (so `os.cpu_count()`)
  reads it, while `nproc` reads the affinity mask that the cpuset cgroup sets.

The scratch volume is loop-mounted inside the namespace only (see scratch.py). An encrypted one is mounted
there by volume_encryption.py instead, which reads its key from a pipe, closes it, and shows the volume's
encrypted directory where the volume's root would be before it runs the mount script: every part of the
scratch space above lies in it. Without namespaces the SM_* path variables point into the instance
directory instead and the rest is not done: a directory image's program runs from where it lies.

Outermost first, the command joins the cgroups, then (without a cpuset cgroup) narrows its affinity
with taskset, then enters the network namespace it is given (`nsenter --net`: the hook for per-instance
networks), then unshares mount and UTS namespaces and runs the mount script.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelbay.runtime.base import LOOPBACK
from modelbay.runtime.volume_encryption import encrypting_argv

PROGRAM_DIR = Path("/opt/program")  # where an instance sees its directory image
OPT_ML_DIRS = ("input/config", "input/data", "model", "output/data", "output/intermediate",
               "checkpoints", "code")

# Runs inside the new namespaces: the Sandbox's fields as $1-$8 (blank: none), then the program. The
# volume's parts are named relative to its directory, a subshell's working directory, which stays valid
# while the mounts cover paths (the state directory may lie under /tmp or HOME). The program starts in
# /opt/program if it has one, else in the working directory the supervisor gave the shell, held since
# before any of this.
_MOUNT_SCRIPT = r"""
set -e
src="$1" volume="$2" scratch="$3" name="$4" hosts="$5" online="$6" home="$7" program="$8"; shift 8
[ -z "$volume" ] || mount -o loop "$volume" "$scratch"
for part in tmp var-tmp log lib home program; do mkdir -p "$scratch/$part" "$scratch/.work/$part"; done
mkdir -p "$scratch/run"
chmod 1777 "$scratch/tmp" "$scratch/var-tmp"
if [ ! -d /opt/ml ] || { [ -n "$program" ] && [ ! -d /opt/program ]; }; then
  stage=$(mktemp -d -p "$scratch/.work")
  mount --rbind /opt "$stage"
  mount -t tmpfs -o mode=755 modelbay-opt /opt
  for e in "$stage"/* "$stage"/.[!.]*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=${e##*/}
    if [ -L "$e" ]; then ln -s "$(readlink "$e")" "/opt/$n"; continue; fi
    if [ -d "$e" ]; then mkdir "/opt/$n"; else : > "/opt/$n"; fi
    mount --rbind "$e" "/opt/$n"
  done
  umount -l "$stage"; rmdir "$stage"
  mkdir -p /opt/ml ${program:+/opt/program}
fi
mount --bind "$src" /opt/ml
mount --bind "$hosts" /etc/hosts
[ -z "$online" ] || mount --bind "$online" /sys/devices/system/cpu/online
overlay() { mount -t overlay -o "lowerdir=$1,upperdir=$2,workdir=.work/$2" "modelbay-$2" "${3:-$1}"; }
(
  cd "$scratch"
  [ -z "$program" ] || overlay "$program" program /opt/program
  [ ! -d /var/log ] || overlay /var/log log
  [ ! -d /var/lib ] || overlay /var/lib lib
  [ -z "$home" ] || [ ! -d "$home" ] || [ "$home" = / ] || overlay "$home" home
  mount --bind run /run
  overlay /var/tmp var-tmp
  overlay /tmp tmp
)
echo "$name" > /proc/sys/kernel/hostname
[ -z "$program" ] || { cd /opt/program; export PATH="/opt/program${PATH:+:$PATH}"; }
exec "$@"
"""

# Runs first: puts this process (and so the program it execs) in each cgroup: $1... up to "--".
_JOIN_SCRIPT = 'while [ "$1" != -- ]; do echo $$ > "$1"; shift; done; shift; exec "$@"'

_NAMESPACE_PREFIXES = (
    ("unshare", "--mount", "--uts", "--propagation", "private"),
    ("unshare", "--user", "--map-root-user", "--mount", "--uts", "--propagation", "private"),
)


@dataclass(frozen=True)
class Sandbox:
    """What an instance's namespaces show (module docstring). `scratch` is the scratch volume's directory,
    its mount point when `volume` (a filesystem image) is set. `network`: a network namespace to enter
    (a /run/netns/<name> path), None to share the host's. `program`: a directory image to show at
    /opt/program. `volume_key_fd`: a pipe holding the key to encrypt `volume` under (volume_encryption.key_pipe),
    which the command's process must inherit; None: the volume is not encrypted."""

    opt_ml: Path
    scratch: Path
    volume: Path | None
    hostname: str
    hosts_file: Path
    cpu_online_file: Path | None
    home: str | None
    network: Path | None = None
    program: Path | None = None
    volume_key_fd: int | None = None


def opt_ml_layout(root: Path) -> Path:
    """Create the `/opt/ml` tree (CONTRACT.md section 2) under `root`; return `root`."""
    for sub in OPT_ML_DIRS:
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def relocation_env(root: Path) -> dict[str, str]:
    """The SM_* path variables pointing into `root`, for programs that cannot see `/opt/ml`."""
    return {
        "SM_MODEL_DIR": str(root / "model"),
        "SM_INPUT_DIR": str(root / "input"),
        "SM_INPUT_CONFIG_DIR": str(root / "input/config"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_OUTPUT_DATA_DIR": str(root / "output/data"),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(root / "output/intermediate"),
        "SM_CHECKPOINT_DIR": str(root / "checkpoints"),
        "SM_MODULE_DIR": str(root / "code"),
    }


def hosts_text(hostname: str, peers: Sequence[str], address: Callable[[str], str] = lambda _host: LOOPBACK) -> str:
    """/etc/hosts for an instance named `hostname` among `peers` (the hosts of its job, itself included),
    each at `address(host)`. Every instance shares the host's network for now, so all are at the loopback
    address; per-instance networks pass their own mapping."""
    names = dict.fromkeys([hostname, *peers])
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             *(f"{address(name)}\t{name}" for name in names)]
    return "\n".join(lines) + "\n"


@functools.cache
def namespace_prefix() -> tuple[str, ...] | None:
    """The `unshare` command that gives mount and UTS namespaces here, probed once; None if none does."""
    if not Path("/opt").is_dir() or shutil.which("unshare") is None or shutil.which("mount") is None:
        return None
    for prefix in _NAMESPACE_PREFIXES:
        probe = subprocess.run([*prefix, "sh", "-c", "mount -t tmpfs modelbay-probe /mnt"],
                               capture_output=True, timeout=10)
        if probe.returncode == 0:
            return prefix
    return None


def sandboxed_argv(argv: Sequence[str], sandbox: Sandbox, prefix: tuple[str, ...] | None,
                   cgroup_procs: Sequence[Path], affinity: Sequence[int] | None) -> list[str]:
    """The command that runs `argv` in `sandbox` (when `prefix` gives namespaces), in the cgroups whose
    procs files are `cgroup_procs`, and on the CPUs `affinity` (None: the cpuset cgroup chooses them)."""
    command = list(argv)
    if prefix is not None:
        encrypting = _encrypting(sandbox)
        fields = (sandbox.opt_ml, "" if encrypting else sandbox.volume or "", sandbox.scratch, sandbox.hostname,
                  sandbox.hosts_file, sandbox.cpu_online_file or "", sandbox.home or "", sandbox.program or "")
        command = [*prefix, *encrypting, "sh", "-c", _MOUNT_SCRIPT, "sh", *map(str, fields),
                   *_seen_inside(argv, sandbox.program)]
    if sandbox.network is not None:
        command = ["nsenter", f"--net={sandbox.network}", *command]
    if affinity is not None:
        command = ["taskset", "--cpu-list", ",".join(map(str, affinity)), *command]
    if cgroup_procs:
        command = ["sh", "-c", _JOIN_SCRIPT, "sh", *map(str, cgroup_procs), "--", *command]
    return command


def _encrypting(sandbox: Sandbox) -> list[str]:
    """What mounts an encrypted volume before the mount script runs (volume_encryption.py); none for the others."""
    if sandbox.volume_key_fd is None:
        return []
    assert sandbox.volume is not None, "only a volume of its own is encrypted (ProcessRuntime.encrypts_volumes)"
    return encrypting_argv(sandbox.volume_key_fd, str(sandbox.volume), str(sandbox.scratch))


def _seen_inside(argv: Sequence[str], program: Path | None) -> list[str]:
    """`argv` as the instance runs it: a program of its directory image by its /opt/program path, as in a
    container (so its `$0` and `__file__` name where it is seen)."""
    if program is None or not argv or not Path(argv[0]).is_relative_to(program):
        return list(argv)
    return [str(PROGRAM_DIR / Path(argv[0]).relative_to(program)), *argv[1:]]
