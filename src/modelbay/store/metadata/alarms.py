"""CloudWatch metric alarms as the database keeps them: the alarm (its PutMetricAlarm request and its state) and
its history, which outlives it (CloudWatch keeps an alarm's history, deleted or not, for 30 days).

An alarm has no lifecycle: PutMetricAlarm creates or overwrites it, DeleteAlarms removes it. Its state
(OK, ALARM, INSUFFICIENT_DATA) changes in one write path, `_move`, which also writes the StateUpdate
history entry in CloudWatch's form; configuration changes write ConfigurationUpdate entries. The
evaluation that decides a state, and the actions it runs, belong to controllers/alarms/.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, String, Text, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.metrics import MetricKey
from modelbay.store.metadata.paging import Page, decode_token, encode_token
from modelbay.store.metadata.records import Clock, RecordNotFound, delete_tags, utc_now
from modelbay.store.metadata.tables import Base, BigSerial, UtcDateTime

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
STATE_UPDATE, CONFIGURATION_UPDATE, ACTION = "StateUpdate", "ConfigurationUpdate", "Action"
INITIAL_REASON = "Unchecked: Initial alarm creation"
_ACTION_MEMBERS = {OK: "OKActions", ALARM: "AlarmActions", INSUFFICIENT_DATA: "InsufficientDataActions"}


class AlarmNotFound(RecordNotFound):
    """No alarm has this name."""


class AlarmRow(Base):
    __tablename__ = "alarms"
    __table_args__ = (Index(None, "namespace", "metric_name"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    arn: Mapped[str] = mapped_column(Text)
    namespace: Mapped[str | None] = mapped_column(String(255))  # of an alarm on one metric: DescribeAlarmsForMetric
    metric_name: Mapped[str | None] = mapped_column(String(255))
    configuration: Mapped[dict[str, Any]] = mapped_column(JSON)  # the PutMetricAlarm request, Tags left out
    actions_enabled: Mapped[bool] = mapped_column(Boolean)
    configuration_updated: Mapped[datetime] = mapped_column(UtcDateTime)
    state_value: Mapped[str] = mapped_column(String(32))
    state_reason: Mapped[str] = mapped_column(Text)
    state_reason_data: Mapped[str | None] = mapped_column(Text)
    state_updated: Mapped[datetime] = mapped_column(UtcDateTime)
    state_transitioned: Mapped[datetime] = mapped_column(UtcDateTime)
    actions_due: Mapped[bool] = mapped_column(Boolean)  # entered its state; the controller has yet to run actions


class AlarmHistoryRow(Base):
    __tablename__ = "alarm_history"
    __table_args__ = (Index(None, "alarm_name", "timestamp"), Index(None, "timestamp"))

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    alarm_name: Mapped[str] = mapped_column(String(255))
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    item_type: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class AlarmSpec:
    """What evaluating an alarm reads, made once from its PutMetricAlarm request: one metric with a statistic,
    or metric-math `queries` of which one returns the data watched."""

    metric: MetricKey | None
    statistic: str | None  # Statistic or ExtendedStatistic
    unit: str | None
    queries: tuple[dict[str, Any], ...]
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing_data: str
    actions: Mapping[str, tuple[str, ...]]  # by state entered

    @classmethod
    def from_request(cls, request: Mapping[str, Any]) -> AlarmSpec:
        queries = tuple(request.get("Metrics") or ())
        metric = None if queries else MetricKey.of(request["Namespace"], request["MetricName"], {
            d["Name"]: d["Value"] for d in request.get("Dimensions") or []})
        periods = [q["MetricStat"]["Period"] if "MetricStat" in q else q.get("Period") for q in queries]
        period = request.get("Period") or min((p for p in periods if p), default=60)
        evaluation_periods = request["EvaluationPeriods"]
        return cls(metric, request.get("Statistic") or request.get("ExtendedStatistic"), request.get("Unit"),
                   queries, period, evaluation_periods, request.get("DatapointsToAlarm", evaluation_periods),
                   request["Threshold"], request["ComparisonOperator"],
                   request.get("TreatMissingData", "missing"),
                   {state: tuple(request.get(member) or ()) for state, member in _ACTION_MEMBERS.items()})


@dataclass(frozen=True)
class AlarmState:
    value: str
    reason: str
    reason_data: str | None  # JSON text
    updated: datetime
    transitioned: datetime


@dataclass(frozen=True)
class Alarm:
    name: str
    arn: str
    configuration: dict[str, Any]
    actions_enabled: bool
    configuration_updated: datetime
    state: AlarmState
    actions_due: bool  # it entered its state and the actions of that state have not been run yet

    @property
    def spec(self) -> AlarmSpec:
        return AlarmSpec.from_request(self.configuration)


@dataclass(frozen=True)
class StateChange:
    """A move of an alarm's state: the alarm as it is after it, and the state it left."""

    alarm: Alarm
    old: AlarmState


@dataclass(frozen=True)
class HistoryItem:
    alarm_name: str
    timestamp: datetime
    item_type: str
    summary: str
    data: str  # JSON text, as CloudWatch writes it


@dataclass(frozen=True)
class AlarmFilter:
    """DescribeAlarms' filters; each one given narrows the listing."""

    names: Sequence[str] | None = None
    name_prefix: str | None = None
    state: str | None = None
    action_prefix: str | None = None


class AlarmRepository:
    """Alarms by name, and their history. Thread-safe; each method is one transaction; times come from `clock`."""

    table = AlarmRow.__tablename__  # the controller's work: its change counter (changes.py)

    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    def put(self, name: str, arn: str, configuration: dict[str, Any]) -> tuple[Alarm, bool]:
        """Create the alarm (INSUFFICIENT_DATA, unchecked) or overwrite its configuration, keeping its state, as
        PutMetricAlarm does; answer it and whether it is new. ActionsEnabled defaults to true."""
        now = self.clock()
        with self.db.write(lock=f"alarm {name}") as session:
            row = session.scalar(select(AlarmRow).where(AlarmRow.name == name))
            created = row is None
            if row is None:
                row = AlarmRow(name=name, arn=arn, state_value=INSUFFICIENT_DATA, state_reason=INITIAL_REASON,
                               state_updated=now, state_transitioned=now, actions_due=False)
                session.add(row)
                _history(session, name, now, CONFIGURATION_UPDATE, f'Alarm "{name}" created',
                         {"type": "Create", "version": "1.0", "createdAlarm": _described(configuration)})
            else:
                _history(session, name, now, CONFIGURATION_UPDATE, f'Alarm "{name}" updated',
                         {"type": "Update", "version": "1.0", "originalAlarm": _described(row.configuration),
                          "updatedAlarm": _described(configuration)})
            metric = configuration.get("Metrics") is None
            row.namespace = configuration.get("Namespace") if metric else None
            row.metric_name = configuration.get("MetricName") if metric else None
            row.configuration, row.configuration_updated = configuration, now
            row.actions_enabled = configuration.get("ActionsEnabled", True)
            session.flush()
            return _alarm(row), created

    def get(self, name: str) -> Alarm | None:
        with self.db.read() as session:
            row = session.scalar(select(AlarmRow).where(AlarmRow.name == name))
            return None if row is None else _alarm(row)

    def page(self, filters: AlarmFilter = AlarmFilter(), after_token: str | None = None,
              limit: int = 50) -> Page[Alarm]:
        """A page of the alarms matching `filters`, by name. Raises InvalidToken for a token no page gave."""
        query = select(AlarmRow).order_by(AlarmRow.name)
        if filters.names is not None:
            query = query.where(AlarmRow.name.in_(list(filters.names)))
        if filters.name_prefix is not None:
            query = query.where(AlarmRow.name.startswith(filters.name_prefix, autoescape=True))
        if filters.state is not None:
            query = query.where(AlarmRow.state_value == filters.state)
        with self.db.read() as session:
            found = [_alarm(row) for row in session.scalars(query)]
        if filters.action_prefix is not None:
            found = [alarm for alarm in found if _has_action(alarm, filters.action_prefix)]
        return _page(found, "alarms", after_token, limit)

    def all(self) -> list[Alarm]:
        """Every alarm, by name."""
        with self.db.read() as session:
            return [_alarm(row) for row in session.scalars(select(AlarmRow).order_by(AlarmRow.name))]

    def for_metric(self, namespace: str, metric_name: str) -> list[Alarm]:
        """The alarms on one metric of this namespace and name (any dimensions), by name."""
        query = (select(AlarmRow).where(AlarmRow.namespace == namespace, AlarmRow.metric_name == metric_name)
                 .order_by(AlarmRow.name))
        with self.db.read() as session:
            return [_alarm(row) for row in session.scalars(query)]

    def delete(self, names: Sequence[str]) -> None:
        """Remove the alarms and their tags, writing a ConfigurationUpdate each; their history stays.
        Raises AlarmNotFound, removing none, if one does not exist."""
        now = self.clock()
        with self.db.write(lock="alarms delete") as session:
            rows = {row.name: row for row in session.scalars(select(AlarmRow).where(AlarmRow.name.in_(names)))}
            missing = [name for name in names if name not in rows]
            if missing:
                raise AlarmNotFound(missing[0])
            for row in rows.values():
                _history(session, row.name, now, CONFIGURATION_UPDATE, f'Alarm "{row.name}" deleted',
                         {"type": "Delete", "version": "1.0", "deletedAlarm": _described(row.configuration)})
                delete_tags(session, row.arn)
                session.delete(row)

    def set_state(self, name: str, value: str, reason: str, reason_data: str | None = None,
                  configured_at: datetime | None = None) -> StateChange | None:
        """Set the alarm's state and reason; a new state value is a transition, recorded in the history. None if
        the alarm is gone, or if `configured_at` is given and the alarm was reconfigured since (an evaluation
        a PutMetricAlarm has overtaken). Raises AlarmNotFound only when `configured_at` is None."""
        now = self.clock()
        with self.db.write(lock=f"alarm {name}") as session:
            row = session.scalar(select(AlarmRow).where(AlarmRow.name == name))
            if row is None and configured_at is None:
                raise AlarmNotFound(name)
            if row is None or configured_at not in (None, row.configuration_updated):
                return None
            old = _state(row)
            _move(session, row, AlarmState(value, reason, reason_data, now, now))
            return StateChange(_alarm(row), old)

    def set_actions_enabled(self, names: Sequence[str], enabled: bool) -> None:
        """Enable or disable the actions of the alarms named; names of no alarm are ignored, as CloudWatch does."""
        now = self.clock()
        with self.db.write() as session:
            for row in session.scalars(select(AlarmRow).where(AlarmRow.name.in_(names))):
                if row.actions_enabled != enabled:
                    row.actions_enabled, row.configuration_updated = enabled, now

    def actions_done(self, name: str, transitioned: datetime) -> None:
        """Mark the actions of the alarm's state entered at `transitioned` as run (a later transition keeps its
        own due)."""
        with self.db.write(lock=f"alarm {name}") as session:
            row = session.scalar(select(AlarmRow).where(AlarmRow.name == name))
            if row is not None and row.state_transitioned == transitioned:
                row.actions_due = False

    def add_history(self, name: str, item_type: str, summary: str, data: Mapping[str, Any]) -> None:
        with self.db.write() as session:
            _history(session, name, self.clock(), item_type, summary, data)

    def history(self, name: str | None = None, item_type: str | None = None, start: datetime | None = None,
                end: datetime | None = None, ascending: bool = False, after_token: str | None = None,
                limit: int = 100) -> Page[HistoryItem]:
        """A page of history entries, newest first unless `ascending`; start and end are inclusive."""
        query = select(AlarmHistoryRow)
        conditions = [(name, AlarmHistoryRow.alarm_name.__eq__), (item_type, AlarmHistoryRow.item_type.__eq__),
                      (start, AlarmHistoryRow.timestamp.__ge__), (end, AlarmHistoryRow.timestamp.__le__)]
        for value, condition in conditions:
            if value is not None:
                query = query.where(condition(value))
        order = (AlarmHistoryRow.timestamp, AlarmHistoryRow.id)
        query = query.order_by(*(order if ascending else (column.desc() for column in order)))
        scope = f"alarm history {name} {item_type} {ascending}"
        offset = 0 if after_token is None else decode_token(scope, after_token)
        with self.db.read() as session:
            rows = list(session.scalars(query.offset(offset).limit(limit + 1)))
        items = [HistoryItem(row.alarm_name, row.timestamp, row.item_type, row.summary, row.data)
                 for row in rows[:limit]]
        return Page(items, encode_token(scope, offset + limit) if len(rows) > limit else None)

    def expire_history(self, before: datetime) -> None:
        with self.db.write() as session:
            session.execute(delete(AlarmHistoryRow).where(AlarmHistoryRow.timestamp < before))


def _move(session: Session, row: AlarmRow, new: AlarmState) -> None:
    """The one write path of an alarm's state: a change of value is a transition, with its history entry."""
    old = _state(row)
    row.state_value, row.state_reason, row.state_reason_data = new.value, new.reason, new.reason_data
    row.state_updated = new.updated
    if new.value == old.value:
        return
    row.state_transitioned, row.actions_due = new.updated, True
    _history(session, row.name, new.updated, STATE_UPDATE, f"Alarm updated from {old.value} to {new.value}",
             {"version": "1.0", "oldState": _state_json(old), "newState": _state_json(new)})


def _state_json(state: AlarmState) -> dict[str, Any]:
    described: dict[str, Any] = {"stateValue": state.value, "stateReason": state.reason}
    if state.reason_data:
        try:
            described["stateReasonData"] = json.loads(state.reason_data)
        except ValueError:  # SetAlarmState takes any text here; CloudWatch asks for JSON
            described["stateReasonData"] = state.reason_data
    return described


def _history(session: Session, name: str, at: datetime, item_type: str, summary: str,
             data: Mapping[str, Any]) -> None:
    session.add(AlarmHistoryRow(alarm_name=name, timestamp=at, item_type=item_type, summary=summary[:255],
                                data=json.dumps(data, separators=(",", ":"))))


def _described(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """An alarm's configuration as history data shows it: members in lower camel case."""
    return {_camel(member): value for member, value in configuration.items()}


def _camel(member: str) -> str:
    return member[:2].lower() + member[2:] if member.startswith("OK") else member[:1].lower() + member[1:]


def _has_action(alarm: Alarm, prefix: str) -> bool:
    return any(action.startswith(prefix) for actions in alarm.spec.actions.values() for action in actions)


def _page(found: list[Alarm], scope: str, after_token: str | None, limit: int) -> Page[Alarm]:
    offset = 0 if after_token is None else decode_token(scope, after_token)
    following = offset + limit
    return Page(found[offset:following], encode_token(scope, following) if following < len(found) else None)


def _state(row: AlarmRow) -> AlarmState:
    return AlarmState(row.state_value, row.state_reason, row.state_reason_data, row.state_updated,
                      row.state_transitioned)


def _alarm(row: AlarmRow) -> Alarm:
    return Alarm(row.name, row.arn, row.configuration, row.actions_enabled, row.configuration_updated, _state(row),
                 row.actions_due)
