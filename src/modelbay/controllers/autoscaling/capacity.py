"""What a scaling policy asks for, as Application Auto Scaling computes it: target tracking's proportional capacity,
step scaling's adjustment for the breach, and the bounds and cooldowns that limit both."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

_AGGREGATIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "Average": lambda values: sum(values) / len(values), "Minimum": min, "Maximum": max}


def target_tracking(current: int, metric: float, target: float) -> int:
    """The capacity that brings the metric to the target if load stays: ceil(current × metric / target)."""
    return math.ceil(round(current * metric / target, 9))  # 2 × 30 / 60 is 1, not 1.0000000000000002 ceiled to 2


def step(configuration: dict[str, Any], values: Sequence[float], threshold: float, current: int) -> int | None:
    """The capacity the step whose interval holds the breach (the aggregated value minus the alarm's threshold)
    asks for; None when no step holds it."""
    aggregate = _AGGREGATIONS[configuration.get("MetricAggregationType", "Average")](values)
    breach = aggregate - threshold
    for adjustment in configuration["StepAdjustments"]:
        lower = adjustment.get("MetricIntervalLowerBound", -math.inf)
        upper = adjustment.get("MetricIntervalUpperBound", math.inf)
        if lower <= breach < upper or breach == upper == 0 and lower < 0:  # a breach of 0 below the threshold
            return adjusted(configuration, current, adjustment["ScalingAdjustment"])
    return None


def adjusted(configuration: dict[str, Any], current: int, adjustment: int) -> int:
    """The capacity an adjustment of the policy's AdjustmentType gives; a percentage rounds towards zero, yet moves
    by at least one (and by MinAdjustmentMagnitude, when given)."""
    kind = configuration["AdjustmentType"]
    if kind == "ExactCapacity":
        return adjustment
    if kind == "ChangeInCapacity":
        return current + adjustment
    change = int(current * adjustment / 100)
    if change == 0 and adjustment != 0:
        change = 1 if adjustment > 0 else -1
    magnitude = configuration.get("MinAdjustmentMagnitude", 0)
    if abs(change) < magnitude:
        change = magnitude if change > 0 else -magnitude
    return current + change


def bounded(capacity: int, minimum: int, maximum: int) -> int:
    return max(minimum, min(maximum, capacity))


def cooling(now: datetime, last: datetime | None, cooldown_s: int) -> bool:
    """True while the cooldown since `last` lasts."""
    return last is not None and now - last < timedelta(seconds=cooldown_s)
