"""The sagemaker-metrics API as service functions: BatchPutMetrics' per-entry errors, BatchGetMetrics per step and
per period, and its per-query validation errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.errors import ResourceNotFound
from modelbay.services.base import Context
from modelbay.services.sagemaker.trial_components import create_trial_component
from modelbay.services.sagemaker_metrics import OPERATIONS
from tests.helpers import T0

MODEL = botocore.session.get_session().get_service_model("sagemaker-metrics")
ARN = "arn:aws:sagemaker:eu-west-1:123456789012:experiment-trial-component/run-1"


def _call(ctx: Context, operation: str, **params: Any) -> Any:
    output = OPERATIONS[operation](ctx, params)
    report = ParamValidator().validate(output, MODEL.operation_model(operation).output_shape)
    assert not report.has_errors(), report.generate_report()
    return output


def _query(**given: Any) -> dict[str, Any]:
    return {"MetricName": "loss", "ResourceArn": ARN, "MetricStat": "Avg", "Period": "IterationNumber",
            "XAxisType": "IterationNumber"} | given


@pytest.fixture
def run(ctx: Context) -> None:
    """Trial component Run-1 (its ARN in lower case, the name BatchPutMetrics gives), with loss logged at steps
    0..5 over three minutes and a NaN refused."""
    create_trial_component(ctx, {"TrialComponentName": "Run-1"})
    data = [{"MetricName": "loss", "Timestamp": T0 + timedelta(seconds=40 * step), "Step": step // 2,
             "Value": float(step)} for step in range(6)]
    answer = _call(ctx, "BatchPutMetrics", TrialComponentName="run-1",
                   MetricData=[*data, {"MetricName": "loss", "Timestamp": T0, "Value": float("nan")}])
    assert answer == {"Errors": [{"Code": "VALIDATION_ERROR", "MetricIndex": 6}]}


def test_values_are_read_back_per_step_and_per_period(ctx: Context, run: None) -> None:
    results = _call(ctx, "BatchGetMetrics", MetricQueries=[
        _query(), _query(MetricStat="Max", Start=1, End=2),
        _query(MetricStat="Count", Period="OneMinute", XAxisType="Timestamp")])["MetricQueryResults"]
    assert results[0] == {"Status": "Complete", "XAxisValues": [0, 1, 2], "MetricValues": [0.5, 2.5, 4.5]}
    assert results[1] == {"Status": "Complete", "XAxisValues": [1, 2], "MetricValues": [3.0, 5.0]}
    minute = int(T0.timestamp())  # T0 starts a minute; the values came at seconds 0 40 | 80 | 120 160 | 200
    assert results[2]["XAxisValues"] == [minute, minute + 60, minute + 120, minute + 180]
    assert results[2]["MetricValues"] == [2.0, 1.0, 2.0, 1.0]


def test_each_bad_query_is_answered_in_its_result(ctx: Context, run: None) -> None:
    wrong_axis, unknown = _call(ctx, "BatchGetMetrics", MetricQueries=[
        _query(XAxisType="Timestamp"), _query(ResourceArn=ARN + "x")])["MetricQueryResults"]
    assert wrong_axis["Status"] == unknown["Status"] == "ValidationError"
    assert "does not exist" in unknown["Message"]


def test_an_unknown_trial_component_is_refused(ctx: Context) -> None:
    with pytest.raises(ResourceNotFound):
        OPERATIONS["BatchPutMetrics"](ctx, {"TrialComponentName": "nope", "MetricData": [
            {"MetricName": "loss", "Timestamp": T0, "Value": 1.0}]})
