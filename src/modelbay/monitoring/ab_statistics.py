"""The statistics of an A/B verdict: confidence intervals, significance tests, power and the samples still needed.

Two kinds of metric are compared. A proportion (accuracy, an error rate) has a Wilson interval and is compared with
the two-proportion z-test (pooled standard error). A mean of per-sample values (squared errors for RMSE, absolute
errors for MAE, latencies) has a Student t-interval and is compared with Welch's t-test (its p-value from the t
distribution at the Welch–Satterthwaite degrees of freedom). Power and sample sizes use the normal approximation, as
the usual sample-size tables do: the power reached for the observed difference with the samples at hand, and the
samples per variant that would give POWER at ALPHA (two-sided) if the observed difference is the true one.

Only the standard library is used (`statistics.NormalDist`, and the t distribution through the regularized
incomplete beta function below), so the server needs no SciPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

__all__ = ["ALPHA", "POWER", "Comparison", "Estimate", "Summary", "mean_interval", "summarize", "t_two_sided_p",
           "t_quantile", "two_proportions", "welch", "wilson"]

ALPHA = 0.05
POWER = 0.8
_NORMAL = NormalDist()
_Z_ALPHA = _NORMAL.inv_cdf(1 - ALPHA / 2)
_Z_POWER = _NORMAL.inv_cdf(POWER)


@dataclass(frozen=True)
class Estimate:
    """A metric's value over `samples` and its (1 - ALPHA) confidence interval."""

    value: float
    low: float
    high: float
    samples: int


@dataclass(frozen=True)
class Summary:
    """A sample of per-sample values (1s and 0s for a proportion): what the tests need of it."""

    count: int
    mean: float
    variance: float  # the sample variance (n - 1 in the denominator); 0 for fewer than two values


@dataclass(frozen=True)
class Comparison:
    """A challenger against a baseline: difference (challenger - baseline), the test's p-value, the power reached
    for that difference, and the samples per variant needed for POWER (None: no difference was observed, so no
    number of samples would show one)."""

    test: str
    difference: float
    p_value: float
    power: float
    samples_needed: int | None

    @property
    def is_significant(self) -> bool:
        return self.p_value < ALPHA


def summarize(values: list[float]) -> Summary:
    count = len(values)
    mean = math.fsum(values) / count if count else 0.0
    variance = math.fsum((value - mean) ** 2 for value in values) / (count - 1) if count > 1 else 0.0
    return Summary(count, mean, variance)


def wilson(successes: int, trials: int) -> Estimate:
    """The share of successes with its Wilson score interval (sound near 0 and 1, and for few trials)."""
    if trials == 0:
        return Estimate(math.nan, 0.0, 1.0, 0)
    share, z2 = successes / trials, _Z_ALPHA ** 2
    centre = (share + z2 / (2 * trials)) / (1 + z2 / trials)
    half = _Z_ALPHA * math.sqrt(share * (1 - share) / trials + z2 / (4 * trials ** 2)) / (1 + z2 / trials)
    return Estimate(share, max(centre - half, 0.0), min(centre + half, 1.0), trials)


def mean_interval(summary: Summary) -> Estimate:
    """The mean with its Student t-interval (unbounded for fewer than two values)."""
    if summary.count < 2:
        return Estimate(summary.mean if summary.count else math.nan, -math.inf, math.inf, summary.count)
    half = t_quantile(1 - ALPHA / 2, summary.count - 1) * math.sqrt(summary.variance / summary.count)
    return Estimate(summary.mean, summary.mean - half, summary.mean + half, summary.count)


def two_proportions(baseline: Summary, challenger: Summary) -> Comparison:
    """The two-proportion z-test (pooled), its power and the samples per variant for POWER."""
    p1, p2, n1, n2 = baseline.mean, challenger.mean, baseline.count, challenger.count
    difference = p2 - p1
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    null_se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    observed_se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    p_value = 1.0 if null_se == 0 else 2 * _NORMAL.cdf(-abs(difference) / null_se)
    needed = None
    if difference != 0:
        mean = (p1 + p2) / 2
        needed = math.ceil((_Z_ALPHA * math.sqrt(2 * mean * (1 - mean))
                            + _Z_POWER * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / difference ** 2)
    return Comparison("two-proportion z-test", difference, p_value, _power(difference, null_se, observed_se), needed)


def welch(baseline: Summary, challenger: Summary) -> Comparison:
    """Welch's t-test of two means (unequal variances), its power and the samples per variant for POWER."""
    v1, v2, n1, n2 = baseline.variance, challenger.variance, baseline.count, challenger.count
    difference = challenger.mean - baseline.mean
    se = math.sqrt(v1 / n1 + v2 / n2)
    if se == 0:
        p_value = 1.0 if difference == 0 else 0.0
    else:
        freedom = se ** 4 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
        p_value = t_two_sided_p(difference / se, freedom)
    needed = None if difference == 0 else max(2, math.ceil((_Z_ALPHA + _Z_POWER) ** 2 * (v1 + v2) / difference ** 2))
    return Comparison("Welch's t-test", difference, p_value, _power(difference, se, se), needed)


def _power(difference: float, null_se: float, observed_se: float) -> float:
    """The chance a two-sided test at ALPHA rejects when `difference` is true (normal approximation)."""
    if observed_se == 0:
        return 1.0 if difference != 0 else ALPHA
    critical = _Z_ALPHA * null_se
    return (_NORMAL.cdf((abs(difference) - critical) / observed_se)
            + _NORMAL.cdf((-abs(difference) - critical) / observed_se))


def t_two_sided_p(t: float, freedom: float) -> float:
    """P(|T| >= |t|) for Student's T with `freedom` degrees of freedom (any positive real)."""
    return _incomplete_beta(freedom / (freedom + t * t), freedom / 2, 0.5)


def t_quantile(probability: float, freedom: float) -> float:
    """The t with P(T <= t) = probability (0.5 < probability < 1), by bisection on t_two_sided_p."""
    tail, low, high = 2 * (1 - probability), 0.0, 1.0
    while t_two_sided_p(high, freedom) > tail:
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if t_two_sided_p(middle, freedom) > tail else (low, middle)
    return (low + high) / 2


def _incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (Lentz's method)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast on this side only
        return 1.0 - _incomplete_beta(1 - x, b, a)
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return front * result / a
