"""constraints.json: what a baseline's statistics suggest each feature must satisfy, and the monitoring config.

Per feature: its inferred type, its completeness (the fraction of records holding a value), `is_non_negative`
for a numerical one, and the observed values as `domains` for a String one of small cardinality. The global
`monitoring_config` holds SageMaker's suggested defaults; `ConstraintsConfig` reads it back, a missing member
taking its default, for the checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelbay.container.model_monitor.statistics import NUMERICAL, STRING

MAX_DOMAIN = 20  # a String feature with at most this many distinct values gets a domain
DEFAULT_MONITORING_CONFIG: dict[str, Any] = {
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 1.0,  # the fraction of values that must have the baseline's type
    "domain_content_threshold": 1.0,  # the fraction of a String feature's values that must lie in its domain
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}


def suggest_constraints(statistics: dict[str, Any], categorical_drift_method: str | None = None) -> dict[str, Any]:
    """constraints.json's document suggested by a statistics document."""
    count = statistics["dataset"]["item_count"]
    config = {**DEFAULT_MONITORING_CONFIG,
              "distribution_constraints": dict(DEFAULT_MONITORING_CONFIG["distribution_constraints"])}
    if categorical_drift_method:
        config["distribution_constraints"]["categorical_drift_method"] = categorical_drift_method
    return {"version": 0, "features": [feature_constraints(entry, count) for entry in statistics["features"]],
            "monitoring_config": config}


def feature_constraints(entry: dict[str, Any], item_count: int) -> dict[str, Any]:
    """One feature's constraints from its statistics entry."""
    inferred = entry["inferred_type"]
    stats = entry.get("numerical_statistics") or entry.get("string_statistics") or {}
    present = stats.get("common", {}).get("num_present", 0)
    suggested: dict[str, Any] = {"name": entry["name"], "inferred_type": inferred,
                                 "completeness": present / item_count if item_count else 0.0}
    if inferred in NUMERICAL:
        suggested["num_constraints"] = {"is_non_negative": stats["min"] >= 0}
    elif inferred == STRING and stats.get("distinct_count", 0) <= MAX_DOMAIN:
        buckets = stats.get("distribution", {}).get("categorical", {}).get("buckets", [])
        suggested["string_constraints"] = {"domains": sorted(str(bucket["value"]) for bucket in buckets)}
    return suggested


@dataclass(frozen=True)
class ConstraintsConfig:
    """The global monitoring_config of a constraints document, defaults filled in."""

    evaluate: bool
    emit_metrics: bool
    datatype_check_threshold: float
    domain_content_threshold: float
    compare: bool
    comparison_threshold: float
    comparison_method: str
    categorical_comparison_threshold: float
    categorical_drift_method: str

    @classmethod
    def of(cls, constraints: dict[str, Any] | None) -> ConstraintsConfig:
        given = (constraints or {}).get("monitoring_config") or {}
        config = {**DEFAULT_MONITORING_CONFIG, **given}
        drift = {**DEFAULT_MONITORING_CONFIG["distribution_constraints"], **(given.get("distribution_constraints")
                                                                             or {})}
        return cls(evaluate=_enabled(config["evaluate_constraints"]), emit_metrics=_enabled(config["emit_metrics"]),
                   datatype_check_threshold=float(config["datatype_check_threshold"]),
                   domain_content_threshold=float(config["domain_content_threshold"]),
                   compare=_enabled(drift["perform_comparison"]),
                   comparison_threshold=float(drift["comparison_threshold"]),
                   comparison_method=str(drift["comparison_method"]),
                   categorical_comparison_threshold=float(drift["categorical_comparison_threshold"]),
                   categorical_drift_method=str(drift["categorical_drift_method"]))


def feature_evaluated(feature: dict[str, Any]) -> bool:
    """Whether a feature's own override leaves its constraints evaluated (the SDK's set_monitoring writes
    `monitoring_config_overrides`; SageMaker's schema spells it `monitoringConfigOverrides`)."""
    overrides = feature.get("monitoring_config_overrides") or feature.get("monitoringConfigOverrides") or {}
    return _enabled(overrides.get("evaluate_constraints", "Enabled"))


def _enabled(value: Any) -> bool:
    return str(value).lower() != "disabled"
