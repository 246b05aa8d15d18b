"""constraint_violations.json: the current data checked against a baseline's constraints and statistics.

The checks are SageMaker's six: `missing_column_check` and `extra_column_check` (features the baseline has and the
data lacks, or the other way), and per feature the baseline constrains (unless its override disables it):
`data_type_check` (the fraction of values of the baseline's type below `datatype_check_threshold`),
`completeness_check` (fewer records hold a value than the baseline's `completeness`), `categorical_values_check`
(the fraction of a String feature's values in its `domains` below `domain_content_threshold`) and
`baseline_drift_check` (the distribution's distance to the baseline statistics' beyond the thresholds, drift.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from modelbay.container.model_monitor import drift
from modelbay.container.model_monitor.constraints import ConstraintsConfig, feature_evaluated
from modelbay.container.model_monitor.datasets import Table
from modelbay.container.model_monitor.statistics import (
    FRACTIONAL,
    INTEGRAL,
    NUMERICAL,
    categorical_counts,
    numbers,
    sketch_sample,
    strings,
    value_type,
)

_MATCHING = {INTEGRAL: {INTEGRAL}, FRACTIONAL: set(NUMERICAL)}  # the value types each baseline type accepts
_EPSILON = 1e-9


class Distance(NamedTuple):
    """A feature's distance to the baseline, the most it may be, and how it was measured."""

    value: float
    threshold: float
    method: str


@dataclass
class Findings:
    """What a check found: the violations, and each feature's distance to the baseline (for metrics)."""

    violations: list[dict[str, str]] = field(default_factory=list)
    drift: dict[str, float] = field(default_factory=dict)

    def add(self, feature: str, check: str, description: str) -> None:
        self.violations.append({"feature_name": feature, "constraint_check_type": check,
                                "description": description})


def check(table: Table, constraints: dict[str, Any] | None, baseline_statistics: dict[str, Any] | None) -> Findings:
    """The violations of `table` against the baseline, and its drift from the baseline statistics."""
    findings = Findings()
    config = ConstraintsConfig.of(constraints)
    baseline = {entry["name"]: entry for entry in (baseline_statistics or {}).get("features", [])}
    distances = {name: _distance(baseline[name], table.column(name), config)
                 for name in table.names if name in baseline}
    findings.drift = {name: distance.value for name, distance in distances.items()}
    if constraints is None or not config.evaluate:
        return findings
    features = constraints.get("features", [])
    _columns(findings, [f["name"] for f in features], table.names)
    for feature in features:
        if feature["name"] in table.names and feature_evaluated(feature):
            _feature(findings, feature, table.column(feature["name"]), config, distances.get(feature["name"]))
    return findings


def _columns(findings: Findings, expected: Sequence[str], found: Sequence[str]) -> None:
    counts = f"Number of columns in current dataset: {len(found)}, Number of columns in baseline constraints: " \
             f"{len(expected)}"
    for name in expected:
        if name not in found:
            findings.add(name, "missing_column_check", f"There are missing columns in current dataset. {counts}")
    for name in found:
        if name not in expected:
            findings.add(name, "extra_column_check", f"There are extra columns in current dataset. {counts}")


def _feature(findings: Findings, feature: dict[str, Any], values: list[Any], config: ConstraintsConfig,
             distance: Distance | None) -> None:
    """The checks of one feature the baseline constrains."""
    descriptions = {"data_type_check": _data_type(feature, values, config),
                    "completeness_check": _completeness(feature, values),
                    "categorical_values_check": _categorical_values(feature, values, config),
                    "baseline_drift_check": _drift(distance, config)}
    for check_type, description in descriptions.items():
        if description is not None:
            findings.add(feature["name"], check_type, description)


def _data_type(feature: dict[str, Any], values: list[Any], config: ConstraintsConfig) -> str | None:
    expected = feature.get("inferred_type")
    present = [t for t in map(value_type, values) if t is not None]
    if expected not in _MATCHING or not present:
        return None
    matching = sum(t in _MATCHING[expected] for t in present) / len(present)
    if matching >= config.datatype_check_threshold - _EPSILON:
        return None
    return (f"Data type match requirement is not met. Expected data type: {expected}, Expected match: "
            f"{_percent(config.datatype_check_threshold)}. Observed: Only {_percent(matching)} of data is {expected}.")


def _completeness(feature: dict[str, Any], values: list[Any]) -> str | None:
    completeness = sum(value_type(v) is not None for v in values) / len(values) if values else 0.0
    if "completeness" not in feature or completeness >= float(feature["completeness"]) - _EPSILON:
        return None
    return (f"Data completeness requirement is not met. Expected: {_percent(feature['completeness'])}, "
            f"Observed: Only {_percent(completeness)} of data is non-null.")


def _categorical_values(feature: dict[str, Any], values: list[Any], config: ConstraintsConfig) -> str | None:
    domains = (feature.get("string_constraints") or {}).get("domains")
    texts = strings(values)
    if domains is None or not texts:
        return None
    known = set(map(str, domains))
    inside = sum(text in known for text in texts) / len(texts)
    if inside >= config.domain_content_threshold - _EPSILON:
        return None
    unknown = sorted({text for text in texts if text not in known})
    return (f"Data value match requirement is not met. Expected match: {_percent(config.domain_content_threshold)}. "
            f"Observed: Only {_percent(inside)} of data is within the baseline domain. Values outside it: "
            f"{', '.join(unknown[:10])}")


def _drift(distance: Distance | None, config: ConstraintsConfig) -> str | None:
    if distance is None or not config.compare or distance.value <= distance.threshold:
        return None
    return (f"Baseline drift distance: {distance.value:.6g} exceeds threshold: {distance.threshold:.6g} "
            f"({distance.method})")


def _distance(baseline: dict[str, Any], values: list[Any], config: ConstraintsConfig) -> Distance:
    """The distance of `values` to a baseline statistics entry, the threshold it must not pass, and the method."""
    if "numerical_statistics" in baseline:
        sample, weights = sketch_sample(baseline)
        current = numbers(values)
        distance = drift.linf_numerical(sample, weights, current)
        if config.comparison_method.lower() == "simple":
            return Distance(distance, config.comparison_threshold, "Simple")
        return Distance(distance, drift.robust_threshold(config.comparison_threshold, float(weights.sum()),
                                                         float(len(current))), "Robust")
    expected, observed = categorical_counts(baseline), {k: float(v) for k, v in Counter(strings(values)).items()}
    distance = drift.linf_categorical(expected, observed)
    if config.categorical_drift_method.lower() == "chisquared":
        # drift when the test rejects: 1 - p above 1 - threshold, so "distance > threshold" reads the same way
        p_value = drift.chi_squared_p_value(expected, observed)
        return Distance(1 - p_value, 1 - config.categorical_comparison_threshold, "ChiSquared, 1 - p-value")
    return Distance(distance, config.categorical_comparison_threshold, "LInfinity")


def _percent(fraction: float) -> str:
    return f"{float(fraction) * 100:.1f}%"
