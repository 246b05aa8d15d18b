"""Distribution distances between a baseline and the current data, as SageMaker's data-quality checks measure them.

Numerical: the L-infinity distance between the two empirical CDFs (the two-sample Kolmogorov-Smirnov statistic),
the baseline's read from its statistics' sketch. `Simple` flags a distance above the threshold; `Robust` also asks
that it exceed the KS test's critical value at 95 %, so that a few records do not report drift by chance.
Categorical: `LInfinity` is the largest difference between a value's frequencies; `ChiSquared` is the p-value of
Pearson's test of the current counts against the baseline's frequencies, drift when below the threshold.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

Floats = np.ndarray[Any, np.dtype[np.float64]]
KS_CRITICAL_95 = 1.358  # c(alpha) of the two-sample KS test at alpha = 0.05


def linf_numerical(baseline: Floats, weights: Floats, current: Floats) -> float:
    """max |F_baseline(x) - F_current(x)| over every x, the baseline's values weighted."""
    if not len(baseline) or not len(current):
        return 0.0
    order = np.argsort(baseline, kind="stable")
    base_sorted, base_cdf = baseline[order], np.cumsum(weights[order]) / weights.sum()
    ordered = np.sort(current)
    points = np.union1d(base_sorted, ordered)
    at_base = np.searchsorted(base_sorted, points, side="right")
    f_base = np.where(at_base > 0, base_cdf[np.maximum(at_base - 1, 0)], 0.0)
    f_current = np.searchsorted(ordered, points, side="right") / len(ordered)
    return float(np.max(np.abs(f_base - f_current)))


def robust_threshold(threshold: float, baseline_count: float, current_count: float) -> float:
    """The distance `Robust` needs: the threshold, or the KS critical value for these sample sizes if larger."""
    if baseline_count <= 0 or current_count <= 0:
        return threshold
    critical = KS_CRITICAL_95 * math.sqrt((baseline_count + current_count) / (baseline_count * current_count))
    return max(threshold, critical)


def linf_categorical(baseline: dict[str, float], current: dict[str, float]) -> float:
    """max over values of |p_baseline(v) - p_current(v)|."""
    base_total, current_total = sum(baseline.values()), sum(current.values())
    if not base_total or not current_total:
        return 0.0
    return max(abs(baseline.get(v, 0.0) / base_total - current.get(v, 0.0) / current_total)
               for v in baseline.keys() | current.keys())


def chi_squared_p_value(baseline: dict[str, float], current: dict[str, float]) -> float:
    """The p-value of Pearson's chi-squared test of `current` counts against the baseline's frequencies (a value
    the baseline never saw is expected half a count, so that it weighs without dividing by zero)."""
    base_total, current_total = sum(baseline.values()), sum(current.values())
    if not base_total or not current_total:
        return 1.0
    values = baseline.keys() | current.keys()
    expected = {v: max(baseline.get(v, 0.0) / base_total * current_total, 0.5) for v in values}
    statistic = sum((current.get(v, 0.0) - expected[v]) ** 2 / expected[v] for v in values)
    return _chi2_survival(statistic, len(values) - 1)


def _chi2_survival(statistic: float, dof: int) -> float:
    """P(X > statistic) for X chi-squared with `dof` degrees of freedom: Q(dof/2, statistic/2)."""
    if dof <= 0:
        return 1.0
    return _upper_regularized_gamma(dof / 2, statistic / 2)


def _upper_regularized_gamma(a: float, x: float) -> float:
    """Q(a, x), by its series below a + 1 and its continued fraction above (Numerical Recipes' gammq)."""
    if x <= 0:
        return 1.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-15:
            n += 1
            term *= x / n
            total += term
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b, c, d = x + 1 - a, 1 / tiny, 1 / (x + 1 - a)
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h)
