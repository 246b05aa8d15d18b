"""The SageMaker Python SDK's processors, unchanged, against a real server: SKLearnProcessor with inputs and
outputs, ScriptProcessor with the scikit-learn image, FrameworkProcessor with a source_dir and requirements.txt;
and every call SKLearnProcessor's path makes, served (the audit trail shows none refused or failed)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.frameworks import choose
from tests.helpers import SHARED_ENVIRONMENTS, ServerProcess, audit_events, user_shell, wait_until

# Scales the input's columns with scikit-learn and writes them where the output is uploaded from.
SCALE = """
    import argparse, pathlib
    import numpy as np
    from sklearn.preprocessing import StandardScaler

    parser = argparse.ArgumentParser()
    parser.add_argument("--factor", type=float)
    args = parser.parse_args()
    rows = np.loadtxt("/opt/ml/processing/input/rows.csv", delimiter=",", ndmin=2)
    scaled = StandardScaler().fit_transform(rows) * args.factor
    pathlib.Path("/opt/ml/processing/train").mkdir(parents=True, exist_ok=True)
    np.savetxt("/opt/ml/processing/train/scaled.csv", scaled, delimiter=",", fmt="%.3f")
    print(f"scaled {len(rows)} rows")
"""

USER = """
    import json, sys
    import sagemaker
    from sagemaker.processing import FrameworkProcessor, ProcessingInput, ProcessingOutput, ScriptProcessor
    from sagemaker.sklearn import SKLearn
    from sagemaker.sklearn.processing import SKLearnProcessor

    session = sagemaker.Session()
    bucket = session.default_bucket()
    data = session.upload_data("rows.csv", key_prefix="sdk-processing/input")
    kind = sys.argv[1]
    common = dict(role="SageMakerExecutionRole", instance_type="ml.m5.large", instance_count=1)
    if kind == "sklearn":
        processor = SKLearnProcessor(framework_version="1.2-1", **common)
        run = dict(code="scale.py")
    elif kind == "script":
        image = sagemaker.image_uris.retrieve("sklearn", session.boto_region_name, "1.2-1")
        processor = ScriptProcessor(image_uri=image, command=["python3"], **common)
        run = dict(code="scale.py")
    else:
        processor = FrameworkProcessor(estimator_cls=SKLearn, framework_version="1.2-1", **common)
        run = dict(code="scale.py", source_dir="src")
    processor.run(inputs=[ProcessingInput(source=data, destination="/opt/ml/processing/input")],
                  outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train")],
                  arguments=["--factor", "2"], wait=True, logs=True, **run)
    job = processor.latest_job.describe()
    print("job: " + json.dumps({"name": job["ProcessingJobName"], "status": job["ProcessingJobStatus"],
                                "output": job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]}))
"""

# SKLearnProcessor.run with an input and an output, waited for without its logs (a job's log streams are looked for
# before its log group exists, which fails on AWS too), then the job's description.
AUDITED = """
    import json
    from datetime import UTC, datetime
    import sagemaker
    from sagemaker.processing import ProcessingInput, ProcessingOutput
    from sagemaker.sklearn.processing import SKLearnProcessor

    session = sagemaker.Session()
    data = session.upload_data("rows.csv", key_prefix="sdk-processing/audited")
    started = datetime.now(UTC).isoformat()  # the default bucket exists: what follows is the processing path
    processor = SKLearnProcessor(framework_version="1.2-1", role="SageMakerExecutionRole", instance_type="ml.m5.large",
                                 instance_count=1)
    processor.run(code="scale.py", inputs=[ProcessingInput(source=data, destination="/opt/ml/processing/input")],
                  outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train")],
                  arguments=["--factor", "2"], wait=True, logs=False)
    job = processor.latest_job.describe()
    print("job: " + json.dumps({"started": started, "status": job["ProcessingJobStatus"]}))
"""


@pytest.fixture(scope="module")
def warm_sklearn() -> None:
    """The scikit-learn 1.2-1 environment built beforehand, once for every test."""
    FrameworkEnvironments(SHARED_ENVIRONMENTS).ensure(choose("sklearn", "1.2-1").recipe)


def run_as_user(folder: Path, url: str, code: str, *args: str) -> dict[str, Any]:
    """Run `code` as a user would, beside rows.csv and scale.py (also in src/, with a requirements.txt); answer the
    job it printed last, after the SDK's progress and the job's log."""
    (folder / "rows.csv").write_text("1,10\n2,20\n3,30\n")
    (folder / "scale.py").write_text(textwrap.dedent(SCALE))
    (folder / "src").mkdir()
    (folder / "src" / "scale.py").write_text(textwrap.dedent(SCALE))
    (folder / "src" / "requirements.txt").write_text("scikit-learn\n")  # satisfied already: pip needs no network
    (folder / "user.py").write_text(textwrap.dedent(code))
    done = subprocess.run([sys.executable, "user.py", *args], cwd=folder, capture_output=True, text=True,
                          env=user_shell(url, folder) | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"}, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    job: dict[str, Any] = json.loads(done.stdout[done.stdout.rindex("job: ") + 5:].splitlines()[0])
    job["stdout"] = done.stdout
    return job


@pytest.mark.parametrize("kind", ["sklearn", "script", "framework"])
def test_a_processor_runs_a_script_over_s3_data(kind: str, warm_sklearn: None, server: ServerProcess, s3: Any,
                                                tmp_path: Path) -> None:
    job = run_as_user(tmp_path, server.url, USER, kind)
    assert job["status"] == "Completed"
    assert "scaled 3 rows" in job["stdout"]  # the job's log, shown by run(logs=True)
    bucket, key = job["output"].removeprefix("s3://").split("/", 1)
    scaled = s3.get_object(Bucket=bucket, Key=f"{key}/scaled.csv")["Body"].read().decode().split()
    assert scaled == ["-2.449,-2.449", "0.000,0.000", "2.449,2.449"]


def test_the_sklearn_processors_calls_are_all_served(warm_sklearn: None, server: ServerProcess,
                                                      tmp_path: Path) -> None:
    job = run_as_user(tmp_path, server.url, AUDITED)
    assert job["status"] == "Completed"
    # The audit trail is written in batches: the last call the user code made shows the trail has caught up.
    wait_until(lambda: audit_events(server.url, operation="DescribeProcessingJob", since=job["started"]),
               timeout_s=10, what="the audit trail to catch up")
    called = {event["Operation"] for event in audit_events(server.url, since=job["started"])}
    assert {"PutObject", "CreateProcessingJob", "DescribeProcessingJob"} <= called, called
    failed = audit_events(server.url, failed="true", since=job["started"])
    assert failed == [], [(event["Operation"], event["Outcome"], event["ErrorMessage"]) for event in failed]
