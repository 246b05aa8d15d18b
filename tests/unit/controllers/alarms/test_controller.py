"""The AlarmController over a real SQLite store and metric store, with a clock the tests move: CloudWatch's states,
reasons, TreatMissingData, M of N, expressions, history and actions."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelbay.controllers.alarms.actions import AlarmActions, AlarmEvent
from modelbay.controllers.alarms.controller import JUDGE_EVERY_S, AlarmController
from modelbay.controllers.changes import IDLE_RECHECK_S, ChangeWatcher
from modelbay.monitoring.metrics import MetricKey, MetricStore
from modelbay.store.metadata import MetadataStore, open_metadata_store
from modelbay.store.metadata.alarms import Alarm
from tests.helpers import T0, SetClock

Clock = SetClock[datetime]  # a clock the test sets

METRIC = MetricKey.of("App", "Latency", {"Host": "a"})
PERIOD = 60


@pytest.fixture
def clock() -> Clock:
    return SetClock(T0)


@pytest.fixture
def metadata(tmp_path: Path, clock: Clock) -> Iterator[MetadataStore]:
    store = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}", clock=clock)
    yield store
    store.close()


@pytest.fixture
def metrics(metadata: MetadataStore, clock: Clock) -> MetricStore:
    return MetricStore(metadata.metrics, clock)


@pytest.fixture
def actions() -> AlarmActions:
    return AlarmActions()


@pytest.fixture
def controller(metadata: MetadataStore, metrics: MetricStore, actions: AlarmActions, clock: Clock) -> AlarmController:
    return AlarmController(metadata.alarms, metrics, actions, clock)


def put_alarm(metadata: MetadataStore, name: str = "high", **extra: Any) -> None:
    configuration = {"AlarmName": name, "Namespace": "App", "MetricName": "Latency",
                     "Dimensions": [{"Name": "Host", "Value": "a"}], "Statistic": "Average", "Period": PERIOD,
                     "EvaluationPeriods": 1, "Threshold": 100.0, "ComparisonOperator": "GreaterThanThreshold"}
    metadata.alarms.put(name, f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}", configuration | extra)


def record(metrics: MetricStore, period: int, *values: float) -> None:
    """Values in the `period`-th minute after T0."""
    for value in values:
        metrics.record(METRIC, value, timestamp=T0.timestamp() + period * PERIOD + 1)
    metrics.flush()


def at_minute(clock: Clock, controller: AlarmController, minute: float) -> None:
    """Move the clock to `minute` after T0 and run a pass over every alarm due."""
    clock.now = T0 + timedelta(minutes=minute)
    for name in controller.names():
        controller.reconcile(name)


def alarm(metadata: MetadataStore, name: str = "high") -> Alarm:
    found = metadata.alarms.get(name)
    assert found is not None
    return found


def state_updates(metadata: MetadataStore, name: str = "high") -> list[str]:
    items = metadata.alarms.history(name, "StateUpdate", ascending=True).items
    return [item.summary for item in items]


def test_breaching_goes_to_alarm_with_cloudwatchs_reason_then_back_to_ok(
        metadata: MetadataStore, metrics: MetricStore, clock: Clock, controller: AlarmController) -> None:
    put_alarm(metadata)
    at_minute(clock, controller, 0.5)
    assert alarm(metadata).state.value == "INSUFFICIENT_DATA"
    record(metrics, 0, 150.0, 250.0)
    at_minute(clock, controller, 1.1)
    state = alarm(metadata).state
    assert state.value == "ALARM"
    assert state.reason == ("Threshold Crossed: 1 out of the last 1 datapoints [200.0 (01/01/26 12:00:00)] was "
                            "greater than the threshold (100.0) (minimum 1 datapoint for OK -> ALARM transition).")
    data = json.loads(state.reason_data or "")
    assert data == {"version": "1.0", "queryDate": "2026-01-01T12:01:06.000+0000",
                    "startDate": "2026-01-01T12:00:00.000+0000", "statistic": "Average", "period": 60,
                    "recentDatapoints": [200.0], "threshold": 100.0,
                    "evaluatedDatapoints": [{"timestamp": "2026-01-01T12:00:00.000+0000", "sampleCount": 2.0,
                                             "value": 200.0}]}
    record(metrics, 1, 50.0)
    at_minute(clock, controller, 2.1)
    assert alarm(metadata).state.value == "OK"
    assert alarm(metadata).state.reason.endswith("was not greater than the threshold (100.0) (minimum 1 datapoint "
                                                 "for ALARM -> OK transition).")
    assert state_updates(metadata) == ["Alarm updated from INSUFFICIENT_DATA to ALARM",
                                       "Alarm updated from ALARM to OK"]
    history = json.loads(metadata.alarms.history("high", "StateUpdate").items[0].data)
    assert history["oldState"]["stateValue"] == "ALARM" and history["newState"]["stateValue"] == "OK"
    assert history["newState"]["stateReasonData"]["recentDatapoints"] == [50.0]


def test_a_period_is_judged_once_it_has_ended(
        metadata: MetadataStore, metrics: MetricStore, clock: Clock, controller: AlarmController) -> None:
    put_alarm(metadata)
    at_minute(clock, controller, 0.2)
    record(metrics, 0, 500.0)
    at_minute(clock, controller, 0.9)  # the minute holding the value has not ended
    assert alarm(metadata).state.value == "INSUFFICIENT_DATA"
    assert controller.names() == []  # nothing due until the next period ends
    at_minute(clock, controller, 1.0)
    assert alarm(metadata).state.value == "ALARM"


def test_no_data_is_insufficient_data(metadata: MetadataStore, metrics: MetricStore, clock: Clock,
                                      controller: AlarmController) -> None:
    put_alarm(metadata, EvaluationPeriods=2)
    record(metrics, 0, 500.0)
    at_minute(clock, controller, 2)
    assert alarm(metadata).state.value == "INSUFFICIENT_DATA"  # 1 breaching of 2 needed decides nothing
    record(metrics, 2, 500.0)
    at_minute(clock, controller, 3)
    assert alarm(metadata).state.value == "ALARM"
    at_minute(clock, controller, 7)  # the range (2 + 2 periods) holds nothing
    state = alarm(metadata).state
    assert (state.value, state.reason) == ("INSUFFICIENT_DATA", "Insufficient Data: 4 datapoints were unknown.")


@pytest.mark.parametrize(("treat", "expected"), [("missing", "INSUFFICIENT_DATA"), ("ignore", "OK"),
                                                 ("breaching", "ALARM"), ("notBreaching", "OK")])
def test_treat_missing_data_with_no_datapoints(metadata: MetadataStore, metrics: MetricStore, clock: Clock,
                                               controller: AlarmController, treat: str, expected: str) -> None:
    put_alarm(metadata, TreatMissingData=treat)
    record(metrics, 0, 10.0)
    at_minute(clock, controller, 1)
    assert alarm(metadata).state.value == "OK"
    at_minute(clock, controller, 5)  # four empty minutes: the whole range of 3 is missing
    assert alarm(metadata).state.value == expected
    if treat == "breaching":
        assert alarm(metadata).state.reason == ("Threshold Crossed: no datapoints were received for 1 period and 1 "
                                                "missing datapoint was treated as [Breaching].")


def test_missing_datapoints_are_filled_as_few_times_as_possible(
        metadata: MetadataStore, metrics: MetricStore, clock: Clock, controller: AlarmController) -> None:
    put_alarm(metadata, EvaluationPeriods=3, DatapointsToAlarm=3, TreatMissingData="breaching")
    record(metrics, 0, 500.0)
    record(metrics, 2, 500.0)
    at_minute(clock, controller, 3)  # two breaching datapoints, one missing one filled as breaching
    state = alarm(metadata).state
    assert state.value == "ALARM"
    assert "1 missing datapoint was treated as [Breaching]" in state.reason
    put_alarm(metadata, EvaluationPeriods=3, DatapointsToAlarm=3, TreatMissingData="notBreaching")
    at_minute(clock, controller, 3.1)  # reconfigured: judged again, the missing one now good
    assert alarm(metadata).state.value == "OK"


def test_m_of_n(metadata: MetadataStore, metrics: MetricStore, clock: Clock, controller: AlarmController) -> None:
    put_alarm(metadata, EvaluationPeriods=3, DatapointsToAlarm=2)
    for minute, value in enumerate([500.0, 10.0, 10.0]):
        record(metrics, minute, value)
    at_minute(clock, controller, 3)
    assert alarm(metadata).state.value == "OK"  # 1 of 3
    record(metrics, 3, 500.0)
    at_minute(clock, controller, 4)
    assert alarm(metadata).state.value == "OK"  # the newest three: 10, 10, 500
    record(metrics, 4, 500.0)
    at_minute(clock, controller, 5)
    state = alarm(metadata).state
    assert state.value == "ALARM"
    assert state.reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [500.0 (01/01/26 12:04:00), "
                                   "500.0 (01/01/26 12:03:00), 10.0 (01/01/26 12:02:00)] were greater than")
    assert state.reason.endswith("(minimum 2 datapoints for OK -> ALARM transition).")


def test_ignore_keeps_the_state_when_the_datapoints_do_not_decide(
        metadata: MetadataStore, metrics: MetricStore, clock: Clock, controller: AlarmController) -> None:
    put_alarm(metadata, EvaluationPeriods=3, DatapointsToAlarm=3, TreatMissingData="ignore")
    metadata.alarms.set_state("high", "ALARM", "set by hand")
    record(metrics, 0, 500.0)  # one breaching datapoint of three needed: neither ALARM proven nor ruled out
    at_minute(clock, controller, 1)
    assert alarm(metadata).state.reason == "set by hand"
    record(metrics, 1, 10.0)  # one good datapoint: 3 of 3 can no longer breach
    at_minute(clock, controller, 2)
    assert alarm(metadata).state.value == "OK"


def test_an_alarm_on_an_expression(metadata: MetadataStore, metrics: MetricStore, clock: Clock,
                                   controller: AlarmController) -> None:
    errors = MetricKey.of("App", "Errors", {"Host": "a"})
    host = [{"Name": "Host", "Value": "a"}]
    stat: dict[str, Any] = {"Metric": {"Namespace": "App", "MetricName": "Latency", "Dimensions": host},
                            "Period": PERIOD, "Stat": "SampleCount"}
    error_stat = stat | {"Metric": stat["Metric"] | {"MetricName": "Errors"}, "Stat": "Sum"}
    metadata.alarms.put("rate", "arn:aws:cloudwatch:us-east-1:000000000000:alarm:rate", {
        "AlarmName": "rate", "EvaluationPeriods": 1, "Threshold": 10.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Metrics": [{"Id": "calls", "MetricStat": stat, "ReturnData": False},
                    {"Id": "errors", "MetricStat": error_stat, "ReturnData": False},
                    {"Id": "rate", "Expression": "100 * errors / calls", "ReturnData": True}]})
    record(metrics, 0, *[1.0] * 10)
    metrics.record(errors, 2.0, timestamp=T0.timestamp() + 1)
    metrics.flush()
    at_minute(clock, controller, 1)
    state = alarm(metadata, "rate").state
    assert state.value == "ALARM"
    assert "[20.0 (01/01/26 12:00:00)] was greater than or equal to the threshold (10.0)" in state.reason
    assert json.loads(state.reason_data or "")["evaluatedDatapoints"] == [
        {"timestamp": "2026-01-01T12:00:00.000+0000", "value": 20.0}]


def test_actions_of_the_state_entered_run_once_and_others_are_recorded(
        metadata: MetadataStore, metrics: MetricStore, clock: Clock, controller: AlarmController,
        actions: AlarmActions) -> None:
    policy = ("arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:1a2b:resource/sagemaker/endpoint/ep/"
              "variant/v1:policyName/scale-out")
    topic = "arn:aws:sns:us-east-1:000000000000:alerts"
    ran: list[AlarmEvent] = []
    actions.register("arn:aws:autoscaling:", ran.append)
    put_alarm(metadata, AlarmActions=[policy, topic], OKActions=[policy])
    record(metrics, 0, 500.0)
    at_minute(clock, controller, 1)
    at_minute(clock, controller, 1.5)
    assert [(event.action, event.alarm.state.value, event.recent_values) for event in ran] == [
        (policy, "ALARM", [500.0])]
    summaries = [item.summary for item in metadata.alarms.history("high", "Action", ascending=True).items]
    assert summaries == [f"Successfully executed action {policy}",
                         f"Failed to execute action {topic}: not supported here"]
    metadata.alarms.set_actions_enabled(["high"], False)
    metadata.alarms.set_state("high", "OK", "by hand")  # SetAlarmState runs actions too, when enabled
    at_minute(clock, controller, 1.6)
    assert len(ran) == 1 and not alarm(metadata).actions_due


def test_a_failing_action_is_recorded(metadata: MetadataStore, metrics: MetricStore, clock: Clock,
                                      controller: AlarmController, actions: AlarmActions) -> None:
    def refuse(_: AlarmEvent) -> None:
        raise RuntimeError("the scalable target is suspended")

    actions.register("arn:aws:autoscaling:", refuse)
    put_alarm(metadata, AlarmActions=["arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:x"])
    metadata.alarms.set_state("high", "ALARM", "by hand")
    at_minute(clock, controller, 0.1)
    item = metadata.alarms.history("high", "Action").items[0]
    assert json.loads(item.data)["error"] == "the scalable target is suspended"
    assert json.loads(item.data)["actionState"] == "Failed"


def test_with_no_alarm_the_controller_waits_for_a_write_of_one(metadata: MetadataStore,
                                                               controller: AlarmController) -> None:
    """No alarm, no pass every second: a loop that found no work waits for a write to a table the controller watches
    (controllers/changes.py), and PutMetricAlarm writes the alarms table."""
    assert controller.names() == []
    with ChangeWatcher(metadata.changes, [controller]):
        put_alarm(metadata)
    started = time.monotonic()
    controller.wait_for_work(IDLE_RECHECK_S)  # woken by the write: at once
    assert time.monotonic() - started < JUDGE_EVERY_S


def test_with_alarms_a_wait_for_a_write_lasts_no_longer_than_a_judging_pace(metadata: MetadataStore,
                                                                           controller: AlarmController) -> None:
    """Alarms' periods end with time, not with a write: while there are alarms, none due is no reason to wait long."""
    put_alarm(metadata)
    for name in controller.names():
        controller.reconcile(name)
    assert controller.names() == []  # judged for this period: nothing due until it ends
    started = time.monotonic()
    controller.wait_for_work(IDLE_RECHECK_S)
    assert JUDGE_EVERY_S * 0.9 <= time.monotonic() - started < IDLE_RECHECK_S / 2
