"""An A/B report: per production variant, traffic, errors, latency and a model metric, and a verdict per challenger.

Traffic, errors and latency are what SageMaker publishes (AWS/SageMaker: Invocations, Invocation4XXErrors,
Invocation5XXErrors, ModelLatency in microseconds, per EndpointName and VariantName), read from the metric store.
The model metric joins the captured predictions (captured_predictions.py) with the labels users sent back
(store/metadata/ground_truth.py) by InferenceId:
- `accuracy`: the share of labelled predictions equal to their label; a number in [0, 1] is a probability,
  thresholded at 0.5, when the label is 0 or 1 (higher is better);
- `error_rate`: the invocation error rate, (4XX + 5XX) / invocations, which needs no labels (lower is better);
- `rmse`, `mae`: root mean squared and mean absolute error of numeric predictions against numeric labels (lower is
  better); tested on the per-sample squared (absolute) errors.
The champion is the variant with the most invocations (or `baseline`); each other variant is a challenger, compared
with it (ab_statistics.py): promote (significantly better), roll back (significantly worse) or keep testing (with
the samples still needed). The challenger's invocation error rate and mean model latency are compared too.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelbay.monitoring import ab_statistics as stats
from modelbay.monitoring import distribution
from modelbay.monitoring.captured_predictions import Prediction, number_of, predictions
from modelbay.monitoring.metrics import Aggregate, MetricKey, MetricStore, source_resolution
from modelbay.monitoring.publishing import INVOCATIONS_NAMESPACE
from modelbay.store.metadata import Endpoint, GroundTruthRepository
from modelbay.store.metadata.ground_truth import Label
from modelbay.store.objects.base import ObjectStore

__all__ = ["METRICS", "PROMOTE", "ROLL_BACK", "KEEP_TESTING", "Sources", "UnknownBaseline", "ab_report"]

PROMOTE, ROLL_BACK, KEEP_TESTING = "promote", "roll back", "keep testing"
METRICS = ("accuracy", "error_rate", "rmse", "mae")
_LOWER_IS_BETTER = {"accuracy": False, "error_rate": True, "rmse": True, "mae": True}
_INVOCATION_METRICS = ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "ModelLatency")
_PERIODS = (60, 300, 900, 3600, 21600, 86400)  # of the time series, the finest one kept that gives MAX_BUCKETS at most
MAX_BUCKETS = 1440
_PERCENTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


class UnknownBaseline(ValueError):
    """The baseline named is not one of the endpoint's variants."""


@dataclass(frozen=True)
class Sources:
    """Where a report reads from: a region's metric store, object store and labels."""

    metrics: MetricStore
    objects: ObjectStore
    ground_truth: GroundTruthRepository


@dataclass
class _Variant:
    """One variant's figures: metric aggregates per series bucket, and its labelled samples."""

    name: str
    buckets: dict[str, dict[int, Aggregate]] = field(default_factory=dict)  # metric name → bucket start → aggregate
    samples: list[tuple[int, float]] = field(default_factory=list)  # (bucket start, per-sample value)
    captured: int = 0
    unusable: int = 0  # labelled, but the prediction or label is not what the metric needs

    def total(self, name: str) -> Aggregate | None:
        found = list(self.buckets.get(name, {}).values())
        if not found:
            return None
        merged = found[0].copy()
        for aggregate in found[1:]:
            merged.merge(aggregate)
        return merged

    def count(self, name: str) -> int:
        total = self.total(name)
        return 0 if total is None else round(total.sum)


def ab_report(sources: Sources, endpoint: Endpoint, start: datetime, end: datetime, metric: str,
              baseline: str | None = None) -> dict[str, Any]:
    """The report's JSON (see the module's docstring) from `start` (rounded down to a bucket of the series) to
    `end`. Raises UnknownBaseline."""
    names = [variant.name for variant in endpoint.spec.variants]
    if baseline is not None and baseline not in names:
        raise UnknownBaseline(f"Variant {baseline} is not one of endpoint {endpoint.name}'s: {', '.join(names)}.")
    period = series_period(start, end, sources.metrics.clock())
    start = datetime.fromtimestamp(int(start.timestamp()) // period * period, UTC)  # buckets start on a period
    variants = [_Variant(name) for name in names]
    for variant in variants:
        _read_metrics(sources.metrics, endpoint.name, variant, start, end, period)
    if metric != "error_rate":
        _join_labels(sources, endpoint, variants, start, end, period, metric)
    champion = _champion(variants, baseline)
    return {"EndpointName": endpoint.name, "StartTime": start.isoformat(), "EndTime": end.isoformat(),
            "Metric": metric, "LowerIsBetter": _LOWER_IS_BETTER[metric], "Alpha": stats.ALPHA, "Power": stats.POWER,
            "Period": period, "Baseline": champion.name if champion else None,
            "Variants": [_variant_json(variant, metric, start, end, period) for variant in variants],
            "Comparisons": [] if champion is None else [_comparison(champion, challenger, metric)
                                                        for challenger in variants if challenger is not champion]}


def series_period(start: datetime, end: datetime, now: datetime) -> int:
    """The seconds per bucket of the time series: a minute if the metric store keeps minutes of data that old and
    the window holds MAX_BUCKETS minutes at most, else the next coarser period that does."""
    length = (end - start).total_seconds()
    return next((period for period in _PERIODS if source_resolution(period, start, now) is not None
                 and length / period <= MAX_BUCKETS), _PERIODS[-1])


# -- gathering ---------------------------------------------------------------------------------------------------


def _read_metrics(metrics: MetricStore, endpoint: str, variant: _Variant, start: datetime, end: datetime,
                  period: int) -> None:
    for name in _INVOCATION_METRICS:
        key = MetricKey.of(INVOCATIONS_NAMESPACE, name, {"EndpointName": endpoint, "VariantName": variant.name})
        buckets: dict[int, Aggregate] = {}
        for point in metrics.series(key, start, end, period).points:
            found = buckets.get(point.timestamp)
            if found is None:
                buckets[point.timestamp] = point.aggregate
            else:
                found.merge(point.aggregate)
        variant.buckets[name] = buckets


def _join_labels(sources: Sources, endpoint: Endpoint, variants: list[_Variant], start: datetime, end: datetime,
                 period: int, metric: str) -> None:
    capture = endpoint.spec.config.get("DataCaptureConfig")
    if capture is None:
        return
    per_sample = _PER_SAMPLE[metric]
    for variant in variants:
        latest: dict[str, Prediction] = {}  # a record captured twice (a retry) counts once, as its last
        for prediction in predictions(sources.objects, capture["DestinationS3Uri"], endpoint.name, variant.name,
                                      start, end):
            latest[prediction.inference_id] = prediction
        variant.captured = len(latest)
        labels = sources.ground_truth.labels(endpoint.name, latest)
        for inference_id, label in labels.items():
            prediction = latest[inference_id]
            value = None if prediction.value is None else per_sample(prediction.value, label)
            if value is None:
                variant.unusable += 1
            else:
                bucket = int(prediction.time.timestamp()) // period * period
                variant.samples.append((bucket, value))


def is_correct(prediction: float | str, label: Label) -> bool:
    """A prediction equals its label; a probability is thresholded at 0.5 against a 0 or 1 label."""
    guess, truth = number_of(prediction), number_of(label)
    if guess is not None and truth is not None:
        if truth in (0.0, 1.0) and 0.0 <= guess <= 1.0:
            return (guess >= 0.5) == (truth == 1.0)
        return guess == truth
    return str(prediction).strip() == str(label).strip()


def _error(power: int) -> Callable[[float | str, Label], float | None]:
    def per_sample(prediction: float | str, label: Label) -> float | None:
        guess, truth = number_of(prediction), number_of(label)
        return None if guess is None or truth is None else abs(guess - truth) ** power
    return per_sample


_PER_SAMPLE: dict[str, Callable[[float | str, Label], float | None]] = {
    "accuracy": lambda prediction, label: float(is_correct(prediction, label)), "rmse": _error(2), "mae": _error(1)}


def _champion(variants: list[_Variant], baseline: str | None) -> _Variant | None:
    if not variants:
        return None
    if baseline is not None:
        return next(variant for variant in variants if variant.name == baseline)
    return max(variants, key=lambda variant: (variant.count("Invocations"), len(variant.samples)))


# -- the figures -------------------------------------------------------------------------------------------------


def _summary(variant: _Variant, metric: str) -> stats.Summary:
    """The per-sample values the metric is tested on: 1/0 per invocation (error) for error_rate, else the
    labelled samples' values."""
    if metric == "error_rate":
        invocations = variant.count("Invocations")
        errors = variant.count("Invocation4XXErrors") + variant.count("Invocation5XXErrors")
        share = errors / invocations if invocations else 0.0
        variance = share * (1 - share) * invocations / (invocations - 1) if invocations > 1 else 0.0
        return stats.Summary(invocations, share, variance)
    return stats.summarize([value for _, value in variant.samples])


def _estimate(summary: stats.Summary, metric: str) -> stats.Estimate:
    if metric in ("accuracy", "error_rate"):
        return stats.wilson(round(summary.mean * summary.count), summary.count)
    found = stats.mean_interval(summary)
    if metric == "mae":
        return found
    return stats.Estimate(math.sqrt(found.value) if summary.count else math.nan, math.sqrt(max(found.low, 0.0)),
                          math.sqrt(found.high) if math.isfinite(found.high) else math.inf, found.samples)


def _latency_summary(variant: _Variant) -> stats.Summary | None:
    """ModelLatency's count, mean and variance (from its histogram: each value within 1 % of what it stands for)."""
    total = variant.total("ModelLatency")
    if total is None or total.sample_count < 1 or total.histogram is None:
        return None
    mean = total.sum / total.sample_count
    spread = math.fsum(count * (distribution.representative(bucket) - mean) ** 2
                       for bucket, count in total.histogram.items())
    count = round(total.sample_count)
    return stats.Summary(count, mean, spread / (count - 1) if count > 1 else 0.0)


def _variant_json(variant: _Variant, metric: str, start: datetime, end: datetime, period: int) -> dict[str, Any]:
    invocations, error_rate = variant.count("Invocations"), _estimate(_summary(variant, "error_rate"), "error_rate")
    latency = variant.total("ModelLatency")
    measured = _summary(variant, metric)
    return {"VariantName": variant.name, "Invocations": invocations,
            "Invocation4XXErrors": variant.count("Invocation4XXErrors"),
            "Invocation5XXErrors": variant.count("Invocation5XXErrors"),
            "ErrorRate": _estimate_json(error_rate) if invocations else None,
            "ModelLatency": None if latency is None else _latency_json(latency),
            "Captured": variant.captured, "Labelled": len(variant.samples) + variant.unusable,
            "Unusable": variant.unusable,
            "Metric": _estimate_json(_estimate(measured, metric)) if measured.count else None,
            "Series": _series(variant, metric, start, end, period)}


def _estimate_json(estimate: stats.Estimate) -> dict[str, Any]:
    return {"Value": _finite(estimate.value), "Low": _finite(estimate.low), "High": _finite(estimate.high),
            "Samples": estimate.samples}


def _latency_json(latency: Aggregate) -> dict[str, float | None]:
    """Microseconds, as SageMaker publishes ModelLatency."""
    def at(share: float) -> float | None:
        if latency.histogram is None or latency.sample_count <= 0:
            return None
        return distribution.percentile(latency.histogram, share, latency.minimum, latency.maximum)

    return {"Average": latency.sum / latency.sample_count if latency.sample_count else None,
            **{name: at(share) for name, share in _PERCENTILES.items()}}


def _series(variant: _Variant, metric: str, start: datetime, end: datetime, period: int) -> list[dict[str, Any]]:
    """Per bucket of `period` seconds: invocations, errors, latency percentiles and the metric of its samples."""
    by_bucket: dict[int, list[float]] = defaultdict(list)
    for bucket, value in variant.samples:
        by_bucket[bucket].append(value)
    first = int(start.timestamp()) // period * period
    rows = []
    for bucket in range(first, int(end.timestamp()), period):
        aggregates = {name: variant.buckets.get(name, {}).get(bucket) for name in _INVOCATION_METRICS}
        invocations = 0 if aggregates["Invocations"] is None else round(aggregates["Invocations"].sum)
        errors = sum(round(found.sum) for name in ("Invocation4XXErrors", "Invocation5XXErrors")
                     if (found := aggregates[name]) is not None)
        latency = aggregates["ModelLatency"]
        values = by_bucket.get(bucket, [])
        measured: float | None = None
        if metric == "error_rate":
            measured = errors / invocations if invocations else None
        elif values:
            measured = _estimate(stats.summarize(values), metric).value
        rows.append({"Timestamp": datetime.fromtimestamp(bucket, UTC).isoformat(), "Invocations": invocations,
                     "Errors": errors, "ModelLatency": None if latency is None else _latency_json(latency),
                     "Metric": None if measured is None else _finite(measured),
                     "Samples": invocations if metric == "error_rate" else len(values)})
    return rows


# -- the verdict -------------------------------------------------------------------------------------------------


def _comparison(champion: _Variant, challenger: _Variant, metric: str) -> dict[str, Any]:
    lower_is_better = _LOWER_IS_BETTER[metric]
    found = _compare(_summary(champion, metric), _summary(challenger, metric), metric, lower_is_better)
    if found is not None and metric == "rmse":
        found["Test"] = "Welch's t-test on squared errors"
    elif found is not None and metric == "mae":
        found["Test"] = "Welch's t-test on absolute errors"
    if found is not None and metric in ("rmse", "mae", "accuracy"):
        found["Difference"] = _finite(_estimate(_summary(challenger, metric), metric).value
                                      - _estimate(_summary(champion, metric), metric).value)
    errors = _compare(_summary(champion, "error_rate"), _summary(challenger, "error_rate"), "error_rate", True)
    champion_latency, challenger_latency = _latency_summary(champion), _latency_summary(challenger)
    latency = None if champion_latency is None or challenger_latency is None else _compare(
        champion_latency, challenger_latency, "latency", True)
    recommendation, reason = _verdict(challenger.name, champion.name, metric, found)
    return {"VariantName": challenger.name, "Baseline": champion.name, "Metric": found, "ErrorRate": errors,
            "ModelLatency": latency, "Recommendation": recommendation,
            "SamplesStillNeeded": None if found is None else found["SamplesStillNeeded"],
            "Reason": reason + _also(errors, "invocation error rate") + _also(latency, "mean model latency")}


def _compare(baseline: stats.Summary, challenger: stats.Summary, metric: str,
             lower_is_better: bool) -> dict[str, Any] | None:
    """The test's figures as JSON; None when either side has too few samples to test (two each)."""
    if baseline.count < 2 or challenger.count < 2:
        return None
    is_proportion = metric in ("accuracy", "error_rate")
    found = (stats.two_proportions if is_proportion else stats.welch)(baseline, challenger)
    still = None if found.samples_needed is None else max(
        0, found.samples_needed - min(baseline.count, challenger.count))
    better = None if found.difference == 0 else (found.difference < 0) == lower_is_better
    return {"Test": found.test, "Difference": _finite(found.difference), "PValue": found.p_value,
            "Significant": found.is_significant, "Better": better, "Power": found.power,
            "SamplesNeededPerVariant": found.samples_needed, "SamplesStillNeeded": still}


def _verdict(challenger: str, champion: str, metric: str, found: dict[str, Any] | None) -> tuple[str, str]:
    """The recommendation and why, in plain words."""
    if found is None:
        what = "invocations" if metric == "error_rate" else "labelled predictions"
        return KEEP_TESTING, (f"{challenger} and {champion} need at least two {what} each before their {metric} can "
                              "be compared.")
    p_value = f"p = {found['PValue']:.3g} by {found['Test']}"
    if found["Significant"] and found["Better"]:
        return PROMOTE, f"{challenger}'s {metric} is significantly better than {champion}'s ({p_value})."
    if found["Significant"]:
        return ROLL_BACK, f"{challenger}'s {metric} is significantly worse than {champion}'s ({p_value})."
    if found["SamplesStillNeeded"] is None:
        return KEEP_TESTING, f"{challenger} and {champion} show no difference in {metric} so far ({p_value})."
    return KEEP_TESTING, (f"No significant difference in {metric} yet ({p_value}, power {found['Power']:.0%}); "
                          f"about {found['SamplesStillNeeded']:,} more samples per variant would give "
                          f"{stats.POWER:.0%} power if the observed difference holds.")


def _also(found: dict[str, Any] | None, what: str) -> str:
    if found is None or not found["Significant"]:
        return ""
    direction = "lower" if found["Difference"] < 0 else "higher"
    return f" Its {what} is significantly {direction} (p = {found['PValue']:.3g})."


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: None stands for them."""
    return value if math.isfinite(value) else None
