"""Data capture on a real server through boto3, its config made by the SageMaker SDK's DataCaptureConfig and its
files read back with the SDK's S3Downloader: sampled invocations land in S3 in SageMaker's layout, and the SDK's
Predictor.update_data_capture_config (UpdateEndpoint to a config with EnableCapture false) stops them.

A second endpoint, capturing every invocation, is the test's clock: the server writes the records queued before
one of its invocations no later than that invocation's own, so once its record is in S3 the first endpoint's
earlier records are too (or never will be)."""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
import sagemaker as sagemaker_sdk
from sagemaker.model_monitor import DataCaptureConfig
from sagemaker.predictor import Predictor
from sagemaker.s3 import S3Downloader

from modelbay.sdk import Session
from tests.conftest import CREDENTIALS, client
from tests.helpers import ServerProcess, wait_until
from tests.integration.models import echo_model
from tests.integration.test_endpoints import IN_SERVICE

INVOCATIONS = 300
PERCENT = 50
# The binomial(300, 0.5) count's 99.9 % interval: 150 ± 3.29 standard deviations (8.66).
LOW, HIGH = 122, 178
KEY = re.compile(r"(?P<hour>\d{4}/\d{2}/\d{2}/\d{2})/\d{2}-\d{2}-\d{3}-[0-9a-f-]{36}\.jsonl")


@pytest.fixture
def sdk_session(server: ServerProcess, unique: str) -> sagemaker_sdk.Session:
    """The SageMaker SDK's session with the server, its S3 calls included."""
    boto_session = boto3.Session(**CREDENTIALS)
    made = sagemaker_sdk.Session(boto_session=boto_session, sagemaker_client=client(server.url, "sagemaker"),
                                 sagemaker_runtime_client=client(server.url, "sagemaker-runtime"),
                                 default_bucket=unique)
    made.s3_client = client(server.url, "s3")
    made.s3_resource = boto_session.resource("s3", endpoint_url=server.url)
    # UpdateEndpoint's wait polls every 30 s; the server deploys in a few
    made.wait_for_endpoint = functools.partial(made.wait_for_endpoint, poll=0.5)  # type: ignore[method-assign]
    return made


def capture_config(sdk_session: sagemaker_sdk.Session, enable: bool, percent: int, uri: str) -> dict[str, Any]:
    """The request the SDK makes of its DataCaptureConfig (as model.deploy and update_data_capture_config send)."""
    config = DataCaptureConfig(enable_capture=enable, sampling_percentage=percent, destination_s3_uri=uri,
                               csv_content_types=["text/csv", "text/plain"], sagemaker_session=sdk_session)
    request: dict[str, Any] = config._to_request_dict()
    return request


def records(sdk_session: sagemaker_sdk.Session, uri: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(object key, record) of every captured record under `uri`, read with the SDK."""
    for found in S3Downloader.list(uri, sagemaker_session=sdk_session):
        for line in S3Downloader.read_file(found, sagemaker_session=sdk_session).splitlines():
            yield found, json.loads(line)


def ids(sdk_session: sagemaker_sdk.Session, uri: str, prefix: str) -> list[str]:
    return [record["eventMetadata"].get("inferenceId", "") for _, record in records(sdk_session, uri)
            if record["eventMetadata"].get("inferenceId", "").startswith(prefix)]


@pytest.mark.filterwarnings("ignore:Predictor is part of the SageMaker Python SDK v2")
def test_sampled_invocations_are_captured_in_sagemakers_layout_until_capture_is_disabled(
        server: ServerProcess, session: Session, sagemaker: Any, s3: Any, unique: str, tmp_path: Path,
        sdk_session: sagemaker_sdk.Session) -> None:
    s3.create_bucket(Bucket=unique)
    model = echo_model(session, tmp_path).create()
    variant = {"VariantName": "a", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    destination, clock = f"s3://{unique}/capture", f"{unique}-clock"
    for name, percent in ((unique, PERCENT), (clock, 100)):
        sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant],
                                         DataCaptureConfig=capture_config(sdk_session, True, percent, destination))
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    for name in (unique, clock):
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=IN_SERVICE)
    assert sagemaker.describe_endpoint(EndpointName=unique)["DataCaptureConfig"]["CurrentSamplingPercentage"] == 50
    runtime = client(server.url, "sagemaker-runtime")
    ticks = itertools.count()

    def invoke(endpoint: str, inference_id: str, body: str) -> None:
        runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv", InferenceId=inference_id)

    def written_up_to_now() -> bool:
        """Invoke the clock endpoint; True once one of its records is in S3."""
        invoke(clock, f"tick-{next(ticks)}", "0")
        return bool(ids(sdk_session, f"{destination}/{clock}", "tick-"))

    # STEP 1: a small load generator and a streamed invocation, then every record they left is written
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: invoke(unique, f"load-{i}", f"1,2,{i}"), range(INVOCATIONS)))
    streamed = runtime.invoke_endpoint_with_response_stream(EndpointName=clock, Body="5,6", ContentType="text/csv",
                                                            InferenceId="streamed")
    assert b"".join(event["PayloadPart"]["Bytes"] for event in streamed["Body"]) == b"text/csv:5,6"
    wait_until(written_up_to_now, 60, "the clock endpoint's record", every_s=0.2)
    [(_, whole)] = [found for found in records(sdk_session, f"{destination}/{clock}")
                    if found[1]["eventMetadata"]["inferenceId"] == "streamed"]
    assert whole["captureData"]["endpointOutput"]["data"] == "text/csv:5,6"

    # STEP 2: SageMaker's layout, parseable records, about PERCENT % of the invocations, their InferenceIds kept
    captured = list(records(sdk_session, f"{destination}/{unique}/"))
    assert LOW <= len(captured) <= HIGH, len(captured)
    seen = set()
    for uri, record in captured:
        match = KEY.fullmatch(uri.removeprefix(f"{destination}/{unique}/a/"))
        assert match, uri
        inference_id, time = record["eventMetadata"]["inferenceId"], record["eventMetadata"]["inferenceTime"]
        assert time.startswith(match["hour"].replace("/", "-", 2).replace("/", "T")), (uri, time)
        number = inference_id.removeprefix("load-")
        assert record["captureData"]["endpointInput"] == {
            "observedContentType": "text/csv", "mode": "INPUT", "data": f"1,2,{number}", "encoding": "CSV"}
        output = record["captureData"]["endpointOutput"]
        assert (output["data"], output["encoding"], record["eventVersion"]) == (f"text/csv:1,2,{number}", "CSV", "0")
        seen.add(inference_id)
    assert len(seen) == len(captured)  # each invocation captured once at most

    # STEP 3: the SDK's update_data_capture_config (a copy of the config, capturing nothing, and UpdateEndpoint);
    # what follows the update is not captured
    predictor = Predictor(unique, sagemaker_session=sdk_session)
    predictor.update_data_capture_config(DataCaptureConfig(enable_capture=False, sagemaker_session=sdk_session))
    assert sagemaker.describe_endpoint(EndpointName=unique)["EndpointStatus"] == "InService"
    summary = sagemaker.describe_endpoint(EndpointName=unique)["DataCaptureConfig"]
    assert (summary["EnableCapture"], summary["CaptureStatus"]) == (False, "Stopped")
    for i in range(100):
        invoke(unique, f"after-{i}", "3,4")
    before = len(ids(sdk_session, f"{destination}/{clock}", "tick-"))
    wait_until(lambda: written_up_to_now() and len(ids(sdk_session, f"{destination}/{clock}", "tick-")) > before,
               60, "a later record of the clock endpoint", every_s=0.2)
    assert ids(sdk_session, f"{destination}/{unique}/", "after-") == []
    for name in (unique, clock):
        sagemaker.delete_endpoint(EndpointName=name)
