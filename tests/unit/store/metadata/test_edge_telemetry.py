"""Edge telemetry on every metadata backend: each message stored once per (fleet, device, seq), one at a time or a
batch in one transaction, read in seq order."""

from __future__ import annotations

from modelbay.store.metadata import MetadataStore
from modelbay.store.metadata.edge_telemetry import Telemetry
from tests.helpers import T0


def test_telemetry_is_stored_once_per_seq_and_read_in_seq_order(store: MetadataStore) -> None:
    assert store.edge_telemetry.append("fleet", "cam-1", 2, "metrics", T0, {"Metrics": []})
    assert store.edge_telemetry.append("fleet", "cam-1", 1, "heartbeat", T0, {"AgentVersion": "1.0"})
    assert not store.edge_telemetry.append("fleet", "cam-1", 2, "metrics", T0, {"Metrics": ["again"]})
    assert store.edge_telemetry.append("fleet", "cam-2", 1, "heartbeat", T0, {})
    found = store.edge_telemetry.list("fleet", "cam-1")
    assert [(t.seq, t.kind, t.body) for t in found] == [(1, "heartbeat", {"AgentVersion": "1.0"}),
                                                         (2, "metrics", {"Metrics": []})]
    assert found[0].time == T0


def test_a_batch_is_stored_in_one_call_each_seq_once_inside_and_across_batches(store: MetadataStore) -> None:
    batch = [Telemetry("fleet", device, seq, "metrics", T0, {"n": seq}) for seq in range(1, 301)
             for device in ("cam-1", "cam-2")]
    assert store.edge_telemetry.append_many(batch + batch[:4]) == [True] * 600 + [False] * 4
    again = [Telemetry("fleet", "cam-1", seq, "metrics", T0, {"again": True}) for seq in (300, 301, 1, 301)]
    assert store.edge_telemetry.append_many(again) == [False, True, False, False]
    assert store.edge_telemetry.append_many([]) == []
    assert [t.seq for t in store.edge_telemetry.list("fleet", "cam-1")] == list(range(1, 302))
    assert [t.body for t in store.edge_telemetry.list("fleet", "cam-2")] == [{"n": seq} for seq in range(1, 301)]
