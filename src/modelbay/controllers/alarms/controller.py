"""The AlarmController: evaluates each alarm when one of its periods ends, and runs the actions of a state entered.

While there are alarms, a pass runs every JUDGE_EVERY_S (controllers/loops.py), so a high-resolution alarm (10 or 30 s
periods) is judged within about a second of its period's end, and a standard one (60 s and more) once a period. While
there are none, the controller waits for a write to the alarms table (controllers/changes.py). An alarm is evaluated
again when its configuration changes. What it remembers (the period it last judged) is only a
saving: after a restart each alarm is judged once more, which changes nothing. A state entered, by
evaluation or by SetAlarmState, marks its actions due in the store, so they run once, even across
a restart. CloudWatch keeps alarm history for 30 days; older entries are deleted here, hourly.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from modelbay.controllers.alarms.actions import AlarmActions, AlarmEvent
from modelbay.controllers.alarms.datapoints import datapoints
from modelbay.controllers.alarms.evaluation import Verdict, evaluate
from modelbay.controllers.background import Wakeable
from modelbay.lengths import fit
from modelbay.monitoring import metric_math
from modelbay.monitoring.metrics import MetricStore
from modelbay.store.metadata.alarms import ACTION, Alarm, AlarmRepository
from modelbay.store.metadata.records import Clock, utc_now

log = logging.getLogger(__name__)

JUDGE_EVERY_S = 1.0
HISTORY_KEPT = timedelta(days=30)
HISTORY_EXPIRY_EVERY = timedelta(hours=1)
MAX_REASON, MAX_REASON_DATA = 1023, 4000  # StateReason's and StateReasonData's lengths in botocore's model


class AlarmController(Wakeable):
    """Keeps each alarm's state as CloudWatch would judge it from the metric store, and runs its actions."""

    def __init__(self, alarms: AlarmRepository, metrics: MetricStore, actions: AlarmActions,
                 clock: Clock = utc_now) -> None:
        super().__init__(alarms.table)
        self.alarms, self.metrics, self.actions, self.clock = alarms, metrics, actions, clock
        self._judged: dict[str, tuple[datetime, int]] = {}  # name → (configuration judged, period end judged)
        self._history_expired: datetime | None = None
        self._has_alarms = False  # as the last pass found

    def wait_for_work(self, timeout_s: float) -> None:
        """Wait as the loop says (for a write, when no alarm was due), but no longer than JUDGE_EVERY_S while there
        are alarms: their periods end with time, not with a write."""
        super().wait_for_work(min(timeout_s, JUDGE_EVERY_S) if self._has_alarms else timeout_s)

    def names(self) -> list[str]:
        """The alarms with a period ended since they were last judged, a new configuration or actions due."""
        now = self.clock()
        self._expire_history(now)
        alarms = self.alarms.all()
        self._has_alarms = bool(alarms)
        if alarms:
            self.metrics.flush()  # the values of periods just ended may still be buffered
        self._judged = {alarm.name: self._judged[alarm.name] for alarm in alarms if alarm.name in self._judged}
        return [alarm.name for alarm in alarms if alarm.actions_due or self._judged.get(alarm.name) != _due(alarm, now)]

    def reconcile(self, name: str) -> None:
        alarm = self.alarms.get(name)
        if alarm is None:
            return
        if alarm.actions_due:  # a state SetAlarmState entered has its actions run before evaluation moves it on
            self._run_actions(alarm)
        now = self.clock()
        due = _due(alarm, now)
        if self._judged.get(name) != due:
            self._judged[name] = due  # first: an alarm that cannot be evaluated is tried again next period only
            judged = self._judge(alarm, due[1], now)
            if judged.actions_due:
                self._run_actions(judged)

    def _judge(self, alarm: Alarm, end: int, now: datetime) -> Alarm:
        """Evaluate the alarm over the periods ending at `end`; record a new state. Answer the alarm as it is."""
        spec = alarm.spec
        try:
            verdict = evaluate(spec, datapoints(self.metrics, spec, end), alarm.state.value, now)
        except metric_math.MathError as error:
            log.warning("alarm %s cannot be evaluated: %s", alarm.name, error)
            return alarm
        if verdict is None or verdict.value == alarm.state.value:
            return alarm
        change = self.alarms.set_state(alarm.name, verdict.value, fit(verdict.reason, MAX_REASON),
                                       _reason_data(verdict), configured_at=alarm.configuration_updated)
        return alarm if change is None else change.alarm

    def _run_actions(self, alarm: Alarm) -> None:
        if alarm.actions_enabled:
            for action in alarm.spec.actions[alarm.state.value]:
                outcome = self.actions.run(AlarmEvent(action, alarm))
                self.alarms.add_history(alarm.name, ACTION, outcome.summary, outcome.data)
        self.alarms.actions_done(alarm.name, alarm.state.transitioned)

    def _expire_history(self, now: datetime) -> None:
        if self._history_expired is None or now - self._history_expired >= HISTORY_EXPIRY_EVERY:
            self.alarms.expire_history(now - HISTORY_KEPT)
            self._history_expired = now


def _due(alarm: Alarm, now: datetime) -> tuple[datetime, int]:
    """What judging the alarm now means: its configuration, and the end of its last period ended by `now`."""
    period = alarm.spec.period
    return alarm.configuration_updated, int(now.timestamp()) // period * period


def _reason_data(verdict: Verdict) -> str:
    """StateReasonData's JSON within its length, leaving out the evaluated datapoints when they make it too long."""
    text = json.dumps(verdict.reason_data, separators=(",", ":"))
    if len(text) > MAX_REASON_DATA:
        text = json.dumps({k: v for k, v in verdict.reason_data.items() if k != "evaluatedDatapoints"},
                          separators=(",", ":"))
    return text[:MAX_REASON_DATA]
