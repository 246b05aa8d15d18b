"""Ground-truth labels on every metadata backend: stored per (endpoint, InferenceId), replaced by a later one,
read back by InferenceId, dropped past retention."""

from __future__ import annotations

from modelbay.store.metadata import MetadataStore
from modelbay.store.metadata.ground_truth import RETENTION
from tests.helpers import Clock


def test_labels_are_read_back_per_endpoint_for_the_ids_asked(store: MetadataStore) -> None:
    store.ground_truth.put("ep", {"a": 1.0, "b": "cat"})
    store.ground_truth.put("other", {"a": 0.0})
    assert store.ground_truth.labels("ep", ["a", "b", "missing"]) == {"a": 1.0, "b": "cat"}
    assert store.ground_truth.labels("other", ["a", "b"]) == {"a": 0.0}


def test_a_second_label_replaces_the_first(store: MetadataStore) -> None:
    store.ground_truth.put("ep", {"a": 1.0})
    store.ground_truth.put("ep", {"a": "dog", "c": 2.5})
    assert store.ground_truth.labels("ep", ["a", "c"]) == {"a": "dog", "c": 2.5}


def test_many_ids_are_read_in_chunks(store: MetadataStore) -> None:
    labels = {f"id-{n}": float(n % 2) for n in range(2500)}
    store.ground_truth.put("ep", labels)
    assert store.ground_truth.labels("ep", list(labels)) == labels


def test_labels_past_retention_are_dropped_when_labels_are_next_sent(store: MetadataStore, clock: Clock) -> None:
    store.ground_truth.put("ep", {"old": 1.0})
    clock.now += RETENTION
    store.ground_truth.put("other", {"new": 0.0})
    assert store.ground_truth.labels("ep", ["old"]) == {}
    assert store.ground_truth.labels("other", ["new"]) == {"new": 0.0}
