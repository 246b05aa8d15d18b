"""A hyperparameter tuning job through boto3 against a real server: a Random search over a one-second program whose
objective is least near x = 0.3 completes with its best trial there, its trials are training jobs that ListTrainingJobs
shows, and ListTrainingJobsForHyperParameterTuningJob sorts them by objective."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers import ServerProcess, wait_until
from tests.integration.test_training_jobs import program

# (x - 0.3)², logged once per epoch, a little worse before the last.
OBJECTIVE = """exec python3 - <<'EOF'
import json, os
hp = json.load(open("/opt/ml/input/config/hyperparameters.json"))
x = float(hp["x"])
for epoch in (1, 2):
    print(f"objective={(x - 0.3) ** 2 + 0.01 / epoch:.6f}", flush=True)
EOF
"""
TRIALS = 6


def test_a_random_tuning_job_finds_the_optimum_region(sagemaker: Any, server: ServerProcess, bucket: str,
                                                      unique: str, scratch: Path) -> None:
    image = program(scratch / "image", OBJECTIVE)
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=unique,
        HyperParameterTuningJobConfig={
            "Strategy": "Random", "RandomSeed": 3,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "objective"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": TRIALS, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]}},
        TrainingJobDefinition={
            "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File", "MetricDefinitions": [
                {"Name": "objective", "Regex": "objective=([0-9.]+)"}]},
            "RoleArn": "arn:aws:iam::000000000000:role/SageMakerRole",
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/tuning"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 120}})

    def ended() -> dict[str, Any] | None:
        found = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=unique)
        return found if found["HyperParameterTuningJobStatus"] not in ("InProgress", "Stopping") else None
    described = wait_until(ended, 120, "the tuning job to end")
    assert isinstance(described, dict)
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    assert described["TrainingJobStatusCounters"]["Completed"] == TRIALS
    assert described["ObjectiveStatusCounters"]["Succeeded"] == TRIALS
    best = described["BestTrainingJob"]
    assert abs(float(best["TunedHyperParameters"]["x"]) - 0.3) < 0.25  # six random draws over [0, 1]

    trials = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=unique, SortBy="FinalObjectiveMetricValue", SortOrder="Ascending",
        MaxResults=100)["TrainingJobSummaries"]
    values = [trial["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for trial in trials]
    assert len(trials) == TRIALS and values == sorted(values)
    assert trials[0]["TrainingJobName"] == best["TrainingJobName"]
    listed = {job["TrainingJobName"] for job in sagemaker.list_training_jobs(
        NameContains=unique, MaxResults=100)["TrainingJobSummaries"]}
    assert listed == {trial["TrainingJobName"] for trial in trials}
    trial = sagemaker.describe_training_job(TrainingJobName=best["TrainingJobName"])
    assert trial["TuningJobArn"] == described["HyperParameterTuningJobArn"]
    assert trial["HyperParameters"] == best["TunedHyperParameters"] | {"_tuning_objective_metric": "objective"}
