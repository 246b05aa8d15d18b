"""Data capture: an endpoint's requests and answers written to S3, as its DataCaptureConfig asks.

The EndpointController publishes, with an endpoint's routes, the DataCaptureConfig of the config it serves (one
whose EnableCapture is false publishes none); the table of every endpoint's `Capture` is swapped in whole, as the
router's is, so an invocation reads one or the other, never a mix, and takes no lock to read it.

Per invocation, on the event loop: `sample` draws whether to capture it (a uniform draw below
InitialSamplingPercentage / 100); after a successful answer (a streamed one at its end, its pieces assembled as
they passed), `offer` appends the raw record (the bodies, their content types, the variant, the InferenceId, the
time) to a bounded queue. That is O(1) and never blocks on I/O or raises: a record that does not fit (the queue
holds MAX_RECORDS records and MAX_QUEUED_BYTES of bodies; a body is at most MAX_BODY_BYTES, the invocation payload
limit, which only a streamed answer or an asynchronous request can pass) is dropped and counted for its endpoint.
The asynchronous-invocations worker offers its requests and answers the same way.

One writer thread takes the whole queue every `flush_interval_s` (and on close), turns each record into
SageMaker's JSON line (captureData: endpointInput and endpointOutput for the modes captured, each body as text
when its media type is one of CaptureContentTypeHeader's CSV or JSON ones and it is UTF-8, else base64;
eventMetadata: a new eventId, the caller's inferenceId if any, inferenceTime), groups them by destination,
endpoint, variant and UTC hour of their time, and writes one object per group through the object store:
`<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl`, named by its first record's time,
SSE-KMS under the config's KmsKeyId when it names one (else as the bucket's default encryption says).
A group the store refuses (its bucket gone, say) is logged and its records counted as dropped. Dropped records are
logged and published every pass as the CloudWatch metric DroppedRecords (namespace CAPTURE_NAMESPACE, dimension
EndpointName, unit Count). The writer also keeps, per endpoint and variant, the records written and dropped since
the server started (`totals`), which Prometheus reads at scrape time (monitoring/prometheus.py): an invocation
pays nothing for them.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelbay.monitoring.metrics import MetricKey, MetricStore
from modelbay.store.objects.base import DataKeys, ObjectMeta, ObjectStore
from modelbay.store.objects.uris import S3Location, parse_uri

__all__ = ["CAPTURE_NAMESPACE", "MAX_BODY_BYTES", "Capture", "CaptureTotals", "DataCapture", "StreamedCapture"]

log = logging.getLogger(__name__)

CAPTURE_NAMESPACE = "modelbay/DataCapture"
MAX_BODY_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's payload limit, each way
MAX_RECORDS = 10_000  # records waiting for the writer, every endpoint together
MAX_QUEUED_BYTES = 64 * 1024 * 1024  # their bodies, all together
FLUSH_INTERVAL_S = 1.0
# What a body with no Content-Type is observed as: HTTP's default for bytes of unknown kind.
UNKNOWN_CONTENT_TYPE = "application/octet-stream"
_CAPTURED_CONTENT_TYPE = "application/jsonl"


@dataclass(frozen=True)
class Capture:
    """An endpoint's DataCaptureConfig, as the invocation path and the writer read it."""

    endpoint: str
    percentage: float
    bucket: str
    prefix: str  # the destination's key prefix, without its trailing slash ("" at the bucket's root)
    captures_input: bool
    captures_output: bool
    csv_types: frozenset[str]  # media types, lower case
    json_types: frozenset[str]
    kms_key_id: str | None = None  # what the captured objects are encrypted under (SSE-KMS); None: the bucket's way

    @classmethod
    def from_config(cls, endpoint: str, config: Mapping[str, Any]) -> Capture | None:
        """The capture a DataCaptureConfig asks for; None when EnableCapture is false, or when its destination is
        not an S3 URI (which CreateEndpointConfig refuses: only a config stored before it did can have one)."""
        if not config.get("EnableCapture", True):
            return None
        try:
            location = parse_uri(config["DestinationS3Uri"])
        except ValueError:
            return None
        if not isinstance(location, S3Location):
            return None
        modes = {option["CaptureMode"] for option in config["CaptureOptions"]}
        header = config.get("CaptureContentTypeHeader", {})
        return cls(endpoint, float(config["InitialSamplingPercentage"]), location.bucket, location.key.strip("/"),
                   bool(modes & {"Input", "InputAndOutput"}), bool(modes & {"Output", "InputAndOutput"}),
                   frozenset(t.lower() for t in header.get("CsvContentTypes", ())),
                   frozenset(t.lower() for t in header.get("JsonContentTypes", ())), config.get("KmsKeyId") or None)


@dataclass(frozen=True)
class CaptureTotals:
    """One variant's captured records since the server started: written to S3, and dropped."""

    endpoint: str
    variant: str
    written: int
    dropped: int


class _Record:
    """One captured invocation as offered: raw, so that the invocation pays for no encoding."""

    __slots__ = ("capture", "variant", "inference_id", "request", "request_type", "response", "response_type",
                 "time")

    def __init__(self, capture: Capture, variant: str, inference_id: str | None, request: bytes,
                 request_type: str | None, response: bytes, response_type: str | None, at: float) -> None:
        self.capture, self.variant, self.inference_id = capture, variant, inference_id
        self.request, self.request_type = request, request_type
        self.response, self.response_type = response, response_type
        self.time = at


class DataCapture:
    """A region's capture table, its queue of records and the thread that writes them. Thread-safe.

    `sample` and `offer` run on the invocation path; `publish` and `withdraw` in the controller's passes; `close`
    writes what is queued and stops the writer (an offer after it is dropped). `keys` reach the region's KMS for
    captures with a KmsKeyId (None: the object store's default keys).
    """

    def __init__(self, objects: ObjectStore, metrics: MetricStore, *, keys: DataKeys | None = None,
                 flush_interval_s: float = FLUSH_INTERVAL_S, max_records: int = MAX_RECORDS,
                 max_queued_bytes: int = MAX_QUEUED_BYTES, clock: Callable[[], float] = time.time,
                 draw: Callable[[], float] = random.random) -> None:
        self._objects, self._metrics, self._keys = objects, metrics, keys
        self._flush_interval_s = flush_interval_s
        self._max_records, self._max_queued_bytes = max_records, max_queued_bytes
        self._clock, self._draw = clock, draw
        self._table: dict[str, Capture] = {}  # swapped whole
        self._publishing = threading.Lock()
        self._cond = threading.Condition()  # guards what follows
        self._pending: list[_Record] = []
        self._pending_bytes = 0
        self._dropped: Counter[tuple[str, str]] = Counter()  # per endpoint and variant, since the writer last reported
        # since the server started, per endpoint and variant: added to by the writer alone, read whole by `totals`
        self._written_total: Counter[tuple[str, str]] = Counter()
        self._dropped_total: Counter[tuple[str, str]] = Counter()
        self._is_closing = False
        # started with the first capture published: a region that captures nothing runs no thread
        self._writer = threading.Thread(target=self._run, name="data-capture-writer", daemon=True)

    # -- the table ------------------------------------------------------------------------------

    def publish(self, endpoint: str, config: Mapping[str, Any] | None) -> None:
        """Capture the endpoint's invocations as `config` (its DataCaptureConfig) says; None: capture none."""
        capture = None if config is None else Capture.from_config(endpoint, config)
        with self._publishing:
            if self._table.get(endpoint) == capture:
                return  # the usual pass: nothing changed
            table = dict(self._table)
            if capture is None:
                del table[endpoint]
            else:
                table[endpoint] = capture
                if self._writer.ident is None:
                    self._writer.start()
            self._table = table

    def withdraw(self, endpoint: str) -> None:
        self.publish(endpoint, None)

    # -- the invocation path --------------------------------------------------------------------

    def captures(self, endpoint: str) -> bool:
        """Whether the endpoint has a capture published (whatever its sampling percentage)."""
        return endpoint in self._table

    def sample(self, endpoint: str) -> Capture | None:
        """The endpoint's capture if this invocation is to be captured (drawn at its sampling percentage)."""
        capture = self._table.get(endpoint)
        if capture is None or self._draw() * 100.0 >= capture.percentage:
            return None
        return capture

    def offer(self, capture: Capture, variant: str, *, inference_id: str | None, request: bytes,
              request_type: str | None, response: bytes, response_type: str | None) -> None:
        """Queue one sampled invocation for the writer, or drop it (counted) if it does not fit. O(1), no I/O."""
        request = request if capture.captures_input else b""
        response = response if capture.captures_output else b""
        size = len(request) + len(response)
        with self._cond:
            if (self._is_closing or len(self._pending) >= self._max_records or max(len(request), len(response))
                    > MAX_BODY_BYTES or self._pending_bytes + size > self._max_queued_bytes):
                self._dropped[(capture.endpoint, variant)] += 1
                return
            self._pending.append(_Record(capture, variant, inference_id, request, request_type, response,
                                         response_type, self._clock()))
            self._pending_bytes += size

    # -- the writer -----------------------------------------------------------------------------

    def close(self) -> None:
        """Refuse new records, write the queued ones, stop the writer. Closing again does nothing."""
        with self._cond:
            self._is_closing = True
            self._cond.notify_all()
        if self._writer.ident is not None:
            self._writer.join()

    def _run(self) -> None:
        is_last = False
        while not is_last:
            with self._cond:
                self._cond.wait_for(lambda: self._is_closing, self._flush_interval_s)
                is_last = self._is_closing
                taken, self._pending, self._pending_bytes = self._pending, [], 0
            self._write_all(taken)
            self._report_dropped()

    def _write_all(self, records: list[_Record]) -> None:
        """An object per destination, endpoint, variant and hour; a group not written is counted as dropped."""
        groups: dict[tuple[Capture, str, int], list[_Record]] = defaultdict(list)
        for record in records:
            groups[(record.capture, record.variant, int(record.time // 3600))].append(record)
        for (capture, variant, _), group in groups.items():
            try:  # the writer outlives any failure
                self._write(capture, variant, group)
            except Exception as error:
                log.warning("could not write %d captured records of endpoint %s to s3://%s/%s: %s", len(group),
                            capture.endpoint, capture.bucket, capture.prefix, error)
                self._count_dropped(group)
            else:
                self._written_total[(capture.endpoint, variant)] += len(group)

    def _write(self, capture: Capture, variant: str, group: list[_Record]) -> None:
        """One object of the group's records (one variant's, within one hour), named by the first one's time."""
        body = "".join(json.dumps(_line(record), separators=(",", ":")) + "\n" for record in group).encode()
        sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": capture.kms_key_id} if capture.kms_key_id else {}
        self._objects.put(capture.bucket, _object_key(capture, variant, group[0].time), io.BytesIO(body),
                          ObjectMeta(content_type=_CAPTURED_CONTENT_TYPE, headers=sse), self._keys)

    def _count_dropped(self, records: list[_Record]) -> None:
        with self._cond:
            self._dropped.update((record.capture.endpoint, record.variant) for record in records)

    def _report_dropped(self) -> None:
        with self._cond:
            dropped, self._dropped = self._dropped, Counter()
        self._dropped_total.update(dropped)
        per_endpoint: Counter[str] = Counter()
        for (endpoint, _), count in dropped.items():
            per_endpoint[endpoint] += count
        for endpoint, count in per_endpoint.items():
            log.warning("data capture dropped %d records of endpoint %s (queue full, body too large, or not "
                        "writable)", count, endpoint)
            self._metrics.record(MetricKey.of(CAPTURE_NAMESPACE, "DroppedRecords", {"EndpointName": endpoint}),
                                 float(count), "Count")

    # -- Prometheus -----------------------------------------------------------------------------

    def totals(self) -> list[CaptureTotals]:
        """Per endpoint and variant, the records written and dropped since the server started (as of the writer's
        last pass), for Prometheus: read from any thread."""
        written, dropped = Counter(self._written_total), Counter(self._dropped_total)  # copied in one step each
        return [CaptureTotals(endpoint, variant, written[(endpoint, variant)], dropped[(endpoint, variant)])
                for endpoint, variant in sorted(written.keys() | dropped.keys())]


class StreamedCapture:
    """A sampled streamed invocation: its answer's pieces kept as they pass, offered whole at its end. Past
    MAX_BODY_BYTES no more is kept: the body then offered is over the limit, and the record is dropped (counted)."""

    def __init__(self, capture: DataCapture, chosen: Capture, variant: str, inference_id: str | None,
                 request: bytes, request_type: str | None, response_type: str | None) -> None:
        self._capture, self._chosen, self._variant, self._inference_id = capture, chosen, variant, inference_id
        self._request, self._request_type, self._response_type = request, request_type, response_type
        self._pieces: list[bytes] = []
        self._size = 0

    def add(self, piece: bytes) -> None:
        if self._chosen.captures_output and self._size <= MAX_BODY_BYTES:
            self._pieces.append(piece)
            self._size += len(piece)

    def offer(self) -> None:
        self._capture.offer(self._chosen, self._variant, inference_id=self._inference_id, request=self._request,
                            request_type=self._request_type, response=b"".join(self._pieces),
                            response_type=self._response_type)


def _object_key(capture: Capture, variant: str, at: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    name = f"{moment:%Y/%m/%d/%H/%M-%S}-{moment.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
    return "/".join(part for part in (capture.prefix, capture.endpoint, variant, name) if part)


def _line(record: _Record) -> dict[str, Any]:
    """The record as SageMaker writes it."""
    capture = record.capture
    data: dict[str, Any] = {}
    if capture.captures_input:
        data["endpointInput"] = _payload(capture, "INPUT", record.request, record.request_type)
    if capture.captures_output:
        data["endpointOutput"] = _payload(capture, "OUTPUT", record.response, record.response_type)
    metadata = {"eventId": str(uuid.uuid4())}
    if record.inference_id is not None:
        metadata["inferenceId"] = record.inference_id
    metadata["inferenceTime"] = f"{datetime.fromtimestamp(record.time, UTC):%Y-%m-%dT%H:%M:%SZ}"
    return {"captureData": data, "eventMetadata": metadata, "eventVersion": "0"}


def _payload(capture: Capture, mode: str, body: bytes, content_type: str | None) -> dict[str, str]:
    """One side of the exchange: as text (CSV, JSON) when its media type is listed as such and it is UTF-8,
    else in base64."""
    observed = content_type or UNKNOWN_CONTENT_TYPE
    media = observed.split(";", 1)[0].strip().lower()
    encoding = "CSV" if media in capture.csv_types else "JSON" if media in capture.json_types else "BASE64"
    if encoding != "BASE64":
        try:
            return {"observedContentType": observed, "mode": mode, "data": body.decode(), "encoding": encoding}
        except UnicodeDecodeError:
            pass
    return {"observedContentType": observed, "mode": mode, "data": base64.b64encode(body).decode(),
            "encoding": "BASE64"}
