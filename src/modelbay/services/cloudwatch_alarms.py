"""CloudWatch metric alarms (botocore `cloudwatch`): PutMetricAlarm, DescribeAlarms, DescribeAlarmsForMetric,
DescribeAlarmHistory, DeleteAlarms, SetAlarmState, EnableAlarmActions, DisableAlarmActions.

The alarms live in the region's metadata store (store/metadata/alarms.py); controllers/alarms/ evaluates
them and runs their actions. An alarm watches one metric with a statistic or extended statistic, or a
metric-math expression over up to 10 queries (one with ReturnData); its queries are checked by the
metric operations themselves, so an alarm accepts what GetMetricData and GetMetricStatistics accept.
Periods are 10, 30 or a multiple of 60 seconds. Other code creates alarms as a user does, through
`put_metric_alarm` with its own Context: Application Auto Scaling's target tracking makes its
`TargetTracking-<resource>-AlarmHigh-<uuid>` alarms so.
Not done: composite alarms, anomaly-detection bands (ThresholdMetricId and the three band operators),
EvaluateLowSampleCountPercentile (stored and echoed, not applied), Metrics Insights queries.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from modelbay.errors import ValidationError, aws_error
from modelbay.services import cloudwatch
from modelbay.services.base import Context, Handler, present
from modelbay.store.metadata.alarms import Alarm, AlarmFilter, AlarmNotFound, AlarmRepository
from modelbay.store.metadata.paging import InvalidToken

ResourceNotFound = aws_error("ResourceNotFound", 404)
InvalidFormat = aws_error("InvalidFormat")
InvalidParameterValue, MissingParameter = cloudwatch.InvalidParameterValue, cloudwatch.MissingParameter
InvalidParameterCombination, InvalidNextToken = cloudwatch.InvalidParameterCombination, cloudwatch.InvalidNextToken

TREAT_MISSING_DATA = ("missing", "ignore", "breaching", "notBreaching")
SUPPORTED_COMPARISONS = ("GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold",
                         "LessThanOrEqualToThreshold")
HIGH_RESOLUTION_PERIODS = (10, 30)
MAX_EVALUATED_S = 7 * 24 * 3600  # Period × EvaluationPeriods
MAX_QUERIES = 10
_METRIC_MEMBERS = ("Namespace", "MetricName", "Dimensions", "Statistic", "ExtendedStatistic", "Period", "Unit")
_UNSUPPORTED = ("ThresholdMetricId", "EvaluationWindow", "EvaluationCriteria", "WarmUpConfiguration",
                "EvaluationInterval", "ActionConfiguration")
_DEFAULT_LISTS: dict[str, list[str]] = {"OKActions": [], "AlarmActions": [], "InsufficientDataActions": []}


# -- PutMetricAlarm --------------------------------------------------------------------------------------


def put_metric_alarm(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Create the alarm, or overwrite its configuration keeping its state (Tags apply only to a new alarm)."""
    for member in _UNSUPPORTED:
        if member in params:
            raise ValidationError(f"The parameter {member} is not supported by modelbay.")
    for member in ("EvaluationPeriods", "ComparisonOperator", "Threshold"):
        if member not in params:
            raise MissingParameter(f"The parameter {member} is required.")
    if params["ComparisonOperator"] not in SUPPORTED_COMPARISONS:
        raise ValidationError(f"The value {params['ComparisonOperator']} for parameter ComparisonOperator is not "
                              "supported by modelbay: anomaly detection bands are not implemented.")
    period = _check_queries(ctx, params) if "Metrics" in params else _check_metric(ctx, params)
    _check_evaluation(params, period)
    for member in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        for action in params.get(member) or []:
            if not action.startswith("arn:") or action.count(":") < 5:
                raise ValidationError(f"Invalid arn syntax: {action}")
    configuration = {member: value for member, value in params.items() if member != "Tags"}
    name = params["AlarmName"]
    alarm, created = _alarms(ctx).put(name, alarm_arn(ctx, name), configuration)
    if created and params.get("Tags"):
        ctx.metadata.tags.add(alarm.arn, [(tag["Key"], tag["Value"]) for tag in params["Tags"]])
    return {}


def alarm_arn(ctx: Context, name: str) -> str:
    return ctx.arn("cloudwatch", f"alarm:{name}")


def _check_metric(ctx: Context, params: dict[str, Any]) -> int:
    """Check an alarm on one metric as GetMetricStatistics checks its request; answer its period."""
    for member in ("Namespace", "MetricName", "Period"):
        if member not in params:
            raise MissingParameter(f"The parameter {member} is required.")
    if ("Statistic" in params) == ("ExtendedStatistic" in params):
        raise InvalidParameterCombination("Exactly one of the parameters Statistic and ExtendedStatistic must be "
                                          "specified.")
    period = _period(params["Period"], "Period")
    statistic = {"Statistics": [params["Statistic"]]} if "Statistic" in params else {
        "ExtendedStatistics": [params["ExtendedStatistic"]]}
    now = ctx.platform.metrics.clock()
    cloudwatch.get_metric_statistics(ctx, present(
        Namespace=params["Namespace"], MetricName=params["MetricName"], Dimensions=params.get("Dimensions"),
        StartTime=now - timedelta(seconds=period), EndTime=now, Period=period, Unit=params.get("Unit"),
        **statistic))
    return period


def _check_queries(ctx: Context, params: dict[str, Any]) -> int:
    """Check an alarm on metric math as GetMetricData checks its queries; answer its period."""
    given = [member for member in _METRIC_MEMBERS if member in params]
    if given:
        raise InvalidParameterCombination(f"The parameters Metrics and {given[0]} are mutually exclusive and you "
                                          "have specified both.")
    queries = params["Metrics"]
    if not queries or len(queries) > MAX_QUERIES:
        raise ValidationError(f"The collection Metrics must hold 1 to {MAX_QUERIES} queries.")
    if sum(bool(query.get("ReturnData", True)) for query in queries) != 1:
        raise ValidationError("Exactly one element of the metrics list should return data.")
    periods = [_period(query["MetricStat"]["Period"], f"Metrics.member.{n}.MetricStat.Period")
               for n, query in enumerate(queries, 1) if "MetricStat" in query]
    periods += [_period(query["Period"], f"Metrics.member.{n}.Period")
                for n, query in enumerate(queries, 1) if "Expression" in query and "Period" in query]
    if not periods:
        raise ValidationError("The alarm's Metrics must hold a metric query (MetricStat) or an expression with a "
                              "Period.")
    now = ctx.platform.metrics.clock()
    cloudwatch.get_metric_data(ctx, {"MetricDataQueries": queries, "StartTime": now - timedelta(minutes=5),
                                     "EndTime": now})
    return min(periods)


def _period(period: int, member: str) -> int:
    if period not in HIGH_RESOLUTION_PERIODS and period % 60 != 0:
        raise InvalidParameterValue(f"The parameter {member} must be 10, 30 or a multiple of 60.")
    return period


def _check_evaluation(params: dict[str, Any], period: int) -> None:
    evaluation_periods = params["EvaluationPeriods"]
    if evaluation_periods * period > MAX_EVALUATED_S:
        raise ValidationError(f"The evaluation period (Period × EvaluationPeriods) must not exceed "
                              f"{MAX_EVALUATED_S} seconds (7 days).")
    if params.get("DatapointsToAlarm", evaluation_periods) > evaluation_periods:
        raise ValidationError("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
    treat = params.get("TreatMissingData", "missing")
    if treat not in TREAT_MISSING_DATA:
        raise ValidationError(f"The value {treat} for parameter TreatMissingData is invalid: it must be one of "
                              f"{', '.join(TREAT_MISSING_DATA)}.")


# -- DescribeAlarms, DescribeAlarmsForMetric ---------------------------------------------------------------


def describe_alarms(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The metric alarms matching the filters, by name, MaxRecords (50) a page; there are no composite ones."""
    types = params.get("AlarmTypes") or ["MetricAlarm"]
    if "MetricAlarm" not in types or "ChildrenOfAlarmName" in params or "ParentsOfAlarmName" in params:
        return {"MetricAlarms": [], "CompositeAlarms": []}  # only composite alarms have children or parents
    filters = AlarmFilter(params.get("AlarmNames"), params.get("AlarmNamePrefix"), params.get("StateValue"),
                          params.get("ActionPrefix"))
    try:
        page = _alarms(ctx).page(filters, params.get("NextToken"), params.get("MaxRecords", 50))
    except InvalidToken:
        raise InvalidNextToken(f"The value {params['NextToken']} for parameter NextToken is invalid.") from None
    composite: list[Any] | None = [] if "CompositeAlarm" in types else None
    return present(MetricAlarms=[_described(alarm) for alarm in page.items], CompositeAlarms=composite,
                   NextToken=page.next_token)


def describe_alarms_for_metric(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The alarms on the metric with exactly these dimensions, narrowed by statistic, period and unit if given."""
    dimensions = sorted((d["Name"], d["Value"]) for d in params.get("Dimensions") or [])
    wanted = {member: params[member] for member in ("Statistic", "ExtendedStatistic", "Period", "Unit")
              if member in params}
    found = [alarm for alarm in _alarms(ctx).for_metric(params["Namespace"], params["MetricName"])
             if sorted((d["Name"], d["Value"]) for d in alarm.configuration.get("Dimensions") or []) == dimensions
             and all(alarm.configuration.get(member) == value for member, value in wanted.items())]
    return {"MetricAlarms": [_described(alarm) for alarm in found]}


def _described(alarm: Alarm) -> dict[str, Any]:
    state = alarm.state
    return {**_DEFAULT_LISTS, **alarm.configuration, **present(
        AlarmArn=alarm.arn, ActionsEnabled=alarm.actions_enabled,
        AlarmConfigurationUpdatedTimestamp=alarm.configuration_updated, StateValue=state.value,
        StateReason=state.reason, StateReasonData=state.reason_data, StateUpdatedTimestamp=state.updated,
        StateTransitionedTimestamp=state.transitioned)}


# -- DescribeAlarmHistory --------------------------------------------------------------------------------


def describe_alarm_history(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """History entries (of deleted alarms too, for 30 days), newest first unless ScanBy says otherwise."""
    if "MetricAlarm" not in (params.get("AlarmTypes") or ["MetricAlarm"]):
        return {"AlarmHistoryItems": []}
    start, end = params.get("StartDate"), params.get("EndDate")
    if start is not None and end is not None and start > end:
        raise InvalidParameterValue("The parameter StartDate must not be later than the parameter EndDate.")
    try:
        page = _alarms(ctx).history(params.get("AlarmName"), params.get("HistoryItemType"), start, end,
                                    params.get("ScanBy") == "TimestampAscending", params.get("NextToken"),
                                    params.get("MaxRecords", 100))
    except InvalidToken:
        raise InvalidNextToken(f"The value {params['NextToken']} for parameter NextToken is invalid.") from None
    items = [{"AlarmName": item.alarm_name, "AlarmType": "MetricAlarm", "Timestamp": item.timestamp,
              "HistoryItemType": item.item_type, "HistorySummary": item.summary, "HistoryData": item.data}
             for item in page.items]
    return present(AlarmHistoryItems=items, NextToken=page.next_token)


# -- DeleteAlarms, SetAlarmState, Enable/DisableAlarmActions ---------------------------------------------


def delete_alarms(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete the alarms named, or none if one does not exist."""
    try:
        _alarms(ctx).delete(params["AlarmNames"])
    except AlarmNotFound as missing:
        raise ResourceNotFound(f"Alarm {missing} not found") from None
    return {}


def set_alarm_state(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Set the state until the alarm's next evaluation; a new state runs its actions, as CloudWatch does."""
    data = params.get("StateReasonData")
    if data is not None:
        try:
            json.loads(data)
        except ValueError:
            raise InvalidFormat("Invalid format for StateReasonData: it must be valid JSON.") from None
    try:
        _alarms(ctx).set_state(params["AlarmName"], params["StateValue"], params["StateReason"], data)
    except AlarmNotFound:
        raise ResourceNotFound(f"Alarm {params['AlarmName']} not found") from None
    return {}


def enable_alarm_actions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _alarms(ctx).set_actions_enabled(params["AlarmNames"], True)
    return {}


def disable_alarm_actions(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _alarms(ctx).set_actions_enabled(params["AlarmNames"], False)
    return {}


def _alarms(ctx: Context) -> AlarmRepository:
    return ctx.metadata.alarms


OPERATIONS: dict[str, Handler] = {
    "PutMetricAlarm": put_metric_alarm,
    "DescribeAlarms": describe_alarms,
    "DescribeAlarmsForMetric": describe_alarms_for_metric,
    "DescribeAlarmHistory": describe_alarm_history,
    "DeleteAlarms": delete_alarms,
    "SetAlarmState": set_alarm_state,
    "EnableAlarmActions": enable_alarm_actions,
    "DisableAlarmActions": disable_alarm_actions,
}
