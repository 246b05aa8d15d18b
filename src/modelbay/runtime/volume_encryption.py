"""An encrypted scratch volume: ext4's own encryption (fscrypt) over a directory of the volume, keyed by a KMS data key.

    python -I -S volume_encryption.py KEY_FD IMAGE MOUNT_POINT COMMAND [ARG...]

runs inside an instance's mount namespace in place of the sandbox's own mount of its volume (an image made with
`mkfs.ext4 -O encrypt`, see scratch.py). It reads the key from the pipe KEY_FD (never argv, the environment or a
file) and closes it, loop-mounts IMAGE at MOUNT_POINT, adds the key to the filesystem with
FS_IOC_ADD_ENCRYPTION_KEY, makes the empty directory ENCRYPTED_DIR of its root (the root itself holds lost+found,
and a policy needs an empty directory) with a v2 policy naming the key (FS_IOC_SET_ENCRYPTION_POLICY: AES-256-XTS
contents, AES-256-CTS names padded to 32 bytes), bind-mounts that directory over MOUNT_POINT, and execs COMMAND
(the sandbox's mount script, told of no volume to mount). Everything the instance writes to its scratch space
then reaches the image file encrypted, names included. The key lives in the kernel with the filesystem and goes
with it when the instance's namespace ends: the image left behind cannot be read again.

The key's pipe is passed by number, and POSIX shells only redirect descriptors 0-9, so the sandbox's shell could
not close it before the program starts: this wrapper closes it, and the shell never has it. Python's standard
library has no fscrypt calls and no well-kept package does them, so the structures of <linux/fscrypt.h> are
packed here with `struct`. Like the supervisor, this runs by path with `-I -S` and imports only light standard
modules. The runtime's side is `key_pipe` and `encrypting_argv`.
"""

from __future__ import annotations

import fcntl
import os
import struct
import sys

KEY_BYTES = 64  # a v2 policy's master key must be as long as the contents mode's key: AES-256-XTS takes 64 bytes
ENCRYPTED_DIR = "encrypted"  # of the volume's root: what the instance sees as its scratch volume

# <linux/fscrypt.h>: FS_IOC_ADD_ENCRYPTION_KEY = _IOWR('f', 23, struct fscrypt_add_key_arg) (80 bytes);
# FS_IOC_SET_ENCRYPTION_POLICY = _IOR('f', 19, struct fscrypt_policy_v1) (12 bytes; a v2 policy is told by its
# first byte).
FS_IOC_ADD_ENCRYPTION_KEY = 0xC0506617
FS_IOC_SET_ENCRYPTION_POLICY = 0x800C6613
_KEY_SPEC_TYPE_IDENTIFIER = 2
_POLICY_V2 = 2
_MODE_AES_256_XTS = 1
_MODE_AES_256_CTS = 4
_FLAGS_PAD_32 = 0x03
# struct fscrypt_add_key_arg: key_spec {type, reserved, 32-byte union}, raw_size, key_id, 32 reserved bytes, raw[]
_ADD_KEY_ARG = struct.Struct("=II32sII32x")
_IDENTIFIER = slice(8, 24)  # where the kernel writes the key's identifier: key_spec.u.identifier
# struct fscrypt_policy_v2: version, contents mode, filenames mode, flags, log2_data_unit_size (0: the block size),
# 3 reserved bytes, master_key_identifier[16]
_POLICY = struct.Struct("=BBBBB3x16s")


class EncryptionFailed(OSError):
    """The volume could not be mounted or encrypted."""


def key_pipe(key: bytes) -> int:
    """The read end of a pipe holding `key` (its write end closed), for a child to inherit and read once.
    The key stays in the kernel's pipe buffer until read: it touches no disk."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"a volume key is {KEY_BYTES} bytes, not {len(key)}")
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, key)  # far below a pipe's capacity: never blocks
    finally:
        os.close(write_end)
    return read_end


def encrypting_argv(key_fd: int, image: str, mount_point: str) -> list[str]:
    """This wrapper's command line up to COMMAND (see the module docstring)."""
    return [sys.executable, "-I", "-S", __file__, str(key_fd), image, mount_point]


def add_key(root_fd: int, key: bytes) -> bytes:
    """Add `key` to the filesystem of `root_fd` for v2 policies; return its identifier (16 bytes)."""
    arg = bytearray(_ADD_KEY_ARG.pack(_KEY_SPEC_TYPE_IDENTIFIER, 0, b"", len(key), 0) + key)
    try:
        fcntl.ioctl(root_fd, FS_IOC_ADD_ENCRYPTION_KEY, arg, True)
        return bytes(arg[_IDENTIFIER])
    finally:
        arg[:] = bytes(len(arg))  # this buffer's copy of the key


def set_policy(directory_fd: int, identifier: bytes) -> None:
    """Give the empty directory `directory_fd` the v2 policy of the key `identifier`."""
    policy = _POLICY.pack(_POLICY_V2, _MODE_AES_256_XTS, _MODE_AES_256_CTS, _FLAGS_PAD_32, 0, identifier)
    fcntl.ioctl(directory_fd, FS_IOC_SET_ENCRYPTION_POLICY, policy)


def encrypt_directory(root: str, key: bytes) -> str:
    """Make `root`/ENCRYPTED_DIR a directory encrypted under `key`, on the filesystem mounted at `root`; return it."""
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        identifier = add_key(root_fd, key)
        os.mkdir(ENCRYPTED_DIR, 0o755, dir_fd=root_fd)
        directory_fd = os.open(ENCRYPTED_DIR, os.O_RDONLY | os.O_DIRECTORY, dir_fd=root_fd)
        try:
            set_policy(directory_fd, identifier)
        finally:
            os.close(directory_fd)
    finally:
        os.close(root_fd)
    return os.path.join(root, ENCRYPTED_DIR)


def read_key(key_fd: int) -> bytes:
    """The key in the pipe `key_fd`, which is closed."""
    with open(key_fd, "rb", buffering=0) as pipe:
        key = pipe.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise EncryptionFailed(f"the volume key pipe held {len(key)} bytes, not {KEY_BYTES}")
    return key


def _mount(*args: str) -> None:
    """Run mount(8) with `args` (posix_spawn: subprocess would double this wrapper's start-up)."""
    pid = os.posix_spawnp("mount", ["mount", *args], os.environ)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise EncryptionFailed(f"mount {' '.join(args)} failed")


def main(argv: list[str]) -> None:
    key_fd, image, mount_point, command = int(argv[0]), argv[1], argv[2], argv[3:]
    try:
        key = read_key(key_fd)
        _mount("-o", "loop", image, mount_point)
        _mount("--bind", encrypt_directory(mount_point, key), mount_point)
    except OSError as error:
        print(f"modelbay: cannot encrypt the instance's scratch volume: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
