"""The A/B statistics against values computed by hand and from published tables."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from modelbay.monitoring.ab_statistics import (
    Summary,
    mean_interval,
    summarize,
    t_quantile,
    t_two_sided_p,
    two_proportions,
    welch,
    wilson,
)


def proportion(successes: int, trials: int) -> Summary:
    share = successes / trials
    return Summary(trials, share, share * (1 - share) * trials / (trials - 1))


def test_wilson_interval_of_half_of_a_hundred_is_the_textbook_one() -> None:
    found = wilson(50, 100)
    assert (found.value, found.samples) == (0.5, 100)
    assert found.low == pytest.approx(0.4038, abs=1e-4) and found.high == pytest.approx(0.5962, abs=1e-4)


def test_wilson_interval_stays_within_zero_and_one_at_the_edges() -> None:
    none, every = wilson(0, 10), wilson(10, 10)
    assert none.low == pytest.approx(0.0, abs=1e-12) and none.high == pytest.approx(0.2775, abs=1e-4)
    assert every.high == 1.0 and every.low == pytest.approx(1 - none.high)


def test_two_proportion_z_test_matches_the_hand_computation() -> None:
    found = two_proportions(proportion(500, 1000), proportion(550, 1000))
    pooled_se = math.sqrt(0.525 * 0.475 * (2 / 1000))
    assert found.difference == pytest.approx(0.05)
    assert found.p_value == pytest.approx(2 * NormalDist().cdf(-0.05 / pooled_se))  # z = 2.239, p = 0.0252
    assert found.p_value == pytest.approx(0.0252, abs=1e-4) and found.is_significant
    assert found.test == "two-proportion z-test"


def test_sample_size_for_eighty_percent_power_matches_the_tables() -> None:
    # Fleiss' formula for 0.50 against 0.55, two-sided α 0.05, power 0.8: 1565 per group
    assert two_proportions(proportion(50, 100), proportion(55, 100)).samples_needed == 1565


def test_power_reached_is_about_half_when_the_difference_sits_on_the_critical_value() -> None:
    # with n per group at which z = 1.96 exactly, a test rejects about half of the time
    n = round(0.525 * 0.475 * 2 * (NormalDist().inv_cdf(0.975) / 0.05) ** 2)  # 0.5 vs 0.55: 766
    found = two_proportions(Summary(n, 0.5, 0.25), Summary(n, 0.55, 0.2475))
    assert 0.45 < found.power < 0.55 and 0.049 < found.p_value < 0.051


def test_power_at_the_needed_sample_size_is_eighty_percent() -> None:
    needed = two_proportions(proportion(50, 100), proportion(55, 100)).samples_needed
    assert needed is not None
    found = two_proportions(Summary(needed, 0.5, 0.25), Summary(needed, 0.55, 0.2475))
    assert found.power == pytest.approx(0.8, abs=0.005)


def test_no_difference_needs_no_number_of_samples_and_is_not_significant() -> None:
    found = two_proportions(proportion(30, 100), proportion(30, 100))
    assert (found.samples_needed, found.p_value, found.is_significant) == (None, 1.0, False)


@pytest.mark.parametrize(("t", "freedom", "p"), [(2.228138852, 10, 0.05), (12.7062047, 1, 0.05),
                                                 (2.0, 30, 0.05462), (0.0, 5, 1.0), (1.959963985, 1e9, 0.05)])
def test_t_distribution_tail_matches_the_tables(t: float, freedom: float, p: float) -> None:
    assert t_two_sided_p(t, freedom) == pytest.approx(p, abs=1e-4)


def test_t_quantile_inverts_the_tail() -> None:
    assert t_quantile(0.975, 10) == pytest.approx(2.228139, abs=1e-5)
    assert t_quantile(0.995, 20) == pytest.approx(2.845340, abs=1e-5)


def test_welch_t_test_matches_the_hand_computation() -> None:
    baseline, challenger = Summary(10, 1.0, 1.0), Summary(12, 2.0, 4.0)
    found = welch(baseline, challenger)
    se = math.sqrt(1.0 / 10 + 4.0 / 12)
    freedom = se ** 4 / ((1.0 / 10) ** 2 / 9 + (4.0 / 12) ** 2 / 11)  # 16.75
    assert found.difference == 1.0 and found.test == "Welch's t-test"
    assert found.p_value == pytest.approx(t_two_sided_p(1.0 / se, freedom))
    assert 0.14 < found.p_value < 0.16 and not found.is_significant
    z = NormalDist().inv_cdf(0.975) + NormalDist().inv_cdf(0.8)
    assert found.samples_needed == math.ceil(z ** 2 * (1.0 + 4.0) / 1.0)  # 40 per variant


def test_mean_interval_is_the_student_t_one() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    summary = summarize(values)
    assert (summary.count, summary.mean, summary.variance) == (5, 3.0, 2.5)
    found = mean_interval(summary)
    half = 2.776445 * math.sqrt(2.5 / 5)  # t(0.975, 4)
    assert found.low == pytest.approx(3.0 - half, abs=1e-5) and found.high == pytest.approx(3.0 + half, abs=1e-5)
