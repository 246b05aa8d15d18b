"""The A/B report gathered from a metric store, captured predictions in an object store and labels in the metadata
store, all planted by the test (no server)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelbay.monitoring.ab_report import KEEP_TESTING, PROMOTE, ROLL_BACK, Sources, UnknownBaseline, ab_report
from modelbay.monitoring.captured_predictions import value_of
from modelbay.monitoring.metrics import MetricKey, MetricStore
from modelbay.monitoring.publishing import INVOCATIONS_NAMESPACE
from modelbay.store.metadata import Endpoint, EndpointSpec, MetadataStore, VariantState, open_metadata_store
from modelbay.store.objects.base import ObjectMeta
from modelbay.store.objects.local import LocalObjectStore

NOW = datetime(2026, 12, 5, 21, 30, tzinfo=UTC)
START = NOW - timedelta(minutes=30)
CAPTURE = {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": "s3://captures/ab"}


@pytest.fixture
def metadata(tmp_path: Path) -> Iterator[MetadataStore]:
    store = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}")
    yield store
    store.close()


@pytest.fixture
def sources(metadata: MetadataStore, tmp_path: Path) -> Sources:
    objects = LocalObjectStore(tmp_path / "objects")
    objects.create_bucket("captures", "us-east-1")
    return Sources(MetricStore(metadata.metrics, lambda: NOW), objects, metadata.ground_truth)


def endpoint(metadata: MetadataStore, capture: dict[str, Any] | None = CAPTURE) -> Endpoint:
    variants = [{"VariantName": name, "ModelName": name, "InitialVariantWeight": 1.0, "InitialInstanceCount": 1,
                 "InstanceType": "ml.m5.large"} for name in ("A", "B")]
    config = {"ProductionVariants": variants} | ({"DataCaptureConfig": capture} if capture else {})
    return metadata.endpoints.create("ep", "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep", "c",
                                     [VariantState("A", 1.0, 1), VariantState("B", 1.0, 1)],
                                     EndpointSpec(config=config, models={}))


def invoked(metrics: MetricStore, variant: str, count: int, errors: int = 0, latency_us: float = 1000.0,
            at: datetime = START + timedelta(minutes=5)) -> None:
    """`count` invocations of the variant, the first `errors` of them 5XX, as the publisher records them."""
    def key(name: str) -> MetricKey:
        return MetricKey.of(INVOCATIONS_NAMESPACE, name, {"EndpointName": "ep", "VariantName": variant})
    for n in range(count):
        second = at.timestamp() + n % 60
        metrics.record(key("Invocations"), 1.0, timestamp=second, storage_resolution=1)
        metrics.record(key("Invocation4XXErrors"), 0.0, timestamp=second, storage_resolution=1)
        metrics.record(key("Invocation5XXErrors"), float(n < errors), timestamp=second, storage_resolution=1)
        metrics.record(key("ModelLatency"), latency_us * (1 + n % 3), "Microseconds", second, storage_resolution=1)
    metrics.flush()


def record(inference_id: str, data: str, encoding: str = "CSV", at: datetime = START + timedelta(minutes=5),
           content_type: str = "text/csv") -> dict[str, Any]:
    return {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1",
                                              "encoding": "CSV"},
                            "endpointOutput": {"observedContentType": content_type, "mode": "OUTPUT", "data": data,
                                               "encoding": encoding}},
            "eventMetadata": {"eventId": inference_id + "-event", "inferenceId": inference_id,
                              "inferenceTime": at.isoformat().replace("+00:00", "Z")},
            "eventVersion": "0"}


def captured(sources: Sources, variant: str, records: list[dict[str, Any]], at: datetime = START) -> None:
    key = f"ab/ep/{variant}/{at:%Y/%m/%d/%H}/{at:%M-%S}-{len(records)}.jsonl"
    body = "\n".join(json.dumps(found) for found in records).encode()
    sources.objects.put("captures", key, io.BytesIO(body), ObjectMeta())


def classified(sources: Sources, variant: str, count: int, correct: int, labelled: int | None = None) -> None:
    """`count` captured probabilities of label n % 2, `correct` of every 20 on the right side of 0.5; labels sent
    for the first `labelled` (all)."""
    ids = [f"{variant}-{n}" for n in range(count)]
    probability = [0.8 if (n % 2 == 1) == (n % 20 < correct) else 0.2 for n in range(count)]
    captured(sources, variant, [record(ids[n], str(probability[n])) for n in range(count)])
    sources.ground_truth.put("ep", {ids[n]: float(n % 2) for n in range(count if labelled is None else labelled)})


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variant["VariantName"]: variant for variant in report["Variants"]}


def test_a_better_challenger_is_promoted_and_judged_worse_against_itself_as_baseline(
        metadata: MetadataStore, sources: Sources) -> None:
    found = endpoint(metadata)
    invoked(sources.metrics, "A", 600)
    invoked(sources.metrics, "B", 400)
    classified(sources, "A", 600, correct=16)  # 80 %
    classified(sources, "B", 400, correct=19)  # 95 %
    report = ab_report(sources, found, START, NOW, "accuracy")
    variants = by_name(report)
    assert report["Baseline"] == "A" and report["LowerIsBetter"] is False
    assert variants["A"]["Metric"]["Value"] == pytest.approx(0.8) and variants["A"]["Metric"]["Samples"] == 600
    assert variants["B"]["Metric"]["Value"] == pytest.approx(0.95)
    assert variants["A"]["Metric"]["Low"] < 0.8 < variants["A"]["Metric"]["High"]
    assert (variants["A"]["Invocations"], variants["B"]["Invocations"]) == (600, 400)
    [comparison] = report["Comparisons"]
    assert (comparison["VariantName"], comparison["Recommendation"]) == ("B", PROMOTE)
    assert comparison["Metric"]["Test"] == "two-proportion z-test" and comparison["Metric"]["PValue"] < 1e-6
    assert comparison["Metric"]["Difference"] == pytest.approx(0.15) and comparison["Metric"]["Better"] is True
    assert "significantly better" in comparison["Reason"]
    [reverse] = ab_report(sources, found, START, NOW, "accuracy", baseline="B")["Comparisons"]
    assert (reverse["VariantName"], reverse["Baseline"], reverse["Recommendation"]) == ("A", "B", ROLL_BACK)


def test_few_labels_say_keep_testing_with_the_samples_still_needed(metadata: MetadataStore, sources: Sources) -> None:
    found = endpoint(metadata)
    classified(sources, "A", 600, correct=16, labelled=20)
    classified(sources, "B", 400, correct=19, labelled=20)
    [comparison] = ab_report(sources, found, START, NOW, "accuracy")["Comparisons"]
    assert comparison["Recommendation"] == KEEP_TESTING and not comparison["Metric"]["Significant"]
    assert comparison["SamplesStillNeeded"] > 0
    assert comparison["SamplesStillNeeded"] == comparison["Metric"]["SamplesNeededPerVariant"] - 20
    assert f"{comparison['SamplesStillNeeded']:,} more samples" in comparison["Reason"]


def test_error_rate_needs_no_labels_and_rolls_back_a_failing_challenger(metadata: MetadataStore,
                                                                       sources: Sources) -> None:
    found = endpoint(metadata, capture=None)
    invoked(sources.metrics, "A", 600, errors=6)
    invoked(sources.metrics, "B", 400, errors=40)
    report = ab_report(sources, found, START, NOW, "error_rate")
    variants = by_name(report)
    assert variants["B"]["ErrorRate"]["Value"] == pytest.approx(0.1) and variants["B"]["Invocation5XXErrors"] == 40
    [comparison] = report["Comparisons"]
    assert comparison["Recommendation"] == ROLL_BACK and comparison["ErrorRate"]["Significant"]
    assert "invocation error rate is significantly higher" in comparison["Reason"]


def test_rmse_and_mae_are_welch_tests_on_squared_and_absolute_errors(metadata: MetadataStore,
                                                                     sources: Sources) -> None:
    found = endpoint(metadata)
    for variant, errors in (("A", (1.0, 2.0)), ("B", (0.0, 1.0))):
        ids = [f"{variant}-{n}" for n in range(100)]
        captured(sources, variant, [record(ids[n], json.dumps([[10.0 + errors[n % 2]]]), "JSON",
                                           content_type="application/json") for n in range(100)])
        sources.ground_truth.put("ep", dict.fromkeys(ids, 10.0))
    rmse = ab_report(sources, found, START, NOW, "rmse")
    assert by_name(rmse)["A"]["Metric"]["Value"] == pytest.approx((2.5) ** 0.5)
    [comparison] = rmse["Comparisons"]
    assert comparison["Metric"]["Test"] == "Welch's t-test on squared errors"
    assert comparison["Metric"]["Difference"] == pytest.approx(0.5 ** 0.5 - 2.5 ** 0.5)
    assert comparison["Baseline"] == "A" and comparison["Recommendation"] == PROMOTE  # equal traffic: the first
    mae = ab_report(sources, found, START, NOW, "mae")
    assert by_name(mae)["B"]["Metric"]["Value"] == pytest.approx(0.5)
    assert mae["Comparisons"][0]["Metric"]["Test"] == "Welch's t-test on absolute errors"


def test_series_are_per_minute_and_latency_is_compared(metadata: MetadataStore, sources: Sources) -> None:
    found = endpoint(metadata)
    invoked(sources.metrics, "A", 60, latency_us=1000.0)
    invoked(sources.metrics, "B", 60, latency_us=3000.0, at=START + timedelta(minutes=7))
    classified(sources, "A", 10, correct=20)
    report = ab_report(sources, found, START, NOW, "accuracy")
    assert report["Period"] == 60
    series = by_name(report)["A"]["Series"]
    assert len(series) == 30 and series[0]["Timestamp"] == START.isoformat()
    assert [point["Invocations"] for point in series if point["Invocations"]] == [60]
    assert series[5]["Metric"] == 1.0 and series[5]["Samples"] == 10
    assert by_name(report)["B"]["ModelLatency"]["p50"] == pytest.approx(6000.0, rel=0.02)
    latency = report["Comparisons"][0]["ModelLatency"]
    assert latency["Test"] == "Welch's t-test" and latency["Significant"] and latency["Difference"] > 0


def test_records_outside_the_window_or_captured_twice_count_once(metadata: MetadataStore, sources: Sources) -> None:
    found = endpoint(metadata)
    captured(sources, "A", [record("x", "1"), record("x", "0"), record("old", "1", at=START - timedelta(minutes=1)),
                            record("y", base64.b64encode(b"1,0.3").decode(), "BASE64")])
    sources.ground_truth.put("ep", {"x": 0.0, "old": 1.0, "y": 1.0})
    variant = by_name(ab_report(sources, found, START, NOW, "accuracy"))["A"]
    assert (variant["Captured"], variant["Labelled"], variant["Metric"]["Value"]) == (2, 2, 1.0)


def test_an_unknown_baseline_is_refused(metadata: MetadataStore, sources: Sources) -> None:
    with pytest.raises(UnknownBaseline, match="C is not one of endpoint ep's: A, B"):
        ab_report(sources, endpoint(metadata), START, NOW, "accuracy", baseline="C")


@pytest.mark.parametrize(("output", "value"), [
    ({"data": "0.7,0.3\n0.1,0.9", "encoding": "CSV"}, 0.7), ({"data": '"cat",1', "encoding": "CSV"}, "cat"),
    ({"data": "[[2]]", "encoding": "JSON"}, 2.0), ({"data": '"dog"', "encoding": "JSON"}, "dog"),
    ({"data": base64.b64encode(b"[0.25]").decode(), "encoding": "BASE64", "observedContentType": "application/json"},
     0.25),
    ({"data": "{\"score\": 1}", "encoding": "JSON"}, None), ({"data": "", "encoding": "CSV"}, None),
    ({"data": "true", "encoding": "JSON"}, None), ({"data": "!!", "encoding": "BASE64"}, None)])
def test_a_prediction_is_the_outputs_first_value(output: dict[str, Any], value: float | str | None) -> None:
    assert value_of(output) == value
