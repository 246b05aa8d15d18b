"""Encrypted scratch volumes against real processes: what an instance writes to its /tmp reaches the volume's image
file on the host only as ciphertext, where an unencrypted volume's image holds it in the clear; a runtime that
cannot encrypt refuses the instance; the key travels through a pipe only."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelbay.runtime import volume_encryption
from modelbay.runtime.base import VOLUME_NOT_ENCRYPTED, InstanceSpec, StartFailed
from modelbay.runtime.process import ProcessRuntime, can_encrypt_volumes
from modelbay.runtime.volume_encryption import KEY_BYTES, encrypting_argv, key_pipe
from tests.unit.runtime.test_process import python_spec, wait_ended

MARKER = "modelbay-volume-plaintext-7d1c"  # written by the instance; looked for in the image's raw bytes
NAME = "kept-name-83a5.txt"
# Writes the marker into /tmp (an overlay whose writes land on the scratch volume), and says whether this process
# holds a descriptor on a pipe besides its standard ones (the key's must not reach the program).
WRITER = f"""
    import os, stat
    with open("/tmp/{NAME}", "w") as file:
        file.write("{MARKER}\\n" * 64)
    pipes = [fd for fd in map(int, os.listdir("/proc/self/fd")) if fd > 2
             and os.path.exists(f"/proc/self/fd/{{fd}}") and stat.S_ISFIFO(os.fstat(fd).st_mode)]
    print("pipes", pipes)
    print(open("/tmp/{NAME}").read().count("{MARKER}"))
"""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[ProcessRuntime]:
    runtime = ProcessRuntime(tmp_path / "state")
    yield runtime
    for instance in runtime.list({}):
        runtime.stop(instance.id, grace_s=0)
        wait_ended(runtime, instance.id)
        runtime.remove(instance.id)


def run_writer(runtime: ProcessRuntime, tmp_path: Path, volume_key: bytes | None) -> tuple[str, bytes]:
    """Run WRITER on a 1 GB volume (encrypted under `volume_key`, if given); answer its log and its image's bytes,
    read once it has ended (the volume unmounted with its namespace, so everything written has reached the file)."""
    spec = dataclasses.replace(python_spec(tmp_path, WRITER), volume_size_gb=1, volume_key=volume_key)
    ended = wait_ended(runtime, runtime.start(spec, labels={}).id)
    log = runtime.logs(ended.id).read_text()
    assert ended.exit_code == 0, log
    return log, (runtime.state_dir / f"{ended.id}.volume").read_bytes()


def test_an_encrypted_volume_holds_no_plaintext_where_a_plain_one_does(runtime: ProcessRuntime,
                                                                       tmp_path: Path) -> None:
    if not can_encrypt_volumes():
        pytest.fail("this test needs root, loop devices, mkfs.ext4 and a kernel with ext4 encryption")
    assert runtime.encrypts_volumes
    plain_log, plain = run_writer(runtime, tmp_path, None)
    assert MARKER.encode() in plain and NAME.encode() in plain  # the test can tell
    log, image = run_writer(runtime, tmp_path, os.urandom(KEY_BYTES))
    assert log.splitlines() == ["pipes []", "64"]  # the program reads its file back; no key pipe reached it
    assert MARKER.encode() not in image and NAME.encode() not in image


def test_a_runtime_that_cannot_encrypt_refuses_a_volume_key(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path / "state", namespaces=False)  # no namespace to mount and unlock a volume in
    assert not runtime.encrypts_volumes
    spec = dataclasses.replace(python_spec(tmp_path, "print('ran')"), volume_key=os.urandom(KEY_BYTES))
    with pytest.raises(StartFailed, match="cannot encrypt an instance's scratch volume") as refused:
        runtime.start(spec, labels={})
    assert str(refused.value) == VOLUME_NOT_ENCRYPTED
    assert runtime.list({}) == []


def test_a_volume_key_is_never_shown() -> None:
    spec = InstanceSpec(argv=("x",), opt_ml=Path("/o"), instance_type=python_spec(Path("/t"), "").instance_type,
                        volume_key=b"k" * KEY_BYTES)
    assert "kkkk" not in repr(spec) and "volume_key" not in repr(spec)


def test_the_key_pipe_holds_the_key_once_and_refuses_a_wrong_length() -> None:
    key = os.urandom(KEY_BYTES)
    read_end = key_pipe(key)
    with open(read_end, "rb", buffering=0) as pipe:
        assert pipe.read() == key  # then end of file: the write end is closed
    with pytest.raises(ValueError, match="64 bytes, not 32"):
        key_pipe(os.urandom(32))


def ioc(direction: int, number: int, size: int) -> int:
    """Linux's _IOC: direction (1 write, 2 read, 3 both), size, type 'f' (fscrypt's), number."""
    return (direction << 30) | (size << 16) | (ord("f") << 8) | number


def test_the_ioctl_arguments_are_laid_out_as_linux_fscrypt_h_says() -> None:
    # struct fscrypt_add_key_arg is 80 bytes before raw[]; struct fscrypt_policy_v2 is 24; v1 (in the number) 12
    assert volume_encryption._ADD_KEY_ARG.size == 80 and volume_encryption._POLICY.size == 24
    assert ioc(3, 23, 80) == volume_encryption.FS_IOC_ADD_ENCRYPTION_KEY
    assert ioc(2, 19, 12) == volume_encryption.FS_IOC_SET_ENCRYPTION_POLICY


def test_the_wrapper_refuses_a_short_key_and_runs_nothing(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"short")
    os.close(write_end)
    ran = tmp_path / "ran"
    argv = encrypting_argv(read_end, str(tmp_path / "image"), str(tmp_path / "scratch"))
    done = subprocess.run([*argv, "touch", str(ran)], pass_fds=(read_end,), capture_output=True, text=True,
                          timeout=30)
    os.close(read_end)
    assert done.returncode == 1
    assert done.stderr == ("modelbay: cannot encrypt the instance's scratch volume: the volume key pipe held 5 bytes, "
                           "not 64\n")
    assert not ran.exists()
