"""Ground-truth labels on every metadata backend: stored per (endpoint, InferenceId), replaced by a later one,
read back by InferenceId, dropped past retention, kept when their endpoint is deleted."""

from __future__ import annotations

from modelbay.store.metadata import MetadataStore
from modelbay.store.metadata.endpoints import EndpointSpec, VariantState
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


def test_labels_outlive_their_endpoint(store: MetadataStore) -> None:
    """As the captured predictions and CloudWatch metrics they are joined with do: a re-created endpoint of the same
    name finds them."""
    spec = EndpointSpec({"ProductionVariants": [{"VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large",
                                                 "InitialInstanceCount": 1, "InitialVariantWeight": 1.0}]},
                        {"m": {"ModelName": "m", "PrimaryContainer": {"Image": "img"}}})
    store.endpoints.create("ep", "arn:ep", "config", [VariantState("v", 1.0, 1)], spec)
    store.ground_truth.put("ep", {"a": 1.0})
    store.endpoints.delete("ep")  # what the controller does once the endpoint's instances are gone
    store.endpoints.create("ep", "arn:ep", "config", [VariantState("v", 1.0, 1)], spec)
    assert store.ground_truth.labels("ep", ["a"]) == {"a": 1.0}
