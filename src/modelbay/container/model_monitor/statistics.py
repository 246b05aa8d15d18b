"""statistics.json: each feature's inferred type, completeness and distribution, in SageMaker's schema.

A value is Integral (an integer, or text that reads as one), Fractional (a finite number), String (anything
else) or missing (None, empty text, NaN). A feature is Unknown when it has no value, String when any value is
one, else Fractional when any value is, else Integral. Numerical distributions are exact: `kll.buckets` are ten
equal-width buckets between min and max (as SageMaker materialises them), and `kll.sketch` holds the sorted
values in KLL's layout (`data[level]`, an item at level h weighing 2^h): every value at level 0 up to K of them,
beyond that one value per 2^h at the level h that fits K, so the distribution stays comparable in a few KB.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelbay.container.model_monitor.datasets import Table

INTEGRAL, FRACTIONAL, STRING, UNKNOWN = "Integral", "Fractional", "String", "Unknown"
NUMERICAL = (INTEGRAL, FRACTIONAL)
SKETCH_K, SKETCH_C = 2048, 0.64
BUCKETS = 10


def value_type(value: Any) -> str | None:
    """The type of one raw value; None when it is missing."""
    if value is None:
        return None
    if isinstance(value, bool):  # before int, which bool is in Python
        return STRING
    if isinstance(value, int):
        return INTEGRAL
    if isinstance(value, float):
        return FRACTIONAL if math.isfinite(value) else None
    if not isinstance(value, str):
        return STRING
    text = value.strip()
    if not text or text.lower() == "nan":
        return None
    try:
        int(text)
        return INTEGRAL
    except ValueError:
        pass
    try:
        return FRACTIONAL if math.isfinite(float(text)) else STRING
    except ValueError:
        return STRING


def feature_type(types: Sequence[str | None]) -> str:
    """A feature's type from its values' types."""
    present = set(types) - {None}
    if not present:
        return UNKNOWN
    return STRING if STRING in present else FRACTIONAL if FRACTIONAL in present else INTEGRAL


def numbers(values: Sequence[Any]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The numerical values among `values`, as floats (missing and String ones left out)."""
    return np.array([float(v) for v in values if value_type(v) in NUMERICAL], dtype=np.float64)


def strings(values: Sequence[Any]) -> list[str]:
    """The present values as text, as a String feature counts them."""
    return [v.strip() if isinstance(v, str) else json.dumps(v) for v in values if value_type(v) is not None]


def dataset_statistics(table: Table) -> dict[str, Any]:
    """statistics.json's document for `table`."""
    return {"version": 0, "dataset": {"item_count": len(table.records)},
            "features": [feature_statistics(name, table.column(name)) for name in table.names]}


def feature_statistics(name: str, values: Sequence[Any]) -> dict[str, Any]:
    """One feature's entry: numerical_statistics for Integral and Fractional, string_statistics otherwise."""
    types = [value_type(v) for v in values]
    inferred = feature_type(types)
    present = sum(t is not None for t in types)
    common = {"num_present": present, "num_missing": len(values) - present}
    if inferred in NUMERICAL:
        return {"name": name, "inferred_type": inferred,
                "numerical_statistics": {"common": common, **numerical_summary(numbers(values))}}
    counts = Counter(strings(values))
    return {"name": name, "inferred_type": inferred, "string_statistics": {
        "common": common, "distinct_count": len(counts),
        "distribution": {"categorical": {"buckets": [{"value": value, "count": count}
                                                     for value, count in counts.most_common()]}}}}


def numerical_summary(values: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, Any]:
    """mean, sum, std_dev (of the population), min, max and the KLL distribution of present values."""
    ordered = np.sort(values)
    return {"mean": float(ordered.mean()), "sum": float(ordered.sum()), "std_dev": float(ordered.std()),
            "min": float(ordered[0]), "max": float(ordered[-1]),
            "distribution": {"kll": {"buckets": buckets(ordered), "sketch": sketch(ordered)}}}


def buckets(ordered: np.ndarray[Any, np.dtype[np.float64]]) -> list[dict[str, float]]:
    """Ten equal-width buckets from min to max with their counts (one bucket when every value is the same)."""
    low, high = float(ordered[0]), float(ordered[-1])
    if low == high:
        return [{"lower_bound": low, "upper_bound": high, "count": float(len(ordered))}]
    counts, edges = np.histogram(ordered, bins=BUCKETS, range=(low, high))
    return [{"lower_bound": float(edges[i]), "upper_bound": float(edges[i + 1]), "count": float(counts[i])}
            for i in range(BUCKETS)]


def sketch(ordered: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, Any]:
    """The sorted values in KLL's layout (see the module docstring)."""
    level = max(0, math.ceil(math.log2(len(ordered) / SKETCH_K))) if len(ordered) else 0
    weight = 2 ** level
    kept = ordered[weight // 2::weight] if level else ordered
    return {"parameters": {"c": SKETCH_C, "k": float(SKETCH_K)},
            "data": [[] for _ in range(level)] + [[float(v) for v in kept]]}


def sketch_sample(entry: dict[str, Any]) -> tuple[np.ndarray[Any, np.dtype[np.float64]],
                                                  np.ndarray[Any, np.dtype[np.float64]]]:
    """The values of a sketch in a statistics entry and each one's weight (2^level); empty when it has none."""
    data = (((entry.get("numerical_statistics") or {}).get("distribution") or {}).get("kll") or {}) \
        .get("sketch", {}).get("data") or []
    values = [float(v) for level in data for v in level]
    weights = [float(2 ** h) for h, level in enumerate(data) for _ in level]
    return np.array(values, dtype=np.float64), np.array(weights, dtype=np.float64)


def categorical_counts(entry: dict[str, Any]) -> dict[str, float]:
    """A String feature's value counts from its statistics entry."""
    found = (((entry.get("string_statistics") or {}).get("distribution") or {}).get("categorical") or {}) \
        .get("buckets") or []
    return {str(bucket["value"]): float(bucket["count"]) for bucket in found}
