"""A metric's values as log-scaled buckets: what percentiles and trimmed means of roll-ups are computed from.

CloudWatch computes ExtendedStatistics (p99, tm90) from the values themselves; keeping every value of
a 455-day roll-up is out of the question, so each datapoint keeps a histogram instead. Bucket k > 0
holds the positive values in (SMALLEST·γ^(k-2), SMALLEST·γ^(k-1)], bucket -k their negatives and
bucket 0 the values nearer zero than SMALLEST, with γ = (1 + α) / (1 - α). A bucket is reported as
the value whose relative distance to both its bounds is α, so an estimated percentile is within
RELATIVE_ERROR (α = 1 %) of a value of the right rank (the DDSketch mapping). Histograms merge by
adding counts (store/metadata/metrics.py's Aggregate.merge), which is what rolling points up into
longer periods needs; buckets are sparse, so values spanning three orders of magnitude need a few
hundred at most.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

RELATIVE_ERROR = 0.01
SMALLEST = 1e-100  # CloudWatch rejects magnitudes below 8.5e-109; anything nearer zero is counted as zero
_GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(_GAMMA)

Histogram = dict[int, float]  # bucket → count of values in it (PutMetricData's Counts may be fractional)


def bucket_of(value: float) -> int:
    """The bucket that holds `value`; buckets sort as their values do."""
    magnitude = abs(value)
    if magnitude < SMALLEST:
        return 0
    index = 1 + math.ceil(math.log(magnitude / SMALLEST) / _LOG_GAMMA)
    return index if value > 0 else -index


def representative(bucket: int) -> float:
    """The value a bucket stands for: within RELATIVE_ERROR of every value it holds."""
    if bucket == 0:
        return 0.0
    value = 2 * SMALLEST * _GAMMA ** (abs(bucket) - 1) / (_GAMMA + 1)
    return value if bucket > 0 else -value


def add(histogram: Histogram, value: float, count: float = 1.0) -> None:
    bucket = bucket_of(value)
    histogram[bucket] = histogram.get(bucket, 0.0) + count


def percentile(histogram: Histogram, fraction: float, minimum: float, maximum: float) -> float:
    """The value at `fraction` (0–1) of the ranks (nearest rank), kept within the exact minimum and maximum."""
    total = sum(histogram.values())
    if fraction <= 0 or total <= 0:
        return minimum
    if fraction >= 1:
        return maximum
    rank, seen = fraction * total, 0.0
    for bucket, count in sorted(histogram.items()):
        seen += count
        if seen >= rank * (1 - 1e-12):
            return min(max(representative(bucket), minimum), maximum)
    return maximum


def trimmed_mean(histogram: Histogram, low: float, high: float) -> float | None:
    """The mean of the values ranked between fractions `low` and `high` (0–1) of the whole; None if none are."""
    total = sum(histogram.values())
    weight = amount = 0.0
    for value, start, count in _ranked(histogram):
        inside = min(start + count, high * total) - max(start, low * total)
        if inside > 0:
            weight, amount = weight + inside, amount + inside * value
    return amount / weight if weight > 0 else None


def _ranked(histogram: Histogram) -> Iterator[tuple[float, float, float]]:
    """(value, rank of its first count, count) per bucket in value order."""
    start = 0.0
    for bucket, count in sorted(histogram.items()):
        yield representative(bucket), start, count
        start += count
