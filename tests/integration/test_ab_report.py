"""A/B verdicts through a real server: two variants whose accuracy differs by a planted amount, captured at 100 %,
a few thousand invocations with InferenceIds, their labels sent back through the SDK, and the report (SDK and CLI)
says keep testing on a few dozen labels, then promote the better challenger (roll back, against it as baseline)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from modelbay.sdk.ab_testing import ab_report, send_ground_truth
from tests.conftest import client
from tests.helpers import ServerProcess, serve_image, serve_program, wait_until
from tests.integration.models import ROLE
from tests.integration.test_cli import modelbay

INVOCATIONS = 2000
CORRECT_OF_20 = {"A": 16, "B": 19}  # accuracy 80 % and 95 %


def classifier(correct_of_20: int) -> str:
    """Answers the class of n (n % 2) for `correct_of_20` of every 20 n, the other class otherwise."""
    return serve_program(on_post=f"""
        n = int(body)
        label = n % 2 if n % 20 < {correct_of_20} else 1 - n % 2
        self.answer(str(label).encode(), "text/csv")""")


def is_correct(variant: str, n: int) -> bool:
    return n % 20 < CORRECT_OF_20[variant]


def test_the_report_promotes_the_more_accurate_challenger_once_labels_suffice(
        server: ServerProcess, sagemaker: Any, s3: Any, unique: str, tmp_path: Path) -> None:
    s3.create_bucket(Bucket=unique)
    for name, correct in CORRECT_OF_20.items():
        sagemaker.create_model(ModelName=f"{unique}-{name}", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": serve_image(tmp_path / name, classifier(correct))})
    sagemaker.create_endpoint_config(
        EndpointConfigName=unique,
        ProductionVariants=[{"VariantName": name, "ModelName": f"{unique}-{name}", "InstanceType": "ml.m5.large",
                             "InitialInstanceCount": 1, "InitialVariantWeight": weight}
                            for name, weight in (("A", 3.0), ("B", 2.0))],  # A has the most traffic: the champion
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": f"s3://{unique}/capture",
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                           "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}})
    sagemaker.create_endpoint(EndpointName=unique, EndpointConfigName=unique)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=unique, WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    # STEP 1: the load, each invocation with its InferenceId; which variant answered each one
    served: dict[int, str] = {}

    def invoke(numbers: range) -> None:
        runtime = client(server.url, "sagemaker-runtime")
        for n in numbers:
            answer = runtime.invoke_endpoint(EndpointName=unique, Body=str(n).encode(), ContentType="text/csv",
                                             InferenceId=f"id-{n}")
            answer["Body"].read()
            served[n] = answer["InvokedProductionVariant"]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(invoke, [range(start, INVOCATIONS, 8) for start in range(8)]))
    counts = {name: sum(1 for variant in served.values() if variant == name) for name in CORRECT_OF_20}

    def captured_and_counted() -> dict[str, Any] | None:
        report = ab_report(unique, since="30m", url=server.url)
        variants = {variant["VariantName"]: variant for variant in report["Variants"]}
        done = all(variants[name]["Captured"] == counts[name] == variants[name]["Invocations"] for name in counts)
        return report if done else None
    wait_until(captured_and_counted, 30, "every invocation captured and counted")

    # STEP 2: a few dozen labels, 20 per variant with the planted accuracy: not enough to tell
    few = [n for name, right in CORRECT_OF_20.items() for is_right, wanted in ((True, right), (False, 20 - right))
           for n in sorted(n for n, v in served.items() if v == name and is_correct(name, n) == is_right)[:wanted]]
    assert send_ground_truth(unique, {f"id-{n}": n % 2 for n in few}, url=server.url) == 40
    early = ab_report(unique, since="30m", url=server.url)
    [comparison] = early["Comparisons"]
    assert (early["Baseline"], comparison["VariantName"], comparison["Recommendation"]) == ("A", "B", "keep testing")
    assert comparison["SamplesStillNeeded"] > 0 and not comparison["Metric"]["Significant"]

    # STEP 3: every label (the first ones again: a label replaces itself), through the CLI from a CSV file
    rows = "inferenceId,label\n" + "".join(f"id-{n},{n % 2}\n" for n in range(INVOCATIONS))
    (tmp_path / "labels.csv").write_text(rows)
    sent = modelbay("ground-truth", unique, str(tmp_path / "labels.csv"), url=server.url)
    assert f"{INVOCATIONS:,} labels stored" in sent.stdout, sent.stderr
    report = json.loads(modelbay("ab-report", unique, "--since", "30m", "--json", url=server.url).stdout)
    variants = {variant["VariantName"]: variant for variant in report["Variants"]}
    for name in CORRECT_OF_20:
        expected = sum(is_correct(name, n) for n, v in served.items() if v == name) / counts[name]
        assert variants[name]["Metric"]["Value"] == expected and variants[name]["Labelled"] == counts[name]
    [comparison] = report["Comparisons"]
    assert comparison["Recommendation"] == "promote" and comparison["Metric"]["PValue"] < 1e-6
    assert comparison["ErrorRate"]["Significant"] is False
    text = modelbay("ab-report", unique, "--since", "30m", "--baseline", "B", "--plot", str(tmp_path / "ab.png"),
                    url=server.url, env={"COLUMNS": "200"}).stdout
    assert "A: ROLL BACK. A's accuracy is significantly worse than B's" in text
    assert (tmp_path / "ab.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
