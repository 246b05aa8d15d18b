"""An instance's `/opt/ml`: its directory layout, and how a process comes to see it there.

With mount namespaces (root, or unprivileged user namespaces) the program runs in its own
namespace with the instance directory bind-mounted at `/opt/ml`, so hard-coded paths work.
The host's `/opt` is never written to: when `/opt/ml` does not exist, the namespace gets a
tmpfs over `/opt` holding bind mounts of what `/opt` had, plus an empty `ml/` mount point.
Without namespaces the SM_* path variables point into the instance directory instead.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

OPT_ML_DIRS = ("input/config", "input/data", "model", "output/data", "output/intermediate",
               "checkpoints", "code")

# Runs inside the new mount namespace: $1 is the instance directory, the rest the program.
_MOUNT_SCRIPT = r"""
set -e
src="$1"; shift
if [ ! -d /opt/ml ]; then
  stage=$(mktemp -d)
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
  mkdir /opt/ml
fi
mount --bind "$src" /opt/ml
exec "$@"
"""

# Runs first: puts this process (and so the program it execs) under the memory cgroup.
_JOIN_SCRIPT = 'echo $$ > "$0" && exec "$@"'

_NAMESPACE_PREFIXES = (
    ("unshare", "--mount", "--propagation", "private"),
    ("unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"),
)


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


@functools.cache
def namespace_prefix() -> tuple[str, ...] | None:
    """The `unshare` command that gives a mount namespace here, probed once; None if none does."""
    if not Path("/opt").is_dir() or shutil.which("unshare") is None or shutil.which("mount") is None:
        return None
    for prefix in _NAMESPACE_PREFIXES:
        probe = subprocess.run([*prefix, "sh", "-c", "mount -t tmpfs modelbay-probe /mnt"],
                               capture_output=True, timeout=10)
        if probe.returncode == 0:
            return prefix
    return None


def sandboxed_argv(argv: tuple[str, ...], opt_ml: Path, prefix: tuple[str, ...] | None,
                   cgroup_procs: Path | None) -> list[str]:
    """The command that runs `argv` with `opt_ml` at /opt/ml (when `prefix` gives a namespace)
    and under the cgroup whose procs file is `cgroup_procs` (when given)."""
    command = list(argv)
    if prefix is not None:
        command = [*prefix, "sh", "-c", _MOUNT_SCRIPT, "sh", str(opt_ml), *command]
    if cgroup_procs is not None:
        command = ["sh", "-c", _JOIN_SCRIPT, str(cgroup_procs), *command]
    return command
