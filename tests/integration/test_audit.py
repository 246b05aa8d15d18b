"""Which call failed, and why: `modelbay audit` over the audit trail, and the server's log of calls that failed on
modelbay's side."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers import ServerProcess, wait_until
from tests.integration.test_cli import modelbay


def failed_call(call: Any, **params: Any) -> dict[str, Any]:
    """Make a call that fails; return its error response."""
    with pytest.raises(ClientError) as raised:
        call(**params)
    response: dict[str, Any] = raised.value.response
    return response


def test_audit_failed_shows_a_failed_call_with_its_message(sagemaker: Any, server: ServerProcess,
                                                           unique: str) -> None:
    sagemaker.list_training_jobs(MaxResults=1)
    error = failed_call(sagemaker.describe_training_job, TrainingJobName=unique)
    done = modelbay("audit", "--failed", "--since", "10m", "--operation", "DescribeTrainingJob", "--json",
                    url=server.url)
    assert done.returncode == 0, done.stderr
    events = json.loads(done.stdout)
    assert all(event["Outcome"] != "Success" and event["Operation"] == "DescribeTrainingJob" for event in events)
    [event] = [event for event in events if event["RequestId"] == error["ResponseMetadata"]["RequestId"]]
    assert (event["Service"], event["Outcome"], event["StatusCode"]) == ("sagemaker", "ValidationException", 400)
    assert event["ErrorMessage"] == error["Error"]["Message"] and event["Resources"] == [unique]
    assert event["Principal"].startswith("arn:aws:iam::")


def test_audit_prints_a_table_a_person_reads(sagemaker: Any, server: ServerProcess, unique: str) -> None:
    error = failed_call(sagemaker.describe_endpoint, EndpointName=unique)
    done = modelbay("audit", "--failed", "--operation", "DescribeEndpoint", url=server.url, env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert "DescribeEndpoint" in done.stdout and "ValidationException" in done.stdout and unique in done.stdout
    assert error["Error"]["Message"].split(unique)[0].strip() in done.stdout


def test_audit_refuses_a_since_it_cannot_read(server: ServerProcess) -> None:
    done = modelbay("audit", "--since", "yesterday", url=server.url)
    assert done.returncode == 2 and "neither a duration" in done.stderr


def test_the_server_logs_a_call_it_does_not_serve_but_not_an_ordinary_client_error(
        sagemaker: Any, server: ServerProcess, unique: str) -> None:
    ordinary = failed_call(sagemaker.describe_model, ModelName=unique)["ResponseMetadata"]["RequestId"]
    unserved = failed_call(sagemaker.list_clusters)
    assert unserved["Error"]["Code"] == "NotImplemented"
    request_id = unserved["ResponseMetadata"]["RequestId"]
    log = server.data_dir / "server.log"
    wait_until(lambda: request_id in log.read_text(), 10, "the unserved call in the server's log")
    [line] = [line for line in log.read_text().splitlines() if request_id in line]
    assert " WARNING modelbay.api.pipeline: " in line
    assert f"ListClusters answered 501 NotImplemented: {unserved['Error']['Message']}" in line
    assert ordinary not in log.read_text()
