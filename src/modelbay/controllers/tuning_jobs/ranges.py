"""A tuning job's ParameterRanges as Optuna distributions, and hyperparameter values to and from SageMaker's strings.

Each range is one `Range`: its Optuna distribution over the value Optuna searches, how a string SageMaker passes
becomes that value (`parse`) and back (`format`). ScalingType:

- Linear: the range as it is; Logarithmic: Optuna's `log=True` (SageMaker requires values > 0);
- ReverseLogarithmic (continuous ranges within 0 <= x < 1): Optuna searches y = 1 - x on a log scale, so the
  values crowd towards 1 as a momentum's or a decay's should;
- Auto: SageMaker "chooses the best scale" without saying how; here Logarithmic when the range is positive and
  spans three orders of magnitude or more (MaxValue / MinValue >= 1000: a learning rate's 1e-5..1e-1), else Linear.

Integers are passed without a decimal point, continuous values as Python's shortest round-tripping repr
("0.001", "1e-05", which JSON and float() both read), categorical values as given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

AUTO_LOG_SPAN = 1000.0  # MaxValue / MinValue from which Auto searches on a log scale


@dataclass(frozen=True)
class Range:
    """One tuned hyperparameter: Optuna's distribution and the conversions between its values and SageMaker's."""

    name: str
    distribution: BaseDistribution
    parse: Callable[[str], Any]  # SageMaker's string -> Optuna's value; ValueError if it is not in the range
    format: Callable[[Any], str]  # Optuna's value -> SageMaker's string

    def grid(self) -> tuple[Any, ...]:
        """Every value of a range a grid search enumerates: categorical values, integers. ValueError otherwise."""
        dist = self.distribution
        if isinstance(dist, CategoricalDistribution):
            return tuple(dist.choices)
        if isinstance(dist, IntDistribution):  # its scale does not matter: every integer is taken
            return tuple(range(dist.low, dist.high + 1))
        raise ValueError(f"The Grid strategy cannot enumerate the continuous range of {self.name}.")


def ranges(parameter_ranges: Mapping[str, Any]) -> list[Range]:
    """The Ranges of a ParameterRanges member, in its order: integer, continuous, then categorical ranges."""
    return [*_of(parameter_ranges, "IntegerParameterRanges", _integer),
            *_of(parameter_ranges, "ContinuousParameterRanges", _continuous),
            *_of(parameter_ranges, "CategoricalParameterRanges", _categorical)]


def _of(parameter_ranges: Mapping[str, Any], member: str, make: Callable[[dict[str, Any]], Range]) -> Iterator[Range]:
    return (make(spec) for spec in parameter_ranges.get(member) or ())


def scaling(spec: Mapping[str, Any], low: float, high: float) -> str:
    """The scale a range is searched on: its ScalingType, Auto resolved."""
    chosen = str(spec.get("ScalingType") or "Auto")
    if chosen != "Auto":
        return chosen
    return "Logarithmic" if low > 0 and high / low >= AUTO_LOG_SPAN else "Linear"


def _integer(spec: dict[str, Any]) -> Range:
    name, low, high = spec["Name"], int(spec["MinValue"]), int(spec["MaxValue"])
    scale = scaling(spec, low, high)
    if scale == "ReverseLogarithmic":
        raise ValueError(f"The ReverseLogarithmic scaling type is not supported for the integer range of {name}.")
    _check_bounds(name, low, high, scale)

    def parse(text: str) -> int:
        number = float(text)
        if not number.is_integer() or not low <= number <= high:
            raise ValueError(f"{text!r} is not an integer of {name}'s range [{low}, {high}]")
        return int(number)

    return Range(name, IntDistribution(low, high, log=scale == "Logarithmic"), parse, lambda value: str(int(value)))


def _continuous(spec: dict[str, Any]) -> Range:
    name, low, high = spec["Name"], float(spec["MinValue"]), float(spec["MaxValue"])
    scale = scaling(spec, low, high)
    _check_bounds(name, low, high, scale)

    def clip(value: float) -> float:
        return min(max(value, low), high)

    def parse(text: str) -> float:
        number = float(text)
        if not low <= number <= high:
            raise ValueError(f"{text!r} is outside {name}'s range [{low}, {high}]")
        return _flip(number) if scale == "ReverseLogarithmic" else number

    if scale == "ReverseLogarithmic":  # Optuna searches y = 1 - x, log-scaled; clip: 1 - (1 - x) may be off by an ulp
        distribution = FloatDistribution(_flip(high), _flip(low), log=True)
        return Range(name, distribution, lambda text: _clip_to(distribution, parse(text)),
                     lambda value: repr(clip(_flip(float(value)))))
    return Range(name, FloatDistribution(low, high, log=scale == "Logarithmic"), parse,
                 lambda value: repr(clip(float(value))))


def _flip(value: float) -> float:
    return 1.0 - value


def _clip_to(distribution: FloatDistribution, value: float) -> float:
    return min(max(value, distribution.low), distribution.high)


def _categorical(spec: dict[str, Any]) -> Range:
    name, values = spec["Name"], tuple(str(value) for value in spec["Values"])

    def parse(text: str) -> str:
        if text not in values:
            raise ValueError(f"{text!r} is not one of {name}'s values")
        return text

    return Range(name, CategoricalDistribution(values), parse, str)


def _check_bounds(name: str, low: float, high: float, scale: str) -> None:
    """What Optuna's distributions need; the service rejects these first, in SageMaker's words."""
    if low > high:
        raise ValueError(f"The MinValue of {name} is greater than its MaxValue.")
    if scale == "Logarithmic" and low <= 0:
        raise ValueError(f"The Logarithmic scaling type of {name} needs values greater than 0.")
    if scale == "ReverseLogarithmic" and not (low >= 0 and high < 1):
        raise ValueError(f"The ReverseLogarithmic scaling type of {name} needs values in 0 <= x < 1.")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"The range of {name} must be finite.")
