"""When a running trial stops early: SageMaker's median rule and Hyperband's rungs. Pure: curves in, a verdict out.

A curve is a trial's objective metric each time it was logged: (step, value) pairs, steps rising (epochs).

- The median rule (TrainingJobEarlyStoppingType=Auto), as SageMaker documents it: at the running trial's latest
  step, each earlier trial that got that far gives the running average of its objective up to that step; the
  running trial stops if its value there is worse than the median of those averages. It judges only once
  `MEDIAN_MIN_TRIALS` earlier trials got that far: fewer say little.
- Hyperband: SageMaker's is ASHA (asynchronous successive halving): rungs at MinResource * 3^k steps below
  MaxResource; a trial that reached a rung goes on only while its value there is among the best third (at least
  the best one) of the values there of itself and the trials launched before it that reached that rung, as
  Optuna's SuccessiveHalvingPruner judges. Written here rather than through Optuna's pruner, which keeps each
  trial's rung values in attributes written as the trial reports: a study rebuilt from the store has none.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence

Curve = tuple[tuple[int, float], ...]

MEDIAN_MIN_TRIALS = 3  # earlier trials at the same step the median rule needs before it judges
REDUCTION_FACTOR = 3  # Hyperband keeps the best third at each rung


def worse(value: float, than: float, *, minimize: bool) -> bool:
    return value > than if minimize else value < than


def below_median(curve: Curve, earlier: Sequence[Curve], *, minimize: bool,
                 min_trials: int = MEDIAN_MIN_TRIALS) -> bool:
    """Whether the median rule stops the trial of `curve`, given the curves of the trials launched before it."""
    if not curve:
        return False
    step, value = curve[-1]
    averages = [_running_average(other, step) for other in earlier if other and other[-1][0] >= step]
    return len(averages) >= min_trials and worse(value, statistics.median(averages), minimize=minimize)


def _running_average(curve: Curve, step: int) -> float:
    return statistics.fmean(value for at, value in curve if at <= step)


def rungs(min_resource: int, max_resource: float) -> Iterator[int]:
    """The steps at which Hyperband judges trials: MinResource, 3x, 9x, ... below MaxResource."""
    step = max(min_resource, 1)
    while step < max_resource:
        yield step
        step *= REDUCTION_FACTOR


def off_the_rungs(curve: Curve, earlier: Sequence[Curve], *, minimize: bool,
                  min_resource: int, max_resource: float) -> bool:
    """Whether Hyperband stops the trial of `curve` at a rung it has reached, against the trials launched before it."""
    for rung in rungs(min_resource, max_resource):
        value = value_at(curve, rung)
        if value is None:
            return False
        competing = [v for other in earlier if (v := value_at(other, rung)) is not None]
        if not _promotable(value, competing, minimize=minimize):
            return True
    return False


def value_at(curve: Curve, rung: int) -> float | None:
    """The value a curve had on reaching `rung`: at its first step at or past it (None if it is not there yet)."""
    return next((value for step, value in curve if step >= rung), None)


def _promotable(value: float, competing: list[float], *, minimize: bool) -> bool:
    ranked = sorted([*competing, value], reverse=not minimize)
    kept = max(len(ranked) // REDUCTION_FACTOR, 1)
    return not worse(value, ranked[kept - 1], minimize=minimize)
