"""The front door's side of the handoff: the settings it serves with, and the epoch its leases are granted at
(front_door_handoff.py; the handoff itself is tested end to end in tests/integration)."""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.front_door_handoff import EPOCH_FILE, Handoffs, HandoffUnavailable, require_direct


def test_the_direct_data_plane_serves_open_plain_http_only() -> None:
    require_direct(Settings(host="127.0.0.1", auth="open"), tls=False)
    for settings, tls in ((Settings(host="127.0.0.1", auth="iam"), False), (Settings(host="127.0.0.1", auth="open"),
                                                                           True)):
        with pytest.raises(HandoffUnavailable, match="--auth open without TLS"):
            require_direct(settings, tls=tls)


def test_a_change_of_tables_raises_the_epoch_every_process_and_model_server_reads(tmp_path: Path) -> None:
    settings = Settings(host="127.0.0.1", auth="open", data_dir=tmp_path / "data", data_plane="direct")
    first, worker = Handoffs(settings), Handoffs(settings)  # the first process's, and a worker process's
    with open(tmp_path / "data" / EPOCH_FILE, "rb") as file, mmap.mmap(file.fileno(), 8, prot=mmap.PROT_READ) as seen:
        before = struct.unpack("=Q", seen)[0]
        first.follow("us-east-1")
        first.follow("us-east-1")
        assert struct.unpack("=Q", seen)[0] == before + 2  # as a model server's map of it reads it
    assert first.ask("us-east-1", "outstanding", "ep") == worker.ask("us-east-1", "outstanding", "ep") == []
    assert os.path.getsize(tmp_path / "data" / EPOCH_FILE) == 8
