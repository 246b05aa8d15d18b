"""Shadow variants through boto3 against a real server: under load the shadow gets its share of copies (its
Invocations, and the copies dropped at its bound, ShadowCopiesDropped, beside production's Invocations), its answers
never reach the caller, a slow shadow leaves the caller's latency as it was (measured side by side with an endpoint
without one), and UpdateEndpoint promotes it."""

from __future__ import annotations

import concurrent.futures
import math
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import client
from tests.helpers import ServerProcess, serve_image, serve_program, wait_until
from tests.integration.models import ROLE

SLOW_S = 0.2  # the slow shadow's time per copy


def answering(word: str, sleep_s: float = 0.0) -> str:
    """A model server answering `word` after `sleep_s`."""
    return serve_program(preamble="import time", on_post=f"time.sleep({sleep_s})\nself.answer(b'{word}')")


def variant(name: str, model: str, weight: float = 1.0) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1,
            "InitialVariantWeight": weight}


def invocations(cloudwatch: Any, endpoint: str, variant_name: str, metric: str = "Invocations") -> float:
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/SageMaker", MetricName=metric, Statistics=["Sum"], Period=3600,
        Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant_name}],
        StartTime=now - timedelta(minutes=30), EndTime=now + timedelta(minutes=1))["Datapoints"]
    return sum(point["Sum"] for point in points)


def sampled(cloudwatch: Any, endpoint: str) -> tuple[float, float]:
    """The shadow's copies answered (its Invocations) and dropped (ShadowCopiesDropped)."""
    return (invocations(cloudwatch, endpoint, "shadow"),
            invocations(cloudwatch, endpoint, "shadow", "ShadowCopiesDropped"))


def settled(read: Any) -> Any:
    """A check for wait_until: true once `read()` gives the same figure twice in a row (a flush apart)."""
    seen: list[Any] = []

    def check() -> bool:
        seen.append(read())
        return len(seen) > 1 and seen[-1] == seen[-2]
    return check


def latencies(runtime: Any, endpoint: str) -> float:
    began = time.perf_counter()
    runtime.invoke_endpoint(EndpointName=endpoint, Body=b"1", ContentType="text/csv")["Body"].read()
    return time.perf_counter() - began


def percentile(values: list[float], share: float) -> float:
    return sorted(values)[min(len(values) - 1, int(share * len(values)))]


def test_a_shadow_is_copied_its_share_answers_nobody_never_slows_the_caller_and_is_promoted(
        server: ServerProcess, sagemaker: Any, unique: str, tmp_path: Path) -> None:
    runtime, cloudwatch = client(server.url, "sagemaker-runtime"), client(server.url, "cloudwatch")
    for word, sleep_s in (("live", 0.0), ("shadow", 0.0), ("slow", SLOW_S)):
        sagemaker.create_model(ModelName=f"{unique}-{word}", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": serve_image(tmp_path / word, answering(word, sleep_s))})
    configs = {"half": ([variant("live", f"{unique}-live", 2.0)], [variant("shadow", f"{unique}-shadow", 1.0)]),
               "plain": ([variant("live", f"{unique}-live")], []),
               "slowed": ([variant("live", f"{unique}-live")], [variant("shadow", f"{unique}-slow", 5.0)])}
    for suffix, (production, shadows) in configs.items():
        sagemaker.create_endpoint_config(EndpointConfigName=f"{unique}-{suffix}", ProductionVariants=production,
                                         **({"ShadowProductionVariants": shadows} if shadows else {}))
        sagemaker.create_endpoint(EndpointName=f"{unique}-{suffix}", EndpointConfigName=f"{unique}-{suffix}")
    half, plain, slowed = (f"{unique}-{suffix}" for suffix in configs)
    for endpoint in (half, plain, slowed):
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=endpoint,
                                                         WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    shadow, = sagemaker.describe_endpoint(EndpointName=half)["ShadowProductionVariants"]
    assert (shadow["VariantName"], shadow["CurrentWeight"], shadow["CurrentInstanceCount"]) == ("shadow", 1.0, 1)
    assert shadow["DeployedImages"][0]["SpecifiedImage"] == str(tmp_path / "shadow")

    # STEP 1: two clients' load; the shadow (weight 1 beside production's 2) gets half the invocations copied
    calls = 600
    with concurrent.futures.ThreadPoolExecutor(2) as load:
        answers = list(load.map(lambda _: runtime.invoke_endpoint(EndpointName=half, Body=b"1")["Body"].read(),
                                range(calls)))
    assert set(answers) == {b"live"}
    wait_until(lambda: invocations(cloudwatch, half, "live") == calls, 15, "production's invocations published")
    wait_until(settled(lambda: sampled(cloudwatch, half)), 15, "the shadow's copies published", every_s=1.5)
    copied, dropped = sampled(cloudwatch, half)
    # binomial(600, 0.5): mean 300, sd 12.2; 4.5 sd either side (a busy machine may drop a few at the bound)
    assert abs(copied + dropped - calls / 2) < 4.5 * math.sqrt(calls * 0.25) and copied > dropped, (copied, dropped)

    # STEP 2: a shadow that takes 200 ms a copy, copied every invocation, beside an endpoint without a shadow
    timed: dict[str, list[float]] = {plain: [], slowed: []}
    for _ in range(300):
        for endpoint in (plain, slowed):  # interleaved, so both see the same machine
            timed[endpoint].append(latencies(runtime, endpoint))
    without, with_slow = timed[plain], timed[slowed]
    assert percentile(with_slow, 0.5) < 2 * percentile(without, 0.5) + 0.02, (statistics.median(with_slow),
                                                                               statistics.median(without))
    assert percentile(with_slow, 0.99) < 2 * percentile(without, 0.99) + 0.05, (percentile(with_slow, 0.99),
                                                                                percentile(without, 0.99))
    # every invocation was sampled; copies beyond the slow shadow's bound were dropped, and counted
    wait_until(lambda: invocations(cloudwatch, slowed, "live") == 300, 15, "production's invocations published")
    wait_until(settled(lambda: sampled(cloudwatch, slowed)), 15, "the slow shadow's copies published", every_s=1.5)
    copied, dropped = sampled(cloudwatch, slowed)
    assert copied + dropped == 300 and copied > 0 and dropped > 0, (copied, dropped)

    # STEP 3: promote the shadow: its model becomes the production variant
    sagemaker.create_endpoint_config(EndpointConfigName=f"{unique}-promoted",
                                     ProductionVariants=[variant("live", f"{unique}-shadow")])
    sagemaker.update_endpoint(EndpointName=half, EndpointConfigName=f"{unique}-promoted")
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=half, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    described = sagemaker.describe_endpoint(EndpointName=half)
    assert "ShadowProductionVariants" not in described and described["EndpointConfigName"] == f"{unique}-promoted"
    assert runtime.invoke_endpoint(EndpointName=half, Body=b"1")["Body"].read() == b"shadow"
    for endpoint in (half, plain, slowed):
        sagemaker.delete_endpoint(EndpointName=endpoint)
