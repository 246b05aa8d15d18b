"""Application Auto Scaling's schedule expressions and when they come due: `at(yyyy-mm-ddThh:mm:ss)`, once;
`rate(<value> <unit>)`, every so many minutes, hours or days from the action's StartTime (else its creation);
`cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)` in the action's Timezone (UTC unless given),
with `*`, `?`, lists, ranges, steps and the names JAN-DEC and SUN-SAT (day-of-week 1-7 is SUN-SAT); one of the
two day fields must be `?`. Not done: cron's L, W and #. Model Monitor's schedules use the same cron, and
ISO 8601 durations (`-PT1H`) as offsets from an execution's scheduled time (`offset`).

A leaf module: the services check an expression when PutScheduledAction or CreateMonitoringSchedule is called,
the scheduled-action loop and the monitoring controller ask it which occurrence is due.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\(([^)]*)\)")
_DURATION = re.compile(r"([-+]?)P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
NOW = "NOW"  # Model Monitor's one-time schedule: one execution, at once
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# minutes, hours, day-of-month, month, day-of-week, year: (lowest, highest, names from 1)
_FIELDS: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (0, 59, ()), (0, 23, ()), (1, 31, ()), (1, 12, _MONTHS), (1, 7, _DAYS), (1970, 2199, ()))


@dataclass(frozen=True)
class Schedule:
    """A parsed expression: exactly one of `at` (naive, in the action's time zone), `every` or `cron` (the
    allowed values of each of the six fields; None for `?`)."""

    at: datetime | None = None
    every: timedelta | None = None
    cron: tuple[frozenset[int] | None, ...] | None = None


def parse(expression: str) -> Schedule:
    """The schedule of `expression`; ValueError saying what is wrong with it."""
    if match := _AT.fullmatch(expression):
        try:
            return Schedule(at=datetime.fromisoformat(match[1]))
        except ValueError:
            raise ValueError(f"Invalid date and time in {expression}.") from None
    if match := _RATE.fullmatch(expression):
        if int(match[1]) < 1:
            raise ValueError(f"The rate in {expression} must be a positive whole number.")
        return Schedule(every=timedelta(seconds=int(match[1]) * _UNIT_S[match[2].rstrip("s")]))
    if match := _CRON.fullmatch(expression):
        return Schedule(cron=_cron(match[1].split()))
    raise ValueError(f"Unsupported schedule expression {expression}: use at(yyyy-mm-ddThh:mm:ss), "
                     "rate(value unit) or cron(fields).")


def offset(text: str) -> timedelta:
    """The ISO 8601 duration `text` (`-PT1H`, `-P1DT2H30M`, `PT0H`: days, hours, minutes, seconds, signed) as a
    timedelta; ValueError saying what is wrong with it."""
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()[1:]) or text.endswith("T"):
        raise ValueError(f"Invalid ISO 8601 duration {text}: expected one such as -PT1H or -P1DT30M.")
    days, hours, minutes, seconds = (int(value or 0) for value in match.groups()[1:])
    found = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    return -found if match[1] == "-" else found


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone named (UTC when None); ValueError when there is none by that name."""
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError):
        raise ValueError(f"Invalid timezone: {name}") from None


def due(schedule: Schedule, tz: ZoneInfo, anchor: datetime, last_run: datetime | None,
        now: datetime) -> datetime | None:
    """The occurrence at or before `now` (aware) that has not run yet, if any: occurrences after `last_run`, and for
    a rate, every interval from `anchor` (its StartTime, or its creation). A cron occurrence is due within its
    minute only: one a stopped server missed is not run late."""
    if schedule.at is not None:
        occurrence = schedule.at.replace(tzinfo=tz)
    elif schedule.every is not None:
        occurrence = anchor + (now - anchor) // schedule.every * schedule.every
    else:
        occurrence = now.astimezone(tz).replace(second=0, microsecond=0)
        if schedule.cron is None or not _matches(schedule.cron, occurrence):
            return None
    if occurrence > now or occurrence < anchor or last_run is not None and occurrence <= last_run:
        return None
    return occurrence


def _cron(fields: list[str]) -> tuple[frozenset[int] | None, ...]:
    if len(fields) != len(_FIELDS):
        raise ValueError("A cron expression has six fields: minutes hours day-of-month month day-of-week year.")
    if (fields[2] == "?") == (fields[4] == "?"):
        raise ValueError("In a cron expression, one of day-of-month and day-of-week must be ?, and only one.")
    return tuple(None if text == "?" else _field(text, *limits) for text, limits in zip(fields, _FIELDS, strict=True))


def _field(text: str, lowest: int, highest: int, names: tuple[str, ...]) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        if span == "*":
            first, last = lowest, highest
        else:
            first_text, _, last_text = span.partition("-")
            first = _value(first_text, lowest, highest, names)
            last = _value(last_text, lowest, highest, names) if last_text else (highest if step_text else first)
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None or first > last:
            raise ValueError(f"Invalid cron field {text}.")
        values.update(range(first, last + 1, step or 1))
    return frozenset(values)


def _value(text: str, lowest: int, highest: int, names: tuple[str, ...]) -> int:
    upper = text.upper()
    value = names.index(upper) + 1 if upper in names else int(text) if text.isdigit() else None
    if value is None or not lowest <= value <= highest:
        raise ValueError(f"Invalid cron value {text}: expected {lowest}-{highest}"
                         + (f" or {names[0]}-{names[-1]}" if names else "") + " (L, W and # are not supported).")
    return value


def _matches(cron: tuple[frozenset[int] | None, ...], moment: datetime) -> bool:
    weekday = moment.isoweekday() % 7 + 1  # SUN is 1
    found = (moment.minute, moment.hour, moment.day, moment.month, weekday, moment.year)
    return all(allowed is None or value in allowed for allowed, value in zip(cron, found, strict=True))
