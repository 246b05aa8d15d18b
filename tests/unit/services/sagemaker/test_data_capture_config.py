"""CreateEndpointConfig's DataCaptureConfig: accepted and echoed (by DescribeEndpoint too, as its summary), or
refused with a ValidationException that names what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.services.base import Context
from tests.unit.services.sagemaker.test_hosting import _call, _error, _model, _variant

CAPTURE: dict[str, Any] = {
    "EnableCapture": True, "InitialSamplingPercentage": 20, "DestinationS3Uri": "s3://b/capture",
    "KmsKeyId": "alias/aws/sagemaker", "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}}


def test_a_data_capture_config_is_echoed_and_summarised(ctx: Context) -> None:
    _model(ctx)
    _call(ctx, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[_variant()],
          DataCaptureConfig=CAPTURE)
    assert _call(ctx, "DescribeEndpointConfig", EndpointConfigName="c")["DataCaptureConfig"] == CAPTURE
    _call(ctx, "CreateEndpoint", EndpointName="e", EndpointConfigName="c")
    assert _call(ctx, "DescribeEndpoint", EndpointName="e")["DataCaptureConfig"] == {
        "EnableCapture": True, "CaptureStatus": "Started", "CurrentSamplingPercentage": 20,
        "DestinationS3Uri": "s3://b/capture", "KmsKeyId": "alias/aws/sagemaker"}


@pytest.mark.parametrize(("change", "words"), [
    ({"DestinationS3Uri": "https://b.s3.amazonaws.com/capture"}, "DestinationS3Uri must be an S3 URI"),
    ({"DestinationS3Uri": "s3:///capture"}, "DestinationS3Uri must be an S3 URI"),
    ({"CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Input"}]}, "Input repeated"),
    ({"CaptureOptions": [{"CaptureMode": "InputAndOutput"}, {"CaptureMode": "Output"}]}, "Output repeated"),
    ({"CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["Text/CSV"]}},
     "text/csv is listed as both"),
])
def test_data_capture_config_refusals(ctx: Context, change: dict[str, Any], words: str) -> None:
    _model(ctx)
    error = _error(ctx, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[_variant()],
                   DataCaptureConfig=CAPTURE | change)
    assert (error.code, words in str(error)) == ("ValidationException", True), str(error)
    assert ctx.metadata.endpoint_configs.get("c") is None
