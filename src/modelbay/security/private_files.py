"""Files only the server's user may read (the master key, the root access key): mode 0600, made once.

A file is written whole to a temporary name with mode 0600 and then linked to its name, which fails if the
name exists: two servers starting on one data directory at once make one file, and a reader never sees half.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

PRIVATE_MODE = 0o600


def create_private(path: Path, text: str) -> bool:
    """Make `path` holding `text`, readable by this user alone; False (leaving it as it is) if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
        try:
            os.link(staged, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()


def read_private(path: Path) -> str:
    """The text of a private file; PermissionError if others may read or write it (it may have been exposed)."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(f"{path} may be read by others (mode {mode:o}): make it 0600 (chmod 600 {path})")
    return path.read_text()
