"""What scaling policies ask for: target tracking's proportion, step scaling's steps and adjustment types."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelbay.controllers.autoscaling.capacity import adjusted, bounded, cooling, step, target_tracking
from tests.helpers import T0

STEPS = {"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [
    {"MetricIntervalUpperBound": 0, "ScalingAdjustment": -1},
    {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1},
    {"MetricIntervalLowerBound": 10, "ScalingAdjustment": 3}]}


@pytest.mark.parametrize(("current", "metric", "target", "wanted"), [
    (1, 1200.0, 60.0, 20), (2, 30.0, 60.0, 1), (3, 61.0, 60.0, 4), (4, 0.0, 60.0, 0)])
def test_target_tracking_is_proportional(current: int, metric: float, target: float, wanted: int) -> None:
    assert target_tracking(current, metric, target) == wanted


@pytest.mark.parametrize(("values", "wanted"), [([105.0], 3), ([115.0], 5), ([95.0], 1), ([90.0, 120.0], 3)])
def test_step_matches_the_breach(values: list[float], wanted: int) -> None:
    assert step(STEPS, values, 100.0, 2) == wanted


def test_step_aggregation_and_no_matching_step() -> None:
    assert step(STEPS | {"MetricAggregationType": "Maximum"}, [90.0, 120.0], 100.0, 2) == 5
    only_above = {"AdjustmentType": "ChangeInCapacity", "StepAdjustments": [
        {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]}
    assert step(only_above, [90.0], 100.0, 2) is None


@pytest.mark.parametrize(("configuration", "current", "adjustment", "wanted"), [
    ({"AdjustmentType": "ExactCapacity"}, 2, 5, 5),
    ({"AdjustmentType": "PercentChangeInCapacity"}, 10, 25, 12),
    ({"AdjustmentType": "PercentChangeInCapacity"}, 2, 10, 3),  # moves by one at least
    ({"AdjustmentType": "PercentChangeInCapacity"}, 10, -50, 5),
    ({"AdjustmentType": "PercentChangeInCapacity", "MinAdjustmentMagnitude": 3}, 10, 10, 13)])
def test_adjustment_types(configuration: dict[str, object], current: int, adjustment: int, wanted: int) -> None:
    assert adjusted(configuration, current, adjustment) == wanted


def test_bounds_and_cooldowns() -> None:
    assert (bounded(0, 1, 3), bounded(5, 1, 3), bounded(2, 1, 3)) == (1, 3, 2)
    assert cooling(T0 + timedelta(seconds=29), T0, 30) and not cooling(T0 + timedelta(seconds=30), T0, 30)
    assert not cooling(T0, None, 30)
