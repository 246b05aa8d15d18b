"""Data capture: which invocations are sampled, the records and files SageMaker's layout has, the bounded queue that
drops and counts, and the writer's batching, periodic writes and flush on close."""

from __future__ import annotations

import base64
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelbay.monitoring.data_capture import (
    CAPTURE_NAMESPACE,
    MAX_BODY_BYTES,
    CaptureTotals,
    DataCapture,
    StreamedCapture,
)
from modelbay.monitoring.metrics import MetricKey, MetricStore
from modelbay.security.kms_keys import KeyRing
from modelbay.security.master_key import MasterKey
from modelbay.store.metadata import open_metadata_store
from modelbay.store.objects import LocalObjectStore
from modelbay.store.objects.base import encryption_of
from tests.helpers import SetClock, wait_until

Clock = SetClock[float]  # a clock the test sets

T = datetime(2026, 12, 5, 21, 7, 8, 123000, tzinfo=UTC).timestamp()
CONFIG: dict[str, Any] = {
    "InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://captures/monitor/",
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}}


@pytest.fixture
def objects(tmp_path: Path) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "objects")
    store.create_bucket("captures", "us-east-1")
    return store


@pytest.fixture
def metrics(tmp_path: Path) -> Iterator[MetricStore]:
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}")
    yield MetricStore(metadata.metrics)
    metadata.close()


@pytest.fixture
def make(objects: LocalObjectStore, metrics: MetricStore) -> Iterator[Callable[..., DataCapture]]:
    """DataCaptures over the test's stores (at the test's clock, writing only on close unless told), closed after."""
    made: list[DataCapture] = []

    def build(**options: Any) -> DataCapture:
        capture = DataCapture(objects, metrics, **({"flush_interval_s": 3600.0, "clock": SetClock(T)} | options))
        made.append(capture)
        return capture

    yield build
    for capture in made:
        capture.close()


def offer(capture: DataCapture, endpoint: str = "ep", variant: str = "v1", inference_id: str | None = "id-1",
          request: bytes = b"1,2,3", request_type: str | None = "text/csv", response: bytes = b"0.5",
          response_type: str | None = "text/csv; charset=utf-8") -> None:
    chosen = capture.sample(endpoint)
    assert chosen is not None
    capture.offer(chosen, variant, inference_id=inference_id, request=request, request_type=request_type,
                  response=response, response_type=response_type)


def written(objects: LocalObjectStore, bucket: str = "captures") -> dict[str, list[dict[str, Any]]]:
    """Every captured object's key and records."""
    keys = [info.key for info in objects.list(bucket).objects]
    return {key: [json.loads(line) for line in objects.open(bucket, key).read().decode().splitlines()]
            for key in keys}


def dropped(metrics: MetricStore, endpoint: str = "ep") -> float:
    metrics.flush()
    now = datetime.now(UTC)
    series = metrics.series(MetricKey.of(CAPTURE_NAMESPACE, "DroppedRecords", {"EndpointName": endpoint}),
                            now - timedelta(hours=1), now + timedelta(minutes=1), 3600)
    return sum(point.aggregate.sum for point in series.points)


# -- sampling ------------------------------------------------------------------------------------


def test_an_invocation_is_sampled_when_its_draw_falls_below_the_percentage(make: Callable[..., DataCapture]) -> None:
    draws = iter([0.1, 0.6, 0.49, 0.5])
    capture = make(draw=lambda: next(draws))
    capture.publish("ep", CONFIG | {"InitialSamplingPercentage": 50})
    assert [capture.sample("ep") is not None for _ in range(4)] == [True, False, True, False]


def test_sampling_captures_about_the_percentage_asked(make: Callable[..., DataCapture]) -> None:
    capture = make(draw=random.Random(7).random)
    capture.publish("ep", CONFIG | {"InitialSamplingPercentage": 30})
    sampled = sum(capture.sample("ep") is not None for _ in range(10_000))
    assert 2860 <= sampled <= 3140  # within 3.3 standard deviations (46) of 3000


def test_nothing_is_sampled_without_a_capture_when_disabled_withdrawn_or_at_zero(
        make: Callable[..., DataCapture]) -> None:
    capture = make()
    assert capture.sample("ep") is None
    capture.publish("ep", CONFIG | {"EnableCapture": False})
    assert capture.sample("ep") is None
    capture.publish("ep", CONFIG | {"InitialSamplingPercentage": 0})
    assert capture.sample("ep") is None
    capture.publish("ep", CONFIG)
    assert capture.sample("ep") is not None
    capture.withdraw("ep")
    assert capture.sample("ep") is None


# -- records and layout ----------------------------------------------------------------------------


def test_records_are_written_in_sagemakers_layout_and_format(make: Callable[..., DataCapture],
                                                            objects: LocalObjectStore) -> None:
    capture = make()
    capture.publish("ep", CONFIG)
    offer(capture)
    capture.close()
    [(key, [record])] = written(objects).items()
    assert key.startswith("monitor/ep/v1/2026/12/05/21/07-08-123-") and key.endswith(".jsonl")
    assert record["captureData"] == {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2,3", "encoding": "CSV"},
        "endpointOutput": {"observedContentType": "text/csv; charset=utf-8", "mode": "OUTPUT", "data": "0.5",
                           "encoding": "CSV"}}
    metadata = record["eventMetadata"]
    assert (metadata["inferenceId"], metadata["inferenceTime"]) == ("id-1", "2026-12-05T21:07:08Z")
    assert len(metadata["eventId"]) == 36 and record["eventVersion"] == "0"


def test_bodies_are_text_when_listed_as_csv_or_json_and_utf8_else_base64(make: Callable[..., DataCapture],
                                                                        objects: LocalObjectStore) -> None:
    capture = make()
    capture.publish("ep", CONFIG)
    offer(capture, request=b'{"a": 1}', request_type="Application/JSON", response=b"\x89PNG", response_type="image/png")
    offer(capture, request=b"\xff\xfe", request_type="text/csv", response=b"x", response_type=None)
    capture.close()
    [records] = written(objects).values()
    first, second = (record["captureData"] for record in records)
    assert (first["endpointInput"]["data"], first["endpointInput"]["encoding"]) == ('{"a": 1}', "JSON")
    assert first["endpointOutput"] == {"observedContentType": "image/png", "mode": "OUTPUT",
                                       "data": base64.b64encode(b"\x89PNG").decode(), "encoding": "BASE64"}
    assert second["endpointInput"]["encoding"] == "BASE64"  # listed as CSV, but not UTF-8
    assert base64.b64decode(second["endpointInput"]["data"]) == b"\xff\xfe"
    assert second["endpointOutput"]["observedContentType"] == "application/octet-stream"


def test_only_the_modes_captured_appear_and_no_inference_id_unless_given(make: Callable[..., DataCapture],
                                                                         objects: LocalObjectStore) -> None:
    capture = make()
    capture.publish("ep", CONFIG | {"CaptureOptions": [{"CaptureMode": "Output"}],
                                    "DestinationS3Uri": "s3://captures"})
    offer(capture, inference_id=None)
    capture.close()
    [(key, [record])] = written(objects).items()
    assert key.startswith("ep/v1/2026/")  # at the bucket's root
    assert list(record["captureData"]) == ["endpointOutput"]
    assert "inferenceId" not in record["eventMetadata"]


def test_a_streamed_answer_is_captured_whole(make: Callable[..., DataCapture], objects: LocalObjectStore) -> None:
    capture = make()
    capture.publish("ep", CONFIG)
    chosen = capture.sample("ep")
    assert chosen is not None
    streamed = StreamedCapture(capture, chosen, "v1", None, b"[1]", "application/json", "application/json")
    for piece in (b'{"tokens": ', b'["a", "b"]', b"}"):
        streamed.add(piece)
    streamed.offer()
    capture.close()
    [[record]] = written(objects).values()
    assert record["captureData"]["endpointOutput"]["data"] == '{"tokens": ["a", "b"]}'


# -- the writer's batches ------------------------------------------------------------------------


def test_records_are_batched_per_variant_and_hour(make: Callable[..., DataCapture], objects: LocalObjectStore) -> None:
    clock = SetClock(T)
    capture = make(clock=clock)
    capture.publish("ep", CONFIG)
    clock.now = datetime(2026, 12, 5, 21, 59, 59, tzinfo=UTC).timestamp()
    offer(capture, inference_id="a")
    offer(capture, inference_id="b")
    offer(capture, variant="v2", inference_id="c")
    clock.now += 2  # 22:00:01
    offer(capture, inference_id="d")
    capture.close()
    found = {key.rsplit("/", 1)[0]: [r["eventMetadata"]["inferenceId"] for r in records]
             for key, records in written(objects).items()}
    assert found == {"monitor/ep/v1/2026/12/05/21": ["a", "b"], "monitor/ep/v2/2026/12/05/21": ["c"],
                     "monitor/ep/v1/2026/12/05/22": ["d"]}


def test_the_writer_writes_every_interval_without_waiting_for_close(make: Callable[..., DataCapture],
                                                                    objects: LocalObjectStore) -> None:
    capture = make(flush_interval_s=0.05, clock=time.time)
    capture.publish("ep", CONFIG)
    offer(capture)
    wait_until(lambda: written(objects), 10, "the record to be written")
    offer(capture, inference_id="id-2")
    wait_until(lambda: len(written(objects)) == 2, 10, "the second record to be written")


def test_a_destination_that_cannot_be_written_counts_its_records_as_dropped(
        make: Callable[..., DataCapture], objects: LocalObjectStore, metrics: MetricStore) -> None:
    capture = make()
    capture.publish("gone", CONFIG | {"DestinationS3Uri": "s3://no-such-bucket/x"})
    capture.publish("ep", CONFIG)
    offer(capture, endpoint="gone")
    offer(capture)
    capture.close()
    assert len(written(objects)) == 1  # the other endpoint's records are written
    assert dropped(metrics, "gone") == 1
    assert capture.totals() == [CaptureTotals("ep", "v1", written=1, dropped=0),
                                CaptureTotals("gone", "v1", written=0, dropped=1)]


# -- bounds --------------------------------------------------------------------------------------


def test_a_full_queue_drops_and_counts_per_endpoint(make: Callable[..., DataCapture], objects: LocalObjectStore,
                                                   metrics: MetricStore) -> None:
    capture = make(max_records=2)
    capture.publish("ep", CONFIG)
    for _ in range(5):
        offer(capture)
    capture.close()
    [records] = written(objects).values()
    assert len(records) == 2
    assert dropped(metrics) == 3
    assert capture.totals() == [CaptureTotals("ep", "v1", written=2, dropped=3)]  # for Prometheus


def test_queued_bytes_and_each_body_are_bounded(make: Callable[..., DataCapture], objects: LocalObjectStore,
                                                metrics: MetricStore) -> None:
    capture = make(max_queued_bytes=100)
    capture.publish("ep", CONFIG)
    offer(capture, request=b"x" * 60)
    offer(capture, request=b"y" * 60)  # 120 bytes queued would pass the bound
    chosen = capture.sample("ep")
    assert chosen is not None
    streamed = StreamedCapture(capture, chosen, "v1", None, b"", "text/csv", "text/csv")
    for _ in range(7):
        streamed.add(b"z" * (MAX_BODY_BYTES // 4))
    streamed.offer()  # past MAX_BODY_BYTES: dropped whole
    capture.close()
    [records] = written(objects).values()
    assert [r["captureData"]["endpointInput"]["data"] for r in records] == ["x" * 60]
    assert dropped(metrics) == 2


def test_an_offer_after_close_is_dropped_and_close_is_idempotent(make: Callable[..., DataCapture],
                                                                 objects: LocalObjectStore) -> None:
    capture = make()
    capture.publish("ep", CONFIG)
    capture.close()
    offer(capture)
    capture.close()
    assert written(objects) == {}


def test_a_capture_with_a_kms_key_is_written_sse_kms_under_it(make: Callable[..., DataCapture],
                                                              objects: LocalObjectStore, tmp_path: Path) -> None:
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'keys.db'}")
    keys = KeyRing(metadata.kms, MasterKey(os.urandom(32)), "123456789012", "us-east-1")
    key = keys.create_key().arn
    capture = make(keys=keys)
    capture.publish("ep", CONFIG | {"KmsKeyId": key})
    offer(capture, request=b"secret-row")
    capture.close()
    [info] = objects.list("captures").objects
    assert encryption_of(objects.head("captures", info.key).meta.headers) == {
        "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key}
    assert b"secret-row" in objects.open("captures", info.key, keys=keys).read()
    metadata.close()
