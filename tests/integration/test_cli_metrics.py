"""`modelbay metrics` against a real server, run as a user runs it: the metrics SageMaker publishes for an endpoint
(AWS/SageMaker), after real invocations of each variant, shown per variant as a table, as JSON and as a plot."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelbay.sdk import Model, ProductionVariant, Session, deploy_variants
from tests.conftest import client
from tests.helpers import ServerProcess, wait_until
from tests.integration.models import echo_model
from tests.integration.test_cli import modelbay
from tests.unit.cli.test_metrics import png_size

SENT = {"a": 4, "b": 2}  # answered requests per variant
FAILED = {"a": 0, "b": 1}  # requests the model failed ("boom": its 500, SageMaker's 5XX)
WIDE = {"COLUMNS": "200"}


def invocations(cloudwatch: Any, endpoint: str, variant: str) -> float:
    """Invocations of the variant in the last hour, as any CloudWatch client reads them."""
    now = datetime.now(UTC)
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    answer = cloudwatch.get_metric_statistics(Namespace="AWS/SageMaker", MetricName="Invocations",
                                              Dimensions=dimensions, StartTime=now - timedelta(hours=1),
                                              EndTime=now + timedelta(minutes=1), Period=3660, Statistics=["Sum"])
    return math.fsum(point["Sum"] for point in answer["Datapoints"])


@pytest.fixture(scope="module")
def echo(session: Session, tmp_path_factory: pytest.TempPathFactory) -> Model:
    """A plain-Python model that echoes, and fails on "boom"."""
    return echo_model(session, tmp_path_factory.mktemp("echo"))


@pytest.fixture(scope="module")
def invoked(echo: Model, server: ServerProcess) -> Iterator[str]:
    """An endpoint with variants a and b, each invoked SENT times and failing FAILED times, its metrics published."""
    endpoint = "t" + uuid.uuid4().hex[:12]
    deploy_variants(endpoint, [ProductionVariant(echo, "a"), ProductionVariant(echo, "b")])
    runtime, cloudwatch = client(server.url, "sagemaker-runtime"), client(server.url, "cloudwatch")
    for variant in SENT:
        for _ in range(SENT[variant]):
            runtime.invoke_endpoint(EndpointName=endpoint, Body=b"1,2", ContentType="text/csv", TargetVariant=variant)
        for _ in range(FAILED[variant]):
            with pytest.raises(runtime.exceptions.ModelError):
                runtime.invoke_endpoint(EndpointName=endpoint, Body=b"boom", ContentType="text/csv",
                                        TargetVariant=variant)
    wait_until(lambda: all(invocations(cloudwatch, endpoint, variant) == SENT[variant] + FAILED[variant]
                           for variant in SENT), 30, "the invocations to be published")
    yield endpoint
    client(server.url, "sagemaker").delete_endpoint(EndpointName=endpoint)


def test_the_table_counts_each_variants_invocations_and_errors(invoked: str, server: ServerProcess) -> None:
    done = modelbay("metrics", invoked, "--since", "90m", url=server.url, env=WIDE)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[2:]}
    for variant in SENT:  # Variant, Invocations, 4XX, 5XX, then latencies ("1.23 ms")
        assert rows[variant][1:4] == [str(SENT[variant] + FAILED[variant]), "0", str(FAILED[variant])]
        assert rows[variant][5] == "ms" and float(rows[variant][4]) > 0


def test_json_holds_totals_and_series_per_variant(invoked: str, server: ServerProcess) -> None:
    done = modelbay("--json", "metrics", invoked, "--since", "2h", "--period", "10", url=server.url)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["Period"] == 10
    variants = {variant["VariantName"]: variant for variant in printed["Variants"]}
    assert sorted(variants) == sorted(SENT)
    for name, variant in variants.items():
        totals, series = variant["Totals"], variant["Series"]
        assert totals["Invocations"]["Sum"] == SENT[name] + FAILED[name]
        assert totals["Invocation5XXErrors"]["Sum"] == FAILED[name]
        assert sum(point["Value"] for point in series["Invocations"]["Sum"]) == totals["Invocations"]["Sum"]
        latency = totals["ModelLatency"]
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] < 60_000_000  # microseconds
        assert totals["OverheadLatency"]["p50"] > 0


def test_plot_draws_a_png(invoked: str, server: ServerProcess, tmp_path: Path) -> None:
    done = modelbay("metrics", invoked, "--plot", str(tmp_path / "metrics.png"), url=server.url, env=WIDE)
    assert done.returncode == 0, done.stderr
    assert f"plot written to {tmp_path / 'metrics.png'}" in done.stdout
    assert png_size(tmp_path / "metrics.png") == (1200, 800)


def test_an_endpoint_without_traffic_has_zero_counts_and_no_latency(echo: Model, server: ServerProcess,
                                                                      unique: str) -> None:
    deploy_variants(unique, [ProductionVariant(echo, "quiet")])
    done = modelbay("--json", "metrics", unique, url=server.url)
    assert done.returncode == 0, done.stderr
    [variant] = json.loads(done.stdout)["Variants"]
    assert (variant["VariantName"], variant["Totals"]["Invocations"]["Sum"]) == ("quiet", 0)
    assert variant["Totals"]["ModelLatency"]["p50"] is None
    client(server.url, "sagemaker").delete_endpoint(EndpointName=unique)


@pytest.mark.parametrize(("arguments", "error"), [
    (["nope"], 'error: ValidationException: Could not find endpoint "arn:aws:sagemaker:us-east-1:000000000000:'
               'endpoint/nope".\n'),
    (["nope", "--since", "90 minutes"], "error: --since: '90 minutes' is neither a duration (30s, 10m, 2h, 1d) nor "
                                        "a time (2026-12-05T13:00)\n"),
    (["nope", "--since", "1d", "--period", "1"], "error: --period 1 is too fine for --since '1d': CloudWatch keeps "
                                                 "data that old per 60 s, so the period must be a multiple of 60\n"),
])
def test_bad_input_is_one_line(server: ServerProcess, arguments: list[str], error: str) -> None:
    done = modelbay("metrics", *arguments, url=server.url, env=WIDE)
    assert (done.returncode != 0, done.stdout, done.stderr) == (True, "", error)
