"""CloudWatch on one port in the three protocols its botocore model lists, each answered in the protocol it came in:
AWS JSON 1.0 (boto3's choice: botocore 1.44 ranks json above smithy-rpc-v2-cbor), Smithy RPC v2 CBOR (the model's
own `protocol`, which the SDKs of other languages speak) and query (older clients, the AWS CLI v2 of Debian)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import CREDENTIALS, client
from tests.helpers import ServerProcess, signed_headers, user_shell
from tests.integration.test_aws_cli import AWS, AWS_V2

NAMESPACE_MAX = 255
MEDIA_TYPES = {"smithy-rpc-v2-cbor": "application/cbor", "json": "application/x-amz-json-1.0", "query": "text/xml"}
NOT_SERVED = "ListDashboards"  # an operation modelbay does not serve (issue 15 leaves dashboards out)


def speaking(url: str, protocol: str, models: Path) -> Any:
    """A boto3 cloudwatch client that speaks `protocol`: botocore's own model, told that it is its only one."""
    description = botocore.session.get_session().get_service_data("cloudwatch")
    description["metadata"] |= {"protocol": protocol, "protocols": [protocol]}
    folder = models / protocol
    model = folder / "cloudwatch" / description["metadata"]["apiVersion"] / "service-2.json"
    model.parent.mkdir(parents=True)
    model.write_text(json.dumps(description))
    session = botocore.session.get_session()  # a loader of its own, which has not cached the model yet
    session.get_component("data_loader").search_paths.insert(0, str(folder))
    return boto3.Session(botocore_session=session, **CREDENTIALS).client(
        "cloudwatch", endpoint_url=url, config=Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def cloudwatch(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A client per protocol; boto3's own one speaks JSON 1.0."""
    default = client(server.url, "cloudwatch")
    assert default.meta.service_model.resolved_protocol == "json"
    models = tmp_path_factory.mktemp("models")
    return {"json": default, **{protocol: speaking(server.url, protocol, models)
                                for protocol in ("smithy-rpc-v2-cbor", "query")}}


def failure(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    return raised.value.response


@pytest.mark.parametrize("protocol", MEDIA_TYPES)
def test_an_operation_not_served_yet_is_a_clean_aws_error(cloudwatch: dict[str, Any], protocol: str) -> None:
    client = cloudwatch[protocol]
    assert client.meta.service_model.resolved_protocol == protocol
    answer = failure(client.list_dashboards)
    assert answer["Error"]["Code"] == "NotImplemented"
    assert answer["Error"]["Message"] == f"CloudWatch operation {NOT_SERVED} is not implemented by modelbay yet."
    metadata = answer["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == 501
    assert metadata["HTTPHeaders"]["content-type"].split(";")[0] == MEDIA_TYPES[protocol]
    assert metadata["RequestId"]


@pytest.mark.parametrize("protocol", MEDIA_TYPES)
def test_validation_errors_reach_every_protocol_as_cloudwatch_words_them(cloudwatch: dict[str, Any],
                                                                         protocol: str) -> None:
    client = cloudwatch[protocol]
    with pytest.raises(client.exceptions.ValidationException) as raised:  # botocore's class for ValidationError
        client.put_metric_data(Namespace="n" * (NAMESPACE_MAX + 1), MetricData=[{"MetricName": "m", "Value": 1.0}])
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationError"
    if protocol != "query":  # the query protocol's own code and fault, said as AWS says them in JSON and CBOR
        headers = raised.value.response["ResponseMetadata"]["HTTPHeaders"]
        assert headers["x-amzn-query-error"] == "ValidationError;Sender"
    assert error["Message"].startswith("1 validation error detected: ")
    assert "'namespace'" in error["Message"] and "255" in error["Message"]


@pytest.mark.parametrize("protocol", MEDIA_TYPES)
def test_a_metric_put_in_one_protocol_is_listed_in_each(cloudwatch: dict[str, Any], protocol: str,
                                                        unique: str) -> None:
    moment = datetime.now(UTC).replace(microsecond=250000)
    dimensions = [{"Name": "EndpointName", "Value": unique}]
    cloudwatch[protocol].put_metric_data(Namespace=unique, MetricData=[
        {"MetricName": "Latency", "Dimensions": dimensions, "Timestamp": moment, "Value": 1.5, "Unit": "Milliseconds",
         "StorageResolution": 1}])
    for each in cloudwatch.values():
        listed = each.list_metrics(Namespace=unique)
        assert listed["Metrics"] == [{"Namespace": unique, "MetricName": "Latency", "Dimensions": dimensions}]
    statistics = cloudwatch[protocol].get_metric_statistics(
        Namespace=unique, MetricName="Latency", Dimensions=dimensions, StartTime=moment - timedelta(minutes=1),
        EndTime=moment + timedelta(minutes=1), Period=60, Statistics=["Sum", "SampleCount"])
    assert [(point["Sum"], point["SampleCount"]) for point in statistics["Datapoints"]] == [(1.5, 1.0)]
    assert statistics["Datapoints"][0]["Timestamp"].tzinfo is not None


def test_a_query_request_is_answered_in_xml(server: ServerProcess) -> None:
    url = f"{server.url}/?Action={NOT_SERVED}&Version=2010-08-01"
    answer = httpx.post(url, headers=signed_headers("POST", url, "monitoring"), timeout=10)
    assert answer.status_code == 501
    assert answer.headers["content-type"].startswith("text/xml")
    assert "<Code>NotImplemented</Code>" in answer.text
    assert '<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">' in answer.text


def test_a_query_request_of_another_version_is_refused(server: ServerProcess) -> None:
    answer = httpx.post(server.url, params={"Action": NOT_SERVED, "Version": "2009-01-01"}, timeout=10)
    assert answer.status_code == 400
    assert "<Code>InvalidAction</Code>" in answer.text and "2010-08-01" in answer.text


@pytest.mark.parametrize("cli", ["v1", "v2"])
def test_the_aws_cli_lists_metrics(server: ServerProcess, cloudwatch: dict[str, Any], tmp_path: Path, unique: str,
                                   cli: str) -> None:
    """The AWS CLI v1 of PyPI (botocore 1.44: JSON 1.0) and Debian's v2 (its older botocore: query)."""
    assert AWS_V2.exists(), "AWS CLI v2 is not unpacked: run `make test` (or `make .cache/awscli-v2/.installed`)"
    command = [AWS] if cli == "v1" else [str(AWS_V2), "--endpoint-url", server.url]
    cloudwatch["json"].put_metric_data(Namespace=unique, MetricData=[{"MetricName": "Invocations", "Value": 1.0}])
    env = user_shell(server.url, tmp_path)
    listed = subprocess.run([*command, "cloudwatch", "list-metrics", "--namespace", unique], capture_output=True,
                            text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["Metrics"] == [{"Namespace": unique, "MetricName": "Invocations",
                                                     "Dimensions": []}]
    refused = subprocess.run([*command, "cloudwatch", "list-dashboards"], capture_output=True, text=True, env=env,
                             timeout=120)
    assert refused.returncode != 0
    assert f"(NotImplemented) when calling the {NOT_SERVED} operation" in refused.stderr
