"""A training job's log events, read through the CloudWatch Logs API as the SageMaker SDK reads them."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


class TrainingLogs:
    """Each instance's stream of one job (`<job>/algo-<n>-<start>`), read forward from where the last read ended."""

    def __init__(self, logs: Any, job: str) -> None:
        self.logs, self.job = logs, job
        self.tokens: dict[str, str] = {}  # stream → nextForwardToken of its last read

    def read(self) -> list[tuple[str, str]]:
        """The events written since the last call, as (host, message), stream by stream."""
        return [(self.host(stream), message) for stream in self._streams() for message in self._new_messages(stream)]

    def host(self, stream: str) -> str:
        """'job/algo-2-1700000000' → 'algo-2'."""
        return stream.removeprefix(self.job + "/").rsplit("-", 1)[0]

    def _streams(self) -> list[str]:
        pages = self.logs.get_paginator("describe_log_streams").paginate(
            logGroupName=LOG_GROUP, logStreamNamePrefix=self.job + "/")
        try:
            return [stream["logStreamName"] for page in pages for stream in page["logStreams"]]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return []  # no job has logged yet, so the group does not exist
            raise

    def _new_messages(self, stream: str) -> list[str]:
        messages: list[str] = []
        while True:
            token = self.tokens.get(stream)
            page = self.logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True,
                                            **({"nextToken": token} if token else {}))
            self.tokens[stream] = page["nextForwardToken"]
            if not page["events"]:
                return messages
            messages += [event["message"] for event in page["events"]]
