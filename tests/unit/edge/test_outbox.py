from __future__ import annotations

import json
from pathlib import Path

from modelbay.edge.outbox import Outbox


def test_messages_come_out_in_seq_order_from_one_across_kinds(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    seqs = [outbox.put(kind, {"n": n}, at=100.0 + n) for n, kind in enumerate(["heartbeat", "metrics", "samples"])]
    assert seqs == [1, 2, 3]
    found = outbox.after(0, 10)
    assert [(m.seq, m.kind) for m in found] == [(1, "heartbeat"), (2, "metrics"), (3, "samples")]
    assert json.loads(found[1].payload) == {"seq": 2, "time": 101.0, "body": {"n": 1}}
    assert [m.seq for m in outbox.after(1, 1)] == [2]


def test_a_message_stays_until_acknowledged_and_seqs_are_never_reused(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    for n in range(3):
        outbox.put("heartbeat", {"n": n})
    outbox.delete([1, 3])
    assert [m.seq for m in outbox.after(0, 10)] == [2]
    assert outbox.put("heartbeat", {}) == 4  # 3 was deleted, and is not given again
    assert len(outbox) == 2


def test_the_queue_and_its_numbering_survive_a_restart(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.put("heartbeat", {"n": 1})
    outbox.put("metrics", {"n": 2})
    outbox.delete([2])
    outbox.close()
    again = Outbox(tmp_path / "outbox.sqlite")
    assert [m.seq for m in again.after(0, 10)] == [1]
    assert again.put("samples", {}) == 3
