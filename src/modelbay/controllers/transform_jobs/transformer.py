"""Transformer: a batch transform job's input objects sent through its ready hosts, and the outputs written.

It runs on an event loop of its own in a background thread; the transform controller polls its
future. Requests go to the hosts round-robin by worker, MaxConcurrentTransforms in flight per host
(1 when it is unset or 0: modelbay does not ask a container's /execution-parameters). Each request
flows through the host's containers as an endpoint's does (router.call_pipeline). An object's
requests may be answered in any order; their outputs are written in order to a scratch file,
stored whole as `<S3OutputPath>/<name>.out` once the last one is answered (SSE-KMS under
TransformOutput.KmsKeyId when the job names one).

A model's error answer, a record that cannot be processed or an output that cannot be stored ends
the run with TransformFailed, whose message is the job's FailureReason. A call that got no answer
at all (a timeout, a broken connection) is retried up to ModelClientConfig.InvocationsMaxRetries
times; an answer with an error status is the model's verdict and is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from modelbay.controllers.staging import Source, StagingError, input_sources
from modelbay.controllers.uploads import put_stream
from modelbay.errors import AwsError
from modelbay.serving.batch.records import (
    Batch,
    DataProcessing,
    RecordError,
    batch_output,
    batches,
    read_records,
)
from modelbay.serving.router import ModelFailure, NotDelivered, Request, call_pipeline
from modelbay.serving.upstream import Answer, Upstream
from modelbay.store.metadata.transform_jobs import TransformJobSpec
from modelbay.store.objects.base import DataKeys, ObjectStore, ObjectStoreError
from modelbay.store.objects.uris import S3Location, parse_uri

MESSAGE_CHARS = 600  # of a model's error message, in a FailureReason (at most 1024 characters in all)


class TransformFailed(Exception):
    """The job failed; the message is its FailureReason."""


class _NoAnswer(TransformFailed):
    """A call that got no answer (a timeout, a broken connection): it may be tried again."""


class TransformStopped(Exception):
    """The run ended because the job is being stopped."""


@dataclass
class _ObjectOutput:
    """One input object's output: request outputs written in order as they come, stored once all are in."""

    source: Source
    file: BinaryIO
    written: int = 0  # requests whose output is in the file
    total: int | None = None  # requests, once the object has been read to its end
    content_type: str | None = None
    pending: dict[int, bytes] = field(default_factory=dict)
    is_stored: bool = False

    def add(self, index: int, data: bytes) -> None:
        self.pending[index] = data
        while self.written in self.pending:
            self.file.write(self.pending.pop(self.written))
            self.written += 1


_Work = tuple[_ObjectOutput, int, Batch]


class Transformer:
    """One run of a job (as its spec says) over its hosts, each given as its containers' URLs in call order; its
    outputs are written SSE-KMS under `kms_key_id` if given, `keys` reaching KMS (uploads.put_stream)."""

    def __init__(self, objects: ObjectStore, spec: TransformJobSpec, hosts: Sequence[Sequence[str]], scratch: Path,
                 stop: threading.Event, kms_key_id: str | None = None, keys: DataKeys | None = None) -> None:
        self.objects, self.spec, self.hosts, self.scratch, self.stop = objects, spec, hosts, scratch, stop
        self.kms_key_id, self.keys = kms_key_id, keys
        self.processing = DataProcessing(spec.input_filter, spec.output_filter, spec.join_source, spec.content_type,
                                         spec.accept)

    def run(self) -> None:
        """Transform every input object; raise TransformFailed or TransformStopped."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        asyncio.run(self._run())

    async def _run(self) -> None:
        hosts = [tuple(Upstream(url) for url in urls) for urls in self.hosts]
        workers = self.spec.max_concurrent_transforms * len(hosts)
        queue: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=workers)
        tasks = [asyncio.create_task(self._work(queue, hosts[index % len(hosts)])) for index in range(workers)]
        tasks.append(asyncio.create_task(self._produce(queue, workers)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            errors = [error for task in done if (error := task.exception()) is not None]
            if errors:
                raise errors[0]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for host in hosts:
                for upstream in host:
                    upstream.close()

    async def _produce(self, queue: asyncio.Queue[_Work | None], workers: int) -> None:
        """Read the objects into requests for the workers; then tell each worker to end."""
        count = 0
        try:
            for source in input_sources(self.objects, self.spec.s3_data_source):
                count += 1
                await self._read(source, queue)
        except StagingError as err:
            raise TransformFailed(str(err)) from err
        if count == 0:
            raise TransformFailed(f"ClientError: No objects found under {self.spec.s3_uri}: give input "
                                  "objects under the S3Uri of the job's TransformInput.DataSource")
        for _ in range(workers):
            await queue.put(None)

    async def _read(self, source: Source, queue: asyncio.Queue[_Work | None]) -> None:
        # closed once stored (a failed run's are closed as it is dropped): it outlives this function
        output = _ObjectOutput(source, tempfile.TemporaryFile(dir=self.scratch))  # noqa: SIM115
        spec = self.spec
        index = 0
        try:
            with source.open() as stream:
                for index, batch in enumerate(batches(read_records(stream, spec.split_type), self.processing,
                                                      spec.batch_strategy, spec.max_payload_mb, source.uri), start=1):
                    self._check_stop()
                    await queue.put((output, index - 1, batch))
        except (ObjectStoreError, OSError) as err:
            raise TransformFailed(f"ClientError: {source.uri} could not be read: {type(err).__name__}: {err}") from err
        except RecordError as err:
            raise TransformFailed(str(err)) from err
        output.total = index
        await self._store_if_complete(output)

    async def _work(self, queue: asyncio.Queue[_Work | None], host: tuple[Upstream, ...]) -> None:
        while (work := await queue.get()) is not None:
            self._check_stop()
            output, index, batch = work
            answer = await self._invoke(host, batch, output.source.uri)
            output.content_type = output.content_type or answer.content_type
            try:
                output.add(index, batch_output(batch, answer.body, answer.content_type, self.processing,
                                               self.spec.assemble_with, output.source.uri))
            except RecordError as err:
                raise TransformFailed(str(err)) from err
            await self._store_if_complete(output)

    async def _invoke(self, host: tuple[Upstream, ...], batch: Batch, uri: str) -> Answer:
        request = Request(batch.payload, self.spec.content_type, self.spec.accept, None, None)
        for _ in range(self.spec.invocations_max_retries):
            with contextlib.suppress(_NoAnswer):
                return await self._call(host, request, batch, uri)
        return await self._call(host, request, batch, uri)

    async def _call(self, host: tuple[Upstream, ...], request: Request, batch: Batch, uri: str) -> Answer:
        try:
            return await call_pipeline(host, request, self.spec.invocations_timeout_s)
        except NotDelivered as err:
            raise _NoAnswer(f"ClientError: {uri}{batch.where}: the model server could not be reached") from err
        except ModelFailure as err:
            if err.status == 0:
                raise _NoAnswer(f"ClientError: {uri}{batch.where}: {err.message}") from err
            raise TransformFailed(_model_error(uri, batch, err)) from err

    async def _store_if_complete(self, output: _ObjectOutput) -> None:
        if output.is_stored or output.total != output.written:
            return
        output.is_stored = True  # before the await: another worker must not store it again
        await asyncio.to_thread(self._store, output)

    def _store(self, output: _ObjectOutput) -> None:
        uri = f"{self.spec.s3_output_path.rstrip('/')}/{output.source.name}.out"
        location = parse_uri(uri)
        if not isinstance(location, S3Location):
            raise TransformFailed(f"ClientError: S3OutputPath must be an s3:// URI, not {self.spec.s3_output_path}")
        content_type = self.spec.accept or output.content_type or "binary/octet-stream"
        with output.file:
            output.file.seek(0)
            try:
                put_stream(self.objects, output.file, uri, content_type, self.kms_key_id, self.keys)
            except (ObjectStoreError, AwsError) as err:  # AwsError: KMS refused TransformOutput.KmsKeyId
                raise TransformFailed(f"ClientError: the output {uri} could not be written: "
                                      f"{type(err).__name__}: {err}") from err

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise TransformStopped()


def _model_error(uri: str, batch: Batch, err: ModelFailure) -> str:
    """SageMaker's words for a model's error answer, with where and what the model said."""
    container = "" if err.container == "primary" else f" ({err.container})"
    message = " ".join(err.message.split())[:MESSAGE_CHARS]
    return (f"ClientError: {uri}{batch.where}: Bad HTTP status received from algorithm{container}: "
            f"{err.status}. Model message: {message}")
