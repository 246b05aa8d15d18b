"""How CloudWatch decides an alarm's state from its latest datapoints, with the reason it gives.

The alarm looks at its evaluation range, `evaluation_periods + RANGE_EXTRA` periods (CloudWatch's example:
3 evaluation periods look at 5), and judges the newest `evaluation_periods` datapoints in it: ALARM when
`datapoints_to_alarm` of them breach the threshold, else OK. When fewer datapoints than that exist, the
missing ones are filled, as few as possible, as TreatMissingData says: breaching or notBreaching fill
them with breaching or good values; missing and ignore judge the datapoints there are when they decide
the state either way, else keep it; with no datapoint at all, missing gives INSUFFICIENT_DATA and
ignore keeps the state.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelbay.monitoring import statistics
from modelbay.store.metadata.alarms import ALARM, INSUFFICIENT_DATA, OK, AlarmSpec

RANGE_EXTRA = 2
COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
_FILLED = {"breaching": "Breaching", "notBreaching": "NonBreaching"}


@dataclass(frozen=True)
class Datapoint:
    """One period's value of the alarm's statistic or expression (None: missing), at the period's start."""

    timestamp: int
    value: float | None
    sample_count: float | None = None


@dataclass(frozen=True)
class Verdict:
    """The state an evaluation gives, its StateReason and its StateReasonData."""

    value: str
    reason: str
    reason_data: dict[str, Any]


def evaluation_range(spec: AlarmSpec) -> int:
    return spec.evaluation_periods + RANGE_EXTRA


def evaluate(spec: AlarmSpec, datapoints: Sequence[Datapoint], current: str, now: datetime) -> Verdict | None:
    """The alarm's state given the evaluation range's `datapoints`, newest first; None keeps `current`."""
    wanted, needed = spec.evaluation_periods, spec.datapoints_to_alarm
    present = [point for point in datapoints if point.value is not None]
    if len(present) >= wanted:
        return _judged(spec, present[:wanted], 0, now)
    filled = wanted - len(present)
    if spec.treat_missing_data in _FILLED:
        return _judged(spec, present, filled, now, evaluated=_with_missing(datapoints, filled))
    if not present:
        if spec.treat_missing_data == "ignore":
            return None
        return Verdict(INSUFFICIENT_DATA, f"Insufficient Data: {_count(len(datapoints), 'datapoint')} "
                                          f"{_verb(len(datapoints))} unknown.", _reason_data(spec, [], now))
    breaching = sum(_breaches(spec, point) for point in present)
    decided = breaching >= needed or len(present) - breaching > wanted - needed
    return _judged(spec, present, 0, now) if decided else None


def _judged(spec: AlarmSpec, present: list[Datapoint], filled: int, now: datetime,
            evaluated: list[Datapoint] | None = None) -> Verdict:
    """ALARM or OK from the datapoints there are and `filled` missing ones, treated as TreatMissingData says."""
    is_breaching = spec.treat_missing_data == "breaching"
    breaching = sum(_breaches(spec, point) for point in present) + (filled if is_breaching else 0)
    state = ALARM if breaching >= spec.datapoints_to_alarm else OK
    data = _reason_data(spec, evaluated if evaluated is not None else present, now)
    if not present:
        kind = _FILLED[spec.treat_missing_data]
        return Verdict(state, f"Threshold Crossed: no datapoints were received for {_count(filled, 'period')} and "
                              f"{_count(filled, 'missing datapoint')} {_verb(filled)} treated as [{kind}].", data)
    wording = COMPARISONS[spec.comparison][1]
    counted = breaching if state == ALARM else spec.evaluation_periods - breaching
    minimum = spec.datapoints_to_alarm if state == ALARM else spec.evaluation_periods - spec.datapoints_to_alarm + 1
    move = "OK -> ALARM" if state == ALARM else "ALARM -> OK"
    shown = ", ".join(f"{point.value} ({_reason_time(point.timestamp)})" for point in present)
    reason = (f"Threshold Crossed: {counted} out of the last {spec.evaluation_periods} datapoints [{shown}] "
              f"{_verb(counted)} {'' if state == ALARM else 'not '}{wording} the threshold ({spec.threshold}) "
              f"(minimum {_count(minimum, 'datapoint')} for {move} transition).")
    if filled:
        reason = reason[:-1] + (f" {_count(filled, 'missing datapoint')} {_verb(filled)} treated as "
                                f"[{_FILLED[spec.treat_missing_data]}].")
    return Verdict(state, reason, data)


def _breaches(spec: AlarmSpec, point: Datapoint) -> bool:
    assert point.value is not None  # only datapoints that are present are compared
    return COMPARISONS[spec.comparison][0](point.value, spec.threshold)


def _with_missing(datapoints: Sequence[Datapoint], filled: int) -> list[Datapoint]:
    """The datapoints there are and the newest `filled` missing ones, newest first."""
    missing = [point for point in datapoints if point.value is None][:filled]
    chosen = {point.timestamp for point in missing} | {p.timestamp for p in datapoints if p.value is not None}
    return [point for point in datapoints if point.timestamp in chosen]


def _reason_data(spec: AlarmSpec, evaluated: Sequence[Datapoint], now: datetime) -> dict[str, Any]:
    """StateReasonData as CloudWatch writes it (evaluated datapoints newest first, recent values oldest first)."""
    data: dict[str, Any] = {"version": "1.0", "queryDate": _json_time(now)}
    if evaluated:
        data["startDate"] = _json_time(datetime.fromtimestamp(evaluated[-1].timestamp, UTC))
    if spec.statistic is not None:
        data["statistic" if spec.statistic in statistics.PLAIN else "extendedStatistic"] = spec.statistic
    if spec.unit is not None:
        data["unit"] = spec.unit
    data |= {"period": spec.period,
             "recentDatapoints": [point.value for point in reversed(evaluated) if point.value is not None],
             "threshold": spec.threshold, "evaluatedDatapoints": [_evaluated(point) for point in evaluated]}
    return data


def _evaluated(point: Datapoint) -> dict[str, Any]:
    found: dict[str, Any] = {"timestamp": _json_time(datetime.fromtimestamp(point.timestamp, UTC))}
    if point.sample_count is not None:
        found["sampleCount"] = point.sample_count
    if point.value is not None:
        found["value"] = point.value
    return found


def _json_time(moment: datetime) -> str:
    """CloudWatch's time in reason data: 2026-12-05T18:44:00.000+0000."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def _reason_time(timestamp: int) -> str:
    """CloudWatch's time in a reason: (05/12/26 18:44:00)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%d/%m/%y %H:%M:%S")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _verb(number: int) -> str:
    return "was" if number == 1 else "were"
