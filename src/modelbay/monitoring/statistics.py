"""CloudWatch's statistics of a datapoint: the five plain ones and the extended ones (pNN, tmNN, TM(a%:b%), IQM).

Plain statistics are exact. Extended ones come from the point's histogram (monitoring/distribution.py),
so a percentile is within distribution.RELATIVE_ERROR of a value of its rank; a point whose values
are unknown (a statistic set of distinct values) has none, as in CloudWatch.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from modelbay.monitoring import distribution
from modelbay.store.metadata.metrics import Aggregate

PLAIN: dict[str, Callable[[Aggregate], float]] = {
    "SampleCount": lambda a: a.sample_count,
    "Sum": lambda a: a.sum,
    "Average": lambda a: a.sum / a.sample_count,
    "Minimum": lambda a: a.minimum,
    "Maximum": lambda a: a.maximum,
}
_NUMBER = r"(\d{1,2}(?:\.\d{1,10})?|100(?:\.0{1,10})?)"
_PERCENTILE = re.compile(rf"p{_NUMBER}", re.IGNORECASE)
_TRIMMED_MEAN = re.compile(rf"tm{_NUMBER}", re.IGNORECASE)
_TRIMMED_RANGE = re.compile(rf"tm\({_NUMBER}?%:{_NUMBER}?%\)", re.IGNORECASE)


def is_statistic(name: str) -> bool:
    """True for a statistic CloudWatch answers (and modelbay computes)."""
    return name in PLAIN or _extended(name) is not None


def is_extended(name: str) -> bool:
    return name not in PLAIN and _extended(name) is not None


def value_of(aggregate: Aggregate, name: str) -> float | None:
    """The statistic's value for the point; None where it has none (unknown values, nothing in a trimmed range)."""
    plain = PLAIN.get(name)
    if plain is not None:
        return plain(aggregate) if aggregate.sample_count > 0 else None
    extended = _extended(name)
    if extended is None:
        raise ValueError(f"not a statistic: {name!r}")
    return extended(aggregate)


def _extended(name: str) -> Callable[[Aggregate], float | None] | None:
    if name.upper() == "IQM":
        return _trimmed(25.0, 75.0)
    if match := _PERCENTILE.fullmatch(name):
        share = float(match[1]) / 100
        return lambda a: None if a.histogram is None else distribution.percentile(
            a.histogram, share, a.minimum, a.maximum)
    if match := _TRIMMED_MEAN.fullmatch(name):
        return _trimmed(0.0, float(match[1]))
    if match := _TRIMMED_RANGE.fullmatch(name):
        low, high = float(match[1] or 0), float(match[2] or 100)
        return _trimmed(low, high) if low < high else None
    return None


def _trimmed(low: float, high: float) -> Callable[[Aggregate], float | None]:
    return lambda a: None if a.histogram is None else distribution.trimmed_mean(a.histogram, low / 100, high / 100)
