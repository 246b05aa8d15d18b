"""A job's or an endpoint's log events, read through the CloudWatch Logs API as the SageMaker SDK reads them.

Shared by `Estimator.fit`/`logs`, `modelbay jobs logs`, `Transformer.transform(logs=True)` and
`modelbay endpoints logs`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from botocore.exceptions import ClientError

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"
ENDPOINT_LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"  # then the endpoint's name


class LogEvent(NamedTuple):
    host: str
    message: str
    timestamp_ms: int


class TrainingLogs:
    """Each instance's stream of one job (`<job>/algo-<n>-<start>`) in `group`, read forward from where the last
    read ended."""

    def __init__(self, logs: Any, job: str, group: str = LOG_GROUP) -> None:
        self.logs, self.job, self.group = logs, job, group
        self.prefix = job + "/"  # of the streams read
        self.tokens: dict[str, str] = {}  # stream → nextForwardToken of its last read

    def read(self) -> list[tuple[str, str]]:
        """The events written since the last read, as (host, message), stream by stream."""
        return [(event.host, event.message) for event in self.read_events()]

    def read_events(self) -> list[LogEvent]:
        """The events written since the last read, stream by stream."""
        return [LogEvent(self.host(stream), event["message"], event["timestamp"])
                for stream in self._streams() for event in self._new_events(stream)]

    def host(self, stream: str) -> str:
        """'job/algo-2-1700000000' → 'algo-2'."""
        return stream.removeprefix(self.job + "/").rsplit("-", 1)[0]

    def _streams(self) -> list[str]:
        pages = self.logs.get_paginator("describe_log_streams").paginate(
            logGroupName=self.group, **({"logStreamNamePrefix": self.prefix} if self.prefix else {}))
        try:
            return [stream["logStreamName"] for page in pages for stream in page["logStreams"]]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return []  # no job has logged yet, so the group does not exist
            raise

    def _new_events(self, stream: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        while True:
            token = self.tokens.get(stream)
            page = self.logs.get_log_events(logGroupName=self.group, logStreamName=stream, startFromHead=True,
                                            **({"nextToken": token} if token else {}))
            self.tokens[stream] = page["nextForwardToken"]
            if not page["events"]:
                return events
            events += page["events"]


class EndpointLogs(TrainingLogs):
    """Each instance's stream of one endpoint: `<variant>/<instance>` in `/aws/sagemaker/Endpoints/<endpoint>`."""

    def __init__(self, logs: Any, endpoint: str) -> None:
        super().__init__(logs, endpoint, ENDPOINT_LOG_GROUP_PREFIX + endpoint)
        self.prefix = ""  # every stream of the group

    def host(self, stream: str) -> str:
        """The stream's name: `<variant>/<instance>`."""
        return stream
