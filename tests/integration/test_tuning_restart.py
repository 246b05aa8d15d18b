"""SIGKILL the server mid-tuning, start it again on the same data dir (issue 17): the tuning job completes with
exactly the trials it was to run, none run twice.

A Random tuning job of four short script-mode trials on `modelbay/python`, one at a time; the server is killed once
the first trial has completed and the second is training. The second's instance outlives the server and is adopted;
the restarted tuning controller rebuilds its search from the stored trials, so it neither makes a second training job
for a trial nor suggests again what was tried.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import client
from tests.helpers import ServerProcess, instance_dir, wait_until
from tests.integration.models import ROLE, tar_gz

NAME, TRIALS = "restarted", 4
# Says it has started (/opt/ml/started), trains two seconds, then logs the objective (x - 0.3)^2.
TRAIN_PY = b"""
import json, pathlib, time
x = float(json.load(open("/opt/ml/input/config/hyperparameters.json"))["x"])
pathlib.Path("/opt/ml/started").touch()
time.sleep(2)
print(f"objective={(x - 0.3) ** 2:.6f}", flush=True)
"""


def test_a_tuning_job_survives_a_server_killed_mid_tuning_without_duplicate_trials(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(data)
    try:
        sagemaker = _start(server)
        _create(sagemaker)
        wait_until(lambda: _first_done_second_running(sagemaker, data), 60, "trial 1 to complete and trial 2 to run")
        server.kill()

        sagemaker = _start(server)
        described = wait_until(lambda: _ended(sagemaker), 60, "the tuning job to end")
        assert isinstance(described, dict)
        assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
        assert described["TrainingJobStatusCounters"]["Completed"] == TRIALS
        trials = _trials(sagemaker)
        names = [trial["TrainingJobName"] for trial in trials]
        assert len(names) == len(set(names)) == TRIALS
        listed = [job["TrainingJobName"] for job in sagemaker.list_training_jobs(MaxResults=100)[
            "TrainingJobSummaries"]]
        assert sorted(listed) == sorted(names)
        xs = {trial["TunedHyperParameters"]["x"] for trial in trials}
        assert len(xs) == TRIALS  # four draws from a continuous range: a repeat would be a trial suggested again
        assert described["BestTrainingJob"]["TrainingJobName"] in names
    finally:
        server.stop()


def _start(server: ServerProcess) -> Any:
    return client(server.start(), "sagemaker")


def _create(sagemaker: Any) -> None:
    s3 = client(sagemaker.meta.endpoint_url, "s3")
    s3.create_bucket(Bucket=NAME)
    s3.put_object(Bucket=NAME, Key="code/sourcedir.tar.gz", Body=tar_gz("train.py", TRAIN_PY))
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=NAME,
        HyperParameterTuningJobConfig={
            "Strategy": "Random", "RandomSeed": 11,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "objective"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": TRIALS, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]}},
        TrainingJobDefinition={
            "AlgorithmSpecification": {"TrainingImage": "modelbay/python", "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "objective", "Regex": "objective=([0-9.]+)"}]},
            "StaticHyperParameters": {"sagemaker_program": '"train.py"',
                                      "sagemaker_submit_directory": f'"s3://{NAME}/code/sourcedir.tar.gz"'},
            "RoleArn": ROLE, "OutputDataConfig": {"S3OutputPath": f"s3://{NAME}/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 120}})


def _trials(sagemaker: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=NAME, MaxResults=100)["TrainingJobSummaries"]
    return found


def _first_done_second_running(sagemaker: Any, data: Path) -> bool:
    """Whether trial 1 has completed and trial 2's program runs (the server killed before its instance starts
    would fail it as lost, as it would any training job)."""
    statuses = {trial["TrainingJobName"]: trial["TrainingJobStatus"] for trial in _trials(sagemaker)}
    running = [name for name, status in statuses.items() if status == "InProgress"]
    return (sorted(statuses.values()) == ["Completed", "InProgress"]
            and (instance_dir(data, running[0]) / "started").exists())


def _ended(sagemaker: Any) -> dict[str, Any] | None:
    found: dict[str, Any] = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=NAME)
    return found if found["HyperParameterTuningJobStatus"] not in ("InProgress", "Stopping") else None
