"""An instance's scratch volume: the disk behind its private `/tmp`, `/var/tmp`, `/run`, `$HOME` and `/var/log`.

As in SageMaker, where an instance's storage volume is `VolumeSizeInGB` large, an instance may write
that much and then gets ENOSPC, however much the host has. Where the machine allows it (root, a loop
device, mkfs.ext4) the volume is a sparse file of that size holding an ext4 filesystem: mkfs takes
10-40 ms (lazy inode tables, no journal: scratch data need not survive a crash; no blocks reserved
for root: the instance gets the whole size), and the file uses the host's disk only for what is
written. It is loop-mounted only inside the instance's mount namespace (sandbox.py), never on the
host: the mount ends with the instance's last process and the loop device detaches itself
(autoclear), so a crash leaves no mount behind, only the file, which `remove_volume` (the runtime's
remove, and its start-up for records gone) deletes. Elsewhere the volume is a plain directory on the
state directory's disk, unlimited (said once in the log).

An encrypted volume (a VolumeKmsKeyId) is made with ext4's `encrypt` feature; inside the namespace a directory
of it is encrypted under the instance's key (volume_encryption.py) and becomes the scratch space. It needs a
volume of its own and a kernel with ext4 encryption: `volumes_encryptable` says whether this machine has both.

A GB here is a GiB, as for EBS volumes.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

GIB = 1024**3
_MKFS = ("mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,nodiscard")
_FEATURES, _ENCRYPTED_FEATURES = "^has_journal", "^has_journal,encrypt"
EXT4_ENCRYPTION = Path("/sys/fs/ext4/features/encryption")  # present where the kernel's ext4 can encrypt


@functools.cache
def volumes_limited() -> bool:
    """Whether volumes can be filesystems of their own here (probed once; said in the log when not)."""
    able = (os.geteuid() == 0 and Path("/dev/loop-control").exists()
            and shutil.which("mkfs.ext4") is not None and shutil.which("mount") is not None)
    if not able:
        log.warning("no loop devices or mkfs.ext4 (or not root): an instance's scratch space (/tmp, /var/tmp, "
                    "/run, HOME, /var/log) is a directory of the state directory, not limited to VolumeSizeInGB")
    return able


@functools.cache
def volumes_encryptable() -> bool:
    """Whether volumes can be filesystems of their own here (`volumes_limited`) whose files the kernel encrypts."""
    return volumes_limited() and EXT4_ENCRYPTION.exists()


def create_volume(directory: Path, image: Path, size_gb: int, encrypted: bool = False) -> Path | None:
    """Make the volume: `directory` (its mount point, or the volume itself where volumes cannot be limited)
    and, where they can, a filesystem image of `size_gb` at `image` (returned; None: nothing to mount), with
    ext4's encryption feature if `encrypted` (only where `volumes_encryptable`)."""
    directory.mkdir(parents=True, exist_ok=True)
    if not volumes_limited():
        return None
    with open(image, "wb") as file:
        file.truncate(size_gb * GIB)  # sparse: no disk used yet
    features = _ENCRYPTED_FEATURES if encrypted else _FEATURES
    subprocess.run([*_MKFS, "-O", features, str(image)], check=True, capture_output=True, timeout=60)
    return image


def remove_volume(directory: Path, image: Path) -> None:
    """Delete the volume, whichever parts of it exist."""
    shutil.rmtree(directory, ignore_errors=True)
    image.unlink(missing_ok=True)
