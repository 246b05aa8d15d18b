"""The SageMaker SDK's DefaultModelMonitor.suggest_baseline, unchanged, against a real server: the analyzer image
(`sagemaker-model-monitor-analyzer`) runs as a processing job with no entrypoint of the job's, and the SDK reads the
statistics and constraints it wrote. The first run builds the analyzer's environment (numpy and pandas, about a
minute), cached for later runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.frameworks import choose
from tests.helpers import SHARED_ENVIRONMENTS, ServerProcess, user_shell

USER = """
    import json
    import sagemaker
    from sagemaker.model_monitor import DefaultModelMonitor
    from sagemaker.model_monitor.dataset_format import DatasetFormat

    monitor = DefaultModelMonitor(role="SageMakerExecutionRole", instance_count=1, instance_type="ml.m5.xlarge",
                                  sagemaker_session=sagemaker.Session())
    monitor.suggest_baseline(baseline_dataset="train.csv", dataset_format=DatasetFormat.csv(header=True),
                             wait=True, logs=False)
    statistics, constraints = monitor.baseline_statistics(), monitor.suggested_constraints()
    job = monitor.latest_baselining_job.describe()
    print("job: " + json.dumps({"status": job["ProcessingJobStatus"], "statistics": statistics.body_dict,
                                "constraints": constraints.body_dict}))
"""


def test_suggest_baseline_gives_the_statistics_and_constraints_of_a_csv(server: ServerProcess, tmp_path: Path) -> None:
    FrameworkEnvironments(SHARED_ENVIRONMENTS).ensure(choose("model-monitor", None).recipe)  # built once, beforehand
    (tmp_path / "train.csv").write_text("label,age,city\n" + "".join(
        f"{i % 2},{20 + i % 50},{['Paris', 'Rome', 'Oslo'][i % 3]}\n" for i in range(200)))
    (tmp_path / "user.py").write_text(textwrap.dedent(USER))
    done = subprocess.run([sys.executable, "user.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env=user_shell(server.url, tmp_path) | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    job = json.loads(done.stdout[done.stdout.rindex("job: ") + 5:].splitlines()[0])
    assert job["status"] == "Completed"
    statistics, constraints = job["statistics"], job["constraints"]
    assert statistics["dataset"]["item_count"] == 200
    features = {f["name"]: f for f in statistics["features"]}
    assert [(name, f["inferred_type"]) for name, f in features.items()] == [
        ("label", "Integral"), ("age", "Integral"), ("city", "String")]
    assert features["age"]["numerical_statistics"]["min"] == 20.0
    assert features["city"]["string_statistics"]["distinct_count"] == 3
    suggested = {f["name"]: f for f in constraints["features"]}
    assert suggested["city"]["string_constraints"]["domains"] == ["Oslo", "Paris", "Rome"]
    assert suggested["age"]["completeness"] == 1.0
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.1
