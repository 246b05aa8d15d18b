"""CloudWatch Logs through boto3's `logs` client against a real server, as the SageMaker SDK reads
training logs: DescribeLogStreams, then GetLogEvents with startFromHead and nextForwardToken."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.helpers import ServerProcess


@pytest.fixture(scope="module")
def logs(server: ServerProcess) -> Any:
    return client(server.url, "logs")


def _put(logs: Any, group: str, stream: str, events: list[tuple[int, str]]) -> dict[str, Any]:
    return dict(logs.put_log_events(logGroupName=group, logStreamName=stream,
                                    logEvents=[{"timestamp": t, "message": m} for t, m in events]))


@pytest.fixture
def group(logs: Any, unique: str) -> str:
    name = f"/aws/sagemaker/TrainingJobs-{unique}"
    logs.create_log_group(logGroupName=name)
    return name


def test_streams_are_described_by_name_or_last_event_time(logs: Any, group: str) -> None:
    for stream, stamp in (("job/algo-1-1", 3000), ("job/algo-2-1", 1000), ("other/algo-1-1", 2000)):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        assert "nextSequenceToken" in _put(logs, group, stream, [(stamp, "a"), (stamp + 5, "b")])
    by_name = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="job/")["logStreams"]
    assert [s["logStreamName"] for s in by_name] == ["job/algo-1-1", "job/algo-2-1"]
    first = by_name[0]
    assert (first["firstEventTimestamp"], first["lastEventTimestamp"], first["storedBytes"]) == (3000, 3005, 0)
    assert first["lastIngestionTime"] >= first["creationTime"]
    assert first["arn"].endswith(f":log-group:{group}:log-stream:job/algo-1-1")
    latest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True, limit=2)
    assert [s["logStreamName"] for s in latest["logStreams"]] == ["job/algo-1-1", "other/algo-1-1"]
    rest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True,
                                     nextToken=latest["nextToken"])
    assert [s["logStreamName"] for s in rest["logStreams"]] == ["job/algo-2-1"] and "nextToken" not in rest
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [(g["logGroupName"], g["storedBytes"]) for g in groups] == [(group, 6)]


def test_get_log_events_pages_forward_and_backward_and_tails(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    _put(logs, group, "s", [(1000 + n, f"line {n}") for n in range(5)])
    head = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True, limit=2)
    assert [e["message"] for e in head["events"]] == ["line 0", "line 1"]
    assert head["events"][0]["ingestionTime"] > 1_600_000_000_000  # a wall-clock time in ms
    more = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=head["nextForwardToken"], limit=10)
    assert [e["message"] for e in more["events"]] == ["line 2", "line 3", "line 4"]
    tail = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=more["nextForwardToken"])
    assert tail["events"] == [] and tail["nextForwardToken"] == more["nextForwardToken"]
    back = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=more["nextBackwardToken"], limit=1)
    assert [e["message"] for e in back["events"]] == ["line 1"]
    _put(logs, group, "s", [(2000, "new")])
    resumed = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=tail["nextForwardToken"])
    assert [e["message"] for e in resumed["events"]] == ["new"]


def test_without_a_token_the_newest_events_in_the_window_come_back(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    _put(logs, group, "s", [(10, "a"), (20, "b"), (30, "c"), (40, "d")])
    newest = logs.get_log_events(logGroupName=group, logStreamName="s", limit=2)
    assert [e["message"] for e in newest["events"]] == ["c", "d"]
    window = logs.get_log_events(logGroupName=group, logStreamName="s", startTime=20, endTime=40, startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["b", "c"]
    empty = logs.get_log_events(logGroupName=group, logStreamName="s", startTime=50, startFromHead=True)
    assert empty["events"] == []
    again = logs.get_log_events(logGroupName=group, logStreamName="s", startTime=50,
                                nextToken=empty["nextForwardToken"])
    assert again["events"] == [] and again["nextForwardToken"] == empty["nextForwardToken"]


def test_filter_log_events_across_streams_with_a_pattern_and_paging(logs: Any, group: str) -> None:
    for stream in ("job/algo-1-1", "job/algo-2-1"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    _put(logs, group, "job/algo-1-1", [(100, "ERROR disk full"), (300, "INFO ok"), (500, "WARN slow")])
    _put(logs, group, "job/algo-2-1", [(200, "ERROR out of memory"), (400, "ERROR disk full")])
    found = logs.filter_log_events(logGroupName=group, filterPattern='ERROR "disk full"')
    assert [(e["logStreamName"], e["timestamp"]) for e in found["events"]] == [("job/algo-1-1", 100),
                                                                              ("job/algo-2-1", 400)]
    assert len({e["eventId"] for e in found["events"]}) == 2 and "nextToken" not in found
    first = logs.filter_log_events(logGroupName=group, logStreamNamePrefix="job/", filterPattern="?ERROR ?WARN",
                                   limit=2)
    assert [e["message"] for e in first["events"]] == ["ERROR disk full", "ERROR out of memory"]
    second = logs.filter_log_events(logGroupName=group, logStreamNamePrefix="job/", filterPattern="?ERROR ?WARN",
                                    limit=2, nextToken=first["nextToken"])
    assert [e["message"] for e in second["events"]] == ["ERROR disk full", "WARN slow"]
    in_time = logs.filter_log_events(logGroupName=group, logStreamNames=["job/algo-1-1"], startTime=300, endTime=500)
    assert [e["message"] for e in in_time["events"]] == ["INFO ok", "WARN slow"]


@pytest.mark.parametrize(("call", "code", "message"), [
    (lambda logs, g: logs.get_log_events(logGroupName=g + "-missing", logStreamName="s"),
     "ResourceNotFoundException", "The specified log group does not exist."),
    (lambda logs, g: logs.get_log_events(logGroupName=g, logStreamName="missing"),
     "ResourceNotFoundException", "The specified log stream does not exist."),
    (lambda logs, g: logs.describe_log_streams(logGroupName=g + "-missing"),
     "ResourceNotFoundException", "The specified log group does not exist."),
    (lambda logs, g: logs.create_log_group(logGroupName=g),
     "ResourceAlreadyExistsException", "The specified log group already exists"),
    (lambda logs, g: logs.create_log_stream(logGroupName=g, logStreamName="s"),
     "ResourceAlreadyExistsException", "The specified log stream already exists"),
    (lambda logs, g: _put(logs, g, "missing", [(1, "x")]),
     "ResourceNotFoundException", "The specified log stream does not exist."),
    (lambda logs, g: logs.describe_log_streams(logGroupName=g, orderBy="LastEventTime", logStreamNamePrefix="a"),
     "InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix."),
    (lambda logs, g: logs.filter_log_events(logGroupName=g, filterPattern="{ $.x = 1 }"),
     "InvalidParameterException", "JSON filter patterns are not supported"),
    (lambda logs, g: logs.get_log_events(logGroupName=g, logStreamName="s", nextToken="garbage"),
     "InvalidParameterException", "The specified nextToken is invalid."),
])
def test_errors_are_spelled_as_aws_spells_them(logs: Any, group: str, call: Any, code: str, message: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    with pytest.raises(ClientError) as caught:
        call(logs, group)
    assert caught.value.response["Error"]["Code"] == code
    assert message in caught.value.response["Error"]["Message"]


def test_out_of_order_batches_are_rejected_and_deleted_groups_are_gone(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    with pytest.raises(ClientError) as caught:
        _put(logs, group, "s", [(2, "b"), (1, "a")])
    assert caught.value.response["Error"]["Code"] == "InvalidParameterException"
    assert logs.get_log_events(logGroupName=group, logStreamName="s")["events"] == []
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    with pytest.raises(ClientError) as gone:
        logs.delete_log_group(logGroupName=group)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
