"""The current data checked against a baseline: each of SageMaker's six checks on planted faults."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelbay.container.model_monitor.constraints import suggest_constraints
from modelbay.container.model_monitor.datasets import Table
from modelbay.container.model_monitor.statistics import dataset_statistics
from modelbay.container.model_monitor.violations import check


def rows(n: int, shift: float = 0.0, colours: tuple[str, ...] = ("red", "blue"),
         seed: int = 1) -> list[dict[str, Any]]:
    """Records of an integer count, a normal measure (moved by `shift`) and a colour (the same ones for a seed)."""
    rng = np.random.default_rng(seed)
    return [{"count": str(int(rng.integers(0, 10))), "measure": f"{rng.normal(shift, 1):.4f}",
             "colour": colours[i % len(colours)]} for i in range(n)]


BASELINE = Table.of(rows(2000, seed=0))
STATISTICS = dataset_statistics(BASELINE)
CONSTRAINTS = suggest_constraints(STATISTICS)


def found(table: Table, constraints: dict[str, Any] | None = CONSTRAINTS) -> set[tuple[str, str]]:
    return {(v["feature_name"], v["constraint_check_type"]) for v in check(table, constraints, STATISTICS).violations}


def test_data_like_the_baseline_violates_nothing() -> None:
    findings = check(Table.of(rows(500)), CONSTRAINTS, STATISTICS)
    assert findings.violations == []
    assert set(findings.drift) == {"count", "measure", "colour"} and max(findings.drift.values()) < 0.1


def test_a_moved_distribution_is_baseline_drift() -> None:
    findings = check(Table.of(rows(500, shift=1.5)), CONSTRAINTS, STATISTICS)
    assert [(v["feature_name"], v["constraint_check_type"]) for v in findings.violations] == [
        ("measure", "baseline_drift_check")]
    assert findings.drift["measure"] > 0.4
    assert findings.violations[0]["description"].startswith("Baseline drift distance: 0.")


def test_robust_ignores_a_gap_a_small_sample_makes_by_chance_and_simple_does_not() -> None:
    few = Table.of([{"count": "9", "measure": "0.5", "colour": "red"}] * 3)  # three records: the CDFs differ a lot
    assert ("measure", "baseline_drift_check") not in found(few)
    simple = {**CONSTRAINTS, "monitoring_config": {"distribution_constraints": {"comparison_method": "Simple"}}}
    assert ("measure", "baseline_drift_check") in found(few, simple)


def test_new_categories_are_categorical_values_and_drift() -> None:
    assert found(Table.of(rows(500, colours=("red", "green", "green", "green")))) == {
        ("colour", "categorical_values_check"), ("colour", "baseline_drift_check")}


def test_missing_values_break_completeness() -> None:
    table = Table.of([{**row, "count": "" if i % 4 == 0 else row["count"]} for i, row in enumerate(rows(400))])
    violations = check(table, CONSTRAINTS, STATISTICS).violations
    assert {(v["feature_name"], v["constraint_check_type"]) for v in violations} == {("count", "completeness_check")}
    assert violations[0]["description"] == ("Data completeness requirement is not met. Expected: 100.0%, "
                                            "Observed: Only 75.0% of data is non-null.")


def test_values_of_another_type_break_the_data_type() -> None:
    table = Table.of([{**row, "count": "2.5" if i % 10 == 0 else row["count"]} for i, row in enumerate(rows(400))])
    violations = [v for v in check(table, CONSTRAINTS, STATISTICS).violations
                  if v["constraint_check_type"] == "data_type_check"]
    assert [v["feature_name"] for v in violations] == ["count"]
    description = violations[0]["description"]
    assert "Expected data type: Integral" in description and "Only 90.0% of data is Integral" in description


def test_missing_and_extra_columns() -> None:
    table = Table.of({"count": row["count"], "colour": row["colour"], "extra": "1"} for row in rows(200))
    assert found(table) == {("measure", "missing_column_check"), ("extra", "extra_column_check")}
    description = check(table, CONSTRAINTS, STATISTICS).violations[0]["description"]
    assert description.endswith("Number of columns in current dataset: 3, Number of columns in baseline "
                                "constraints: 3")


def test_disabled_constraints_are_not_evaluated_but_drift_is_still_measured() -> None:
    moved = Table.of(rows(500, shift=3))
    off = {**CONSTRAINTS, "monitoring_config": {"evaluate_constraints": "Disabled"}}
    assert check(moved, off, STATISTICS).violations == [] and check(moved, off, STATISTICS).drift["measure"] > 0.5
    one_off = {**CONSTRAINTS, "features": [
        {**f, "monitoring_config_overrides": {"evaluate_constraints": "Disabled"}} if f["name"] == "measure" else f
        for f in CONSTRAINTS["features"]]}
    assert found(moved, one_off) == set()


def test_chi_squared_flags_a_shifted_mix_of_categories() -> None:
    chi = {**CONSTRAINTS, "monitoring_config": {"distribution_constraints": {"categorical_drift_method": "ChiSquared"}}}
    assert ("colour", "baseline_drift_check") in found(Table.of(rows(300, colours=("red", "red", "red", "blue"))),
                                                        chi)
    assert found(Table.of(rows(300)), chi) == set()


def test_without_constraints_only_drift_is_measured() -> None:
    findings = check(Table.of(rows(100, shift=2)), None, STATISTICS)
    assert findings.violations == [] and findings.drift["measure"] > 0.5
