"""Writing a file the user named (`modelbay s3 cp s3://b/k PATH`, `--address-file`, ~/.aws/config).

A path that is absent or a regular file is replaced atomically: the bytes go to a temporary file beside it,
renamed over it once complete, so a reader sees the old content or the new one and a failed write leaves the old
one. Anything else is written in place, because a rename would replace the thing itself rather than write to it:
a symlink (`/dev/stdout` is one, to the process's standard output; a dotfile manager's link to ~/.aws/config), a
device, a FIFO, a socket.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def open_for_writing(path: Path, mode: int = 0o666) -> Iterator[BinaryIO]:
    """A binary stream whose bytes become the content of `path` once the block ends without an exception.

    A file created gets `mode` (less the umask); a regular file replaced keeps its own mode.
    """
    try:
        found: os.stat_result | None = path.lstat()
    except FileNotFoundError:
        found = None
    if found is not None and not stat.S_ISREG(found.st_mode):
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as stream:
            yield stream
        return
    with _replacing(path, mode if found is None else stat.S_IMODE(found.st_mode), keep_mode=found is not None) as out:
        yield out


def write_text(path: Path, text: str, mode: int = 0o666) -> None:
    """Write `text` (UTF-8) as the whole content of `path`, as open_for_writing does."""
    with open_for_writing(path, mode) as stream:
        stream.write(text.encode())


@contextmanager
def _replacing(path: Path, mode: int, keep_mode: bool) -> Iterator[BinaryIO]:
    """A new file beside `path` (O_EXCL, so never someone else's), renamed over `path` on success, else removed."""
    staged = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        if keep_mode:
            os.fchmod(fd, mode)  # the umask applied at creation must not change a file's existing mode
        with os.fdopen(fd, "wb") as stream:
            yield stream
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
