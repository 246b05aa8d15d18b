"""The SageMaker Metrics API (`sagemaker-metrics`, rest-json, signed as "sagemaker"): BatchPutMetrics logs metric
values to a trial component (what the SageMaker SDK's Run.log_metric sends), BatchGetMetrics reads them back
aggregated per period or per step.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from modelbay.errors import ResourceNotFound
from modelbay.services.base import Context, Handler, present
from modelbay.services.sagemaker.experiments import TRIAL_COMPONENT
from modelbay.store.metadata.job_trial_components import MetricPoint

_PERIOD_S = {"OneMinute": 60, "FiveMinute": 300, "OneHour": 3600}
_STATISTICS: dict[str, Callable[[Sequence[float]], float]] = {
    "Min": min, "Max": max, "Avg": statistics.fmean, "Count": len, "Last": lambda values: values[-1],
    "StdDev": lambda values: statistics.stdev(values) if len(values) > 1 else 0.0}


def batch_put_metrics(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Log the valid values to the trial component; each invalid one (a value that is not a finite number) is
    answered in Errors as VALIDATION_ERROR with its index. ResourceNotFound for an unknown trial component."""
    name: str = params["TrialComponentName"]
    component = ctx.metadata.trial_components.get_by_arn(TRIAL_COMPONENT.arn(ctx, name))
    if component is None:
        raise ResourceNotFound(f"Trial Component '{TRIAL_COMPONENT.arn(ctx, name)}' does not exist.")
    data = params["MetricData"]
    errors = [{"Code": "VALIDATION_ERROR", "MetricIndex": index} for index, datum in enumerate(data)
              if not math.isfinite(datum["Value"])]
    bad = {error["MetricIndex"] for error in errors}
    ctx.metadata.trial_components.put_metrics(component.name, [
        MetricPoint(datum["MetricName"], datum["Value"], datum["Timestamp"], datum.get("Step"))
        for index, datum in enumerate(data) if index not in bad])
    return present(Errors=errors or None)


def batch_get_metrics(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """One MetricQueryResult per query: the statistic of each period (or each step) within Start and End."""
    return {"MetricQueryResults": [_result(ctx, query) for query in params["MetricQueries"]]}


def _result(ctx: Context, query: dict[str, Any]) -> dict[str, Any]:
    by_step = query["XAxisType"] == "IterationNumber"
    if by_step != (query["Period"] == "IterationNumber"):
        return _invalid("Period IterationNumber goes with XAxisType IterationNumber, and only with it.")
    values = ctx.metadata.trial_components.metric_values(query["ResourceArn"], query["MetricName"])
    if values is None:
        return _invalid(f"Trial Component '{query['ResourceArn']}' does not exist.")
    buckets: dict[int, list[float]] = {}
    for point in values:
        x = point.step if by_step else _period_start(point.timestamp, _PERIOD_S[query["Period"]])
        if x is not None and query.get("Start", x) <= x <= query.get("End", x):
            buckets.setdefault(x, []).append(point.value)
    statistic = _STATISTICS[query["MetricStat"]]
    return {"Status": "Complete", "XAxisValues": sorted(buckets),
            "MetricValues": [float(statistic(buckets[x])) for x in sorted(buckets)]}


def _period_start(timestamp: datetime, period_s: int) -> int:
    """The epoch second the period holding `timestamp` starts at."""
    seconds = int(timestamp.astimezone(UTC).timestamp())
    return seconds - seconds % period_s


def _invalid(message: str) -> dict[str, Any]:
    return {"Status": "ValidationError", "Message": message, "XAxisValues": [], "MetricValues": []}


OPERATIONS: dict[str, Handler] = {"BatchPutMetrics": batch_put_metrics, "BatchGetMetrics": batch_get_metrics}
