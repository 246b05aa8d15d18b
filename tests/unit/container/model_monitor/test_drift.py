"""Distribution distances: L-infinity between CDFs and between frequencies, and the chi-squared test."""

from __future__ import annotations

import numpy as np
import pytest

from modelbay.container.model_monitor import drift


def test_the_numerical_distance_is_the_largest_gap_between_the_cdfs() -> None:
    same = np.array([1.0, 2.0, 3.0, 4.0])
    assert drift.linf_numerical(same, np.ones(4), same) == 0.0
    # baseline {1, 2, 3, 4}, current {3, 4, 5, 6}: at x = 2, 0.5 against 0
    assert drift.linf_numerical(same, np.ones(4), same + 2) == 0.5
    assert drift.linf_numerical(same, np.ones(4), same + 10) == 1.0


def test_sketch_weights_count_as_repeated_values() -> None:
    weighted = drift.linf_numerical(np.array([1.0, 2.0]), np.array([3.0, 1.0]), np.array([1.0, 1.0, 1.0, 2.0]))
    assert weighted == 0.0


def test_robust_asks_more_of_small_samples() -> None:
    assert drift.robust_threshold(0.1, 10, 10) == pytest.approx(1.358 * np.sqrt(0.2))
    assert drift.robust_threshold(0.1, 100_000, 100_000) == 0.1


def test_the_categorical_distance_is_the_largest_frequency_gap() -> None:
    assert drift.linf_categorical({"a": 5, "b": 5}, {"a": 10, "b": 10}) == 0.0
    assert drift.linf_categorical({"a": 5, "b": 5}, {"a": 2, "b": 6, "c": 2}) == pytest.approx(0.3)


@pytest.mark.parametrize(("statistic", "dof", "p_value"), [
    (3.841459, 1, 0.05), (5.991465, 2, 0.05), (18.307038, 10, 0.05), (0.5, 3, 0.918891), (30.0, 2, 3.059e-7),
])
def test_the_chi_squared_survival_matches_its_tables(statistic: float, dof: int, p_value: float) -> None:
    assert drift._chi2_survival(statistic, dof) == pytest.approx(p_value, rel=1e-4)


def test_chi_squared_tells_a_shift_from_noise() -> None:
    baseline = {"a": 500.0, "b": 500.0}
    assert drift.chi_squared_p_value(baseline, {"a": 52.0, "b": 48.0}) > 0.5
    assert drift.chi_squared_p_value(baseline, {"a": 90.0, "b": 10.0}) < 1e-6
