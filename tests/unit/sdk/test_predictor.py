"""Predictor's requests through real boto3 clients answered offline (tests/unit/sdk/offline.py)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from modelbay.sdk import EndpointFailed, NumpyDeserializer, NumpySerializer, Predictor
from tests.unit.sdk.offline import OfflineSession, body

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def endpoint(status: str, **more: Any) -> dict[str, Any]:
    """A DescribeEndpoint answer."""
    return {"EndpointName": "e", "EndpointArn": "arn:aws:sagemaker:us-west-2:123456789012:endpoint/e",
            "EndpointConfigName": "e-config", "EndpointStatus": status, "CreationTime": NOW,
            "LastModifiedTime": NOW} | more


def answer(offline: OfflineSession, data: bytes, content_type: str = "application/json", variant: str = "a") -> None:
    offline.runtime.answer("InvokeEndpoint", {"Body": body(data), "ContentType": content_type,
                                              "InvokedProductionVariant": variant})


def test_predict_sends_csv_accepts_json_and_remembers_the_variant(offline: OfflineSession) -> None:
    answer(offline, b"[5.0, 11.0]", variant="b")
    predictor = Predictor("e", offline)  # type: ignore[arg-type]
    assert predictor.last_variant is None
    assert predictor.predict([[1, 2], [3, 4]]) == [5.0, 11.0]
    assert predictor.last_variant == "b"
    assert offline.runtime.calls == [("InvokeEndpoint", {
        "EndpointName": "e", "ContentType": "text/csv", "Accept": "application/json", "Body": "1,2\n3,4"})]


def test_predict_names_the_variant_attributes_and_lets_initial_args_override(offline: OfflineSession) -> None:
    answer(offline, b"{}")
    Predictor("e", offline).predict(  # type: ignore[arg-type]
        "1,2", target_variant="b", custom_attributes="trace=1",
        initial_args={"ContentType": "text/csv; charset=utf-8", "InferenceId": "req-1"})
    [sent] = offline.runtime.sent("InvokeEndpoint")
    assert sent == {"EndpointName": "e", "ContentType": "text/csv; charset=utf-8", "Accept": "application/json",
                    "Body": "1,2", "TargetVariant": "b", "CustomAttributes": "trace=1", "InferenceId": "req-1"}


def test_the_deserializer_reads_the_answer_by_its_own_content_type(offline: OfflineSession) -> None:
    answer(offline, b"5.0\n11.0\n", content_type="text/csv")  # asked for .npy, the model answered CSV
    predictor = Predictor("e", offline, NumpySerializer(), NumpyDeserializer())  # type: ignore[arg-type]
    assert predictor.predict(np.array([[1, 2], [3, 4]])).tolist() == [[5.0], [11.0]]
    [sent] = offline.runtime.sent("InvokeEndpoint")
    assert (sent["ContentType"], sent["Accept"]) == ("application/x-npy", "application/x-npy")
    assert np.load(io.BytesIO(sent["Body"])).tolist() == [[1, 2], [3, 4]]


def test_update_weights_sends_weights_and_counts_and_waits_for_in_service(offline: OfflineSession) -> None:
    offline.sagemaker.answer("UpdateEndpointWeightsAndCapacities", {"EndpointArn": "arn"})
    offline.sagemaker.answer("DescribeEndpoint", endpoint("Updating"), endpoint("Updating"), endpoint("InService"))
    Predictor("e", offline).update_weights({"a": 0, "b": 1}, instance_counts={"b": 2, "c": 3})  # type: ignore[arg-type]
    assert offline.sagemaker.operations() == ["UpdateEndpointWeightsAndCapacities"] + ["DescribeEndpoint"] * 3
    assert offline.sagemaker.sent("UpdateEndpointWeightsAndCapacities") == [{
        "EndpointName": "e", "DesiredWeightsAndCapacities": [
            {"VariantName": "a", "DesiredWeight": 0.0}, {"VariantName": "b", "DesiredWeight": 1.0,
                                                         "DesiredInstanceCount": 2},
            {"VariantName": "c", "DesiredInstanceCount": 3}]}]


def test_update_weights_without_wait_returns_at_once(offline: OfflineSession) -> None:
    offline.sagemaker.answer("UpdateEndpointWeightsAndCapacities", {"EndpointArn": "arn"})
    Predictor("e", offline).update_weights({"a": 1}, wait=False)  # type: ignore[arg-type]
    assert offline.sagemaker.operations() == ["UpdateEndpointWeightsAndCapacities"]


@pytest.mark.parametrize(("reply", "reason"), [
    (endpoint("Failed", FailureReason="variant a: the model server exited with 1"),
     "variant a: the model server exited with 1"),
    ({"Error": {"Code": "ValidationException", "Message": 'Could not find endpoint "e".'}},
     'Could not find endpoint "e".'),
])
def test_wait_raises_with_the_failure_reason(offline: OfflineSession, reply: dict[str, Any], reason: str) -> None:
    offline.sagemaker.answer("DescribeEndpoint", endpoint("Creating"), reply)
    with pytest.raises(EndpointFailed) as failed:
        Predictor("e", offline).wait()  # type: ignore[arg-type]
    assert (failed.value.endpoint_name, failed.value.reason) == ("e", reason)
    assert str(failed.value) == f"endpoint e is not in service: {reason}"


def config_answer(offline: OfflineSession) -> None:
    offline.sagemaker.answer("DescribeEndpoint", endpoint("InService"))
    offline.sagemaker.answer("DescribeEndpointConfig", {
        "EndpointConfigName": "e-config", "EndpointConfigArn": "arn", "CreationTime": NOW, "ProductionVariants": [
            {"VariantName": v, "ModelName": m, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
            for v, m in (("a", "m1"), ("b", "m2"), ("c", "m1"))]})


def test_delete_endpoint_then_model_deletes_the_endpoint_its_config_and_each_model_once(
        offline: OfflineSession) -> None:
    config_answer(offline)
    predictor = Predictor("e", offline)  # type: ignore[arg-type]
    predictor.delete_endpoint()
    predictor.delete_model()  # the endpoint and its config are gone: the names were learnt before
    assert offline.sagemaker.calls == [
        ("DescribeEndpoint", {"EndpointName": "e"}), ("DescribeEndpointConfig", {"EndpointConfigName": "e-config"}),
        ("DeleteEndpoint", {"EndpointName": "e"}), ("DeleteEndpointConfig", {"EndpointConfigName": "e-config"}),
        ("DeleteModel", {"ModelName": "m1"}), ("DeleteModel", {"ModelName": "m2"})]


def test_delete_endpoint_can_keep_the_config(offline: OfflineSession) -> None:
    config_answer(offline)
    Predictor("e", offline).delete_endpoint(delete_endpoint_config=False)  # type: ignore[arg-type]
    assert "DeleteEndpointConfig" not in offline.sagemaker.operations()
    assert offline.sagemaker.sent("DeleteEndpoint") == [{"EndpointName": "e"}]
