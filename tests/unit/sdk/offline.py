"""Real boto3 clients that never leave the process, for the SDK's unit tests.

Each call is validated against botocore's service model as boto3 sends it, recorded, and answered
from a script instead of the network; waiters are botocore's own, polling these answers.
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

BUCKET = "sagemaker-us-west-2-123456789012"


class OfflineClient:
    """A boto3 client whose calls land in `calls` as (operation, params) and are answered by `answer()`d replies."""

    def __init__(self, service: str) -> None:
        self.client: Any = boto3.client(service, region_name="us-west-2", endpoint_url="http://offline.invalid",
                                        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret")
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.replies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.client.meta.events.register("before-parameter-build", self._record)
        self.client.meta.events.register("before-call", self._reply)

    def answer(self, operation: str, *replies: dict[str, Any]) -> None:
        """Queue replies to `operation` (its output shape, or {"Error": {...}}); the last one repeats."""
        self.replies[operation] += replies

    def fail(self, operation: str, code: str, message: str) -> None:
        self.answer(operation, {"Error": {"Code": code, "Message": message}})

    def sent(self, operation: str) -> list[dict[str, Any]]:
        """The params of each call of `operation`, in order."""
        return [params for name, params in self.calls if name == operation]

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))

    def _reply(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        queue = self.replies[model.name]
        reply = queue.pop(0) if len(queue) > 1 else queue[0] if queue else {}
        status = 400 if "Error" in reply else 200
        return AWSResponse("http://offline.invalid", status, {}, None), reply | {
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}}}


def body(data: bytes) -> StreamingBody:
    """An InvokeEndpoint answer's Body."""
    return StreamingBody(io.BytesIO(data), len(data))


class FakeS3:
    """What the SDK uses of S3: upload_file, into `objects` by (bucket, key)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def upload_file(self, filename: str, bucket: str, key: str) -> None:
        self.objects[(bucket, key)] = Path(filename).read_bytes()


class OfflineSession:
    """What the SDK uses of a Session, with a region and account other than the defaults."""

    region, account_id = "us-west-2", "123456789012"

    def __init__(self) -> None:
        self.sagemaker, self.runtime, self.logs = (OfflineClient(service) for service in (
            "sagemaker", "sagemaker-runtime", "logs"))
        self.s3 = FakeS3()

    def default_bucket(self) -> str:
        return BUCKET
