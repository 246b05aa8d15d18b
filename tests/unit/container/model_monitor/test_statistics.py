"""statistics.json and constraints.json of a dataset, in SageMaker's schema, read back by the SageMaker SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sagemaker.model_monitor import Constraints, Statistics

from modelbay.container.model_monitor.constraints import ConstraintsConfig, suggest_constraints
from modelbay.container.model_monitor.datasets import Table
from modelbay.container.model_monitor.statistics import (
    SKETCH_K,
    dataset_statistics,
    feature_statistics,
    sketch,
    sketch_sample,
    value_type,
)


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {feature["name"]: feature for feature in document["features"]}


@pytest.mark.parametrize(("value", "expected"), [
    ("3", "Integral"), (" -4 ", "Integral"), (7, "Integral"), ("2.5", "Fractional"), (1.0, "Fractional"),
    ("1e3", "Fractional"), ("abc", "String"), (True, "String"), ({"k": 1}, "String"), ("", None), (None, None),
    ("NaN", None), (float("nan"), None),
])
def test_each_value_has_a_type_or_is_missing(value: object, expected: str | None) -> None:
    assert value_type(value) == expected


def test_numerical_and_string_features_have_their_statistics() -> None:
    table = Table.of([{"n": "1", "x": "1.5", "s": "red"}, {"n": "3", "x": "2", "s": "blue"},
                      {"n": "", "x": "2.5", "s": "red"}, {"n": "5", "x": "4", "s": ""}])
    statistics = dataset_statistics(table)
    assert statistics["version"] == 0 and statistics["dataset"] == {"item_count": 4}
    features = by_name(statistics)
    n = features["n"]
    assert n["inferred_type"] == "Integral"
    numerical = n["numerical_statistics"]
    assert numerical["common"] == {"num_present": 3, "num_missing": 1}
    assert (numerical["mean"], numerical["sum"], numerical["min"], numerical["max"]) == (3.0, 9.0, 1.0, 5.0)
    assert numerical["std_dev"] == pytest.approx(np.std([1, 3, 5]))
    kll = numerical["distribution"]["kll"]
    assert len(kll["buckets"]) == 10 and sum(b["count"] for b in kll["buckets"]) == 3
    assert kll["buckets"][0]["lower_bound"] == 1.0 and kll["buckets"][-1]["upper_bound"] == 5.0
    assert kll["sketch"]["data"] == [[1.0, 3.0, 5.0]] and set(kll["sketch"]["parameters"]) == {"c", "k"}
    assert features["x"]["inferred_type"] == "Fractional"  # integers among fractions: Fractional
    strings = features["s"]["string_statistics"]
    assert features["s"]["inferred_type"] == "String" and strings["distinct_count"] == 2
    assert strings["distribution"]["categorical"]["buckets"] == [{"value": "red", "count": 2},
                                                                {"value": "blue", "count": 1}]


def test_a_feature_without_values_is_unknown() -> None:
    entry = feature_statistics("empty", [None, ""])
    assert entry["inferred_type"] == "Unknown"
    assert entry["string_statistics"]["common"] == {"num_present": 0, "num_missing": 2}


def test_a_large_sketch_keeps_the_distribution_in_at_most_k_weighted_values() -> None:
    values = np.sort(np.random.default_rng(0).normal(size=10 * SKETCH_K))
    data = sketch(values)["data"]
    assert data[:-1] == [[] for _ in data[:-1]] and len(data[-1]) <= SKETCH_K
    sample, weights = sketch_sample({"numerical_statistics": {"distribution": {"kll": {"sketch": {"data": data}}}}})
    assert abs(weights.sum() - len(values)) <= 2 ** (len(data) - 1)
    assert np.median(sample) == pytest.approx(np.median(values), abs=0.01)


def test_suggested_constraints_follow_the_statistics() -> None:
    table = Table.of([{"n": "1", "m": "-2", "s": "a"}, {"n": "", "m": "3", "s": "b"}])
    constraints = suggest_constraints(dataset_statistics(table), categorical_drift_method="ChiSquared")
    features = by_name(constraints)
    assert features["n"] == {"name": "n", "inferred_type": "Integral", "completeness": 0.5,
                             "num_constraints": {"is_non_negative": True}}
    assert features["m"]["num_constraints"] == {"is_non_negative": False}
    assert features["s"]["string_constraints"] == {"domains": ["a", "b"]}
    config = constraints["monitoring_config"]
    assert config["distribution_constraints"]["comparison_threshold"] == 0.1
    assert config["distribution_constraints"]["categorical_drift_method"] == "ChiSquared"
    read = ConstraintsConfig.of(constraints)
    assert read.evaluate and read.compare and read.comparison_method == "Robust"


def test_a_constraints_config_fills_what_is_missing_with_the_defaults() -> None:
    config = ConstraintsConfig.of({"monitoring_config": {"distribution_constraints": {"comparison_threshold": 0.3}}})
    assert config.comparison_threshold == 0.3 and config.categorical_comparison_threshold == 0.1
    assert ConstraintsConfig.of({"monitoring_config": {"evaluate_constraints": "Disabled"}}).evaluate is False


def test_the_sdk_reads_the_files(sdk_reads: Path) -> None:
    statistics = dataset_statistics(Table.of([{"_c0": "1", "_c1": "x"}, {"_c0": "2", "_c1": "y"}]))
    (sdk_reads / "statistics.json").write_text(json.dumps(statistics))
    (sdk_reads / "constraints.json").write_text(json.dumps(suggest_constraints(statistics)))
    read = Statistics.from_s3_uri("s3://bucket/statistics.json")
    assert [f["name"] for f in read.body_dict["features"]] == ["_c0", "_c1"]
    constraints = Constraints.from_s3_uri("s3://bucket/constraints.json")
    constraints.set_monitoring(False, "_c1")  # what a user does to a suggested feature
    assert constraints.body_dict["features"][1]["monitoring_config_overrides"] == {"evaluate_constraints": "Disabled"}
