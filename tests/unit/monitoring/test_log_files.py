"""The file log store's own promises: a torn last line is cut off, a deleted group leaves no files, and the shipped
offset is kept with the events it was written with."""

from __future__ import annotations

import json
from pathlib import Path

from modelbay.monitoring.log_files import FileLogStore


def test_a_torn_last_line_is_cut_off_and_appends_continue(tmp_path: Path) -> None:
    FileLogStore(tmp_path).append("g", "s", ["kept"], timestamp_ms=1)
    [events_file] = tmp_path.glob("*/*.jsonl")
    with open(events_file, "a", encoding="utf-8") as file:
        file.write('{"t": 2, "i": 2, "m": "tor')
    store = FileLogStore(tmp_path)
    store.append("g", "s", ["next"], timestamp_ms=3)
    assert [e.message for e in FileLogStore(tmp_path).read("g", "s", None, None)] == ["kept", "next"]


def test_delete_group_removes_its_files(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.append("g", "s", ["x"], timestamp_ms=1)
    store.delete_group("g")
    assert list(tmp_path.iterdir()) == []


def test_the_shipped_offset_is_on_the_last_line_of_its_batch(tmp_path: Path) -> None:
    store = FileLogStore(tmp_path)
    store.ship("g", "s", ["a", "b"], 0, 4)
    [events_file] = tmp_path.glob("*/*.jsonl")
    assert [record.get("o") for record in map(json.loads, events_file.read_text().splitlines())] == [None, 4]
    events_file.write_text(events_file.read_text().splitlines()[0] + "\n")  # as if the batch's last line was torn
    assert FileLogStore(tmp_path).shipped("g", "s") == 0
