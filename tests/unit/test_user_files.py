"""modelbay.user_files: a file the user named is replaced atomically when it is a regular file (or absent), and
written in place when it is anything else, so a rename never replaces a symlink, a device or a FIFO."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from modelbay.user_files import open_for_writing, write_text


def test_a_new_file_gets_the_mode_less_the_umask(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_text(tmp_path / "new", "one")
        write_text(tmp_path / "secret", "two", mode=0o600)
    finally:
        os.umask(umask)
    assert (tmp_path / "new").read_text() == "one"
    assert oct((tmp_path / "new").stat().st_mode & 0o777) == "0o644"
    assert oct((tmp_path / "secret").stat().st_mode & 0o777) == "0o600"


def test_a_regular_file_is_replaced_whole_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("old")
    target.chmod(0o640)
    before = target.stat().st_ino
    with open_for_writing(target) as stream:
        stream.write(b"new")
        assert target.read_text() == "old"  # a reader sees the old content until the new one is complete
    assert target.read_text() == "new" and target.stat().st_ino != before  # a rename, not a rewrite
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]


def test_a_failed_write_leaves_the_old_content_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("old")
    with pytest.raises(RuntimeError), open_for_writing(target) as stream:
        stream.write(b"half")
        raise RuntimeError("the download broke")
    assert target.read_text() == "old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]


def test_a_symlink_stays_a_symlink_and_its_target_is_written(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("old")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    write_text(tmp_path / "link", "new")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real").read_text() == "new"


def test_a_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_text(fifo, "through the pipe")
    reader.join(timeout=10)
    assert received == [b"through the pipe"]
    assert fifo.is_fifo()

