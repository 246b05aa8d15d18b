"""The SageMaker Python SDK's processors, unchanged, against a real server: SKLearnProcessor with inputs and
outputs, ScriptProcessor with the scikit-learn image, FrameworkProcessor with a source_dir and requirements.txt."""

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
from tests.helpers import SHARED_ENVIRONMENTS, ServerProcess, user_shell

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


@pytest.fixture(scope="module")
def warm_sklearn() -> None:
    """The scikit-learn 1.2-1 environment built beforehand, once for every test."""
    FrameworkEnvironments(SHARED_ENVIRONMENTS).ensure(choose("sklearn", "1.2-1").recipe)


@pytest.mark.parametrize("kind", ["sklearn", "script", "framework"])
def test_a_processor_runs_a_script_over_s3_data(kind: str, warm_sklearn: None, server: ServerProcess, s3: Any,
                                                tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("1,10\n2,20\n3,30\n")
    (tmp_path / "scale.py").write_text(textwrap.dedent(SCALE))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "scale.py").write_text(textwrap.dedent(SCALE))
    (tmp_path / "src" / "requirements.txt").write_text("scikit-learn\n")  # satisfied already: pip needs no network
    (tmp_path / "user.py").write_text(textwrap.dedent(USER))
    done = subprocess.run([sys.executable, "user.py", kind], cwd=tmp_path, capture_output=True, text=True,
                          env=user_shell(server.url, tmp_path) | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"}, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    job = json.loads(done.stdout[done.stdout.rindex("job: ") + 5:].splitlines()[0])
    assert job["status"] == "Completed"
    assert "scaled 3 rows" in done.stdout  # the job's log, shown by run(logs=True)
    bucket, key = job["output"].removeprefix("s3://").split("/", 1)
    scaled = s3.get_object(Bucket=bucket, Key=f"{key}/scaled.csv")["Body"].read().decode().split()
    assert scaled == ["-2.449,-2.449", "0.000,0.000", "2.449,2.449"]
