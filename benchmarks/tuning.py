"""Bayesian vs Random search: the trials each needs to come within 1 % of a known optimum; and what a tuning
job adds to each of its trials over a plain training job.

    .venv/bin/python benchmarks/tuning.py [SEEDS] [--trials N]

The search's own trial efficiency, measured on the tuning controller's Search directly, one trial after another
(each suggestion from a Search rebuilt from the trials before it, as the controller makes them), with a fast
function standing in for the training script: a "validation accuracy" of three hyperparameters, learning_rate
(1e-5..0.1, Logarithmic), momentum (0..0.99, Linear) and layers (1..20, integer), whose optimum, 0.95, is at
learning_rate 1e-3, momentum 0.6, 7 layers. For each of SEEDS RandomSeeds (default 20), each strategy runs until a
trial scores within 1 % of the optimum (>= 0.9405), or CAP trials; prints the medians side by side and their
ratio. The goal: Bayesian within a third of Random's trials.

Then, on a private server: N (default 8) plain script-mode training jobs of a one-line script on
`modelbay/sklearn:1.2-1`, one after another, each timed from CreateTrainingJob to Completed; and a Random tuning job
of N trials of the same script (MaxParallelTrainingJobs 1, so trials run one after another too), timed from
CreateHyperParameterTuningJob to Completed, divided by N. The difference of the two per-job times is the tuning
job's overhead per trial (its controller's passes, the search, reading the objective), printed beside both.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from typing import Any

from training_overhead import BUCKET, POLL_S, SOURCE_KEY, run_job, sourcedir

from modelbay.controllers.tuning_jobs.search import Observation, Search
from modelbay.sdk.local_server import local_server

OPTIMUM = 0.95
WITHIN = 0.01
CAP = 400  # trials a strategy may take for one seed; a run that gets there counts as CAP
GOAL = 1 / 3
RANGES = {"ContinuousParameterRanges": [
    {"Name": "learning_rate", "MinValue": "1e-5", "MaxValue": "0.1", "ScalingType": "Logarithmic"},
    {"Name": "momentum", "MinValue": "0", "MaxValue": "0.99", "ScalingType": "Linear"}],
    "IntegerParameterRanges": [{"Name": "layers", "MinValue": "1", "MaxValue": "20"}]}


def accuracy(parameters: dict[str, str]) -> float:
    """The stand-in for a training script's validation accuracy: OPTIMUM at (1e-3, 0.6, 7), a bowl around it."""
    learning_rate, momentum = float(parameters["learning_rate"]), float(parameters["momentum"])
    layers = int(parameters["layers"])
    return (OPTIMUM - 0.02 * (math.log10(learning_rate) + 3) ** 2 - 0.5 * (momentum - 0.6) ** 2
            - 0.002 * (layers - 7) ** 2)


def trials_needed(strategy: str, seed: int) -> int:
    config: dict[str, Any] = {"Strategy": strategy, "RandomSeed": seed, "ParameterRanges": RANGES,
                              "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "accuracy"}}
    history: list[Observation] = []
    while len(history) < CAP:
        suggested = Search(config, [{}], history).suggest()
        assert suggested is not None  # Random and Bayesian always have one
        score = accuracy(suggested[1])
        history.append(Observation(len(history), suggested[0], suggested[1], "completed", score))
        if score >= OPTIMUM * (1 - WITHIN):
            break
    return len(history)


OBJECTIVE_PY = b"import time\nprint(f'first line {time.time():.6f}', flush=True)\nprint('objective=0.5')\n"


def tuning_job(sagemaker: Any, name: str, trials: int) -> float:
    """Run a Random tuning job of `trials` one-line trials one at a time; its seconds from create to Completed."""
    started = time.monotonic()
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig={
            "Strategy": "Random", "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "objective"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": trials, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]}},
        TrainingJobDefinition={
            "AlgorithmSpecification": {"TrainingImage": "modelbay/sklearn:1.2-1", "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "objective", "Regex": "objective=([0-9.]+)"}]},
            "StaticHyperParameters": {"sagemaker_program": json.dumps("train.py"),
                                      "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/{SOURCE_KEY}")},
            "RoleArn": "arn:aws:iam::000000000000:role/SageMakerRole",
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600}})
    while (job := sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name))[
            "HyperParameterTuningJobStatus"] == "InProgress":
        time.sleep(POLL_S)
    if job["HyperParameterTuningJobStatus"] != "Completed":
        raise RuntimeError(f"{name} ended {job['HyperParameterTuningJobStatus']}: {job.get('FailureReason')}")
    return time.monotonic() - started


def trial_overhead(trials: int) -> None:
    """Plain jobs against a tuning job's trials, on one private server, one after another."""
    with local_server() as server:
        server.s3.create_bucket(Bucket=BUCKET)
        server.s3.put_object(Bucket=BUCKET, Key=SOURCE_KEY, Body=sourcedir(OBJECTIVE_PY))
        logs = server.client("logs")
        run_job(server.sagemaker, logs, "warm-up")  # the framework environment, built before anything is timed
        plain = statistics.median(run_job(server.sagemaker, logs, f"plain-{n}").whole_job_s for n in range(trials))
        per_trial = tuning_job(server.sagemaker, "tuning", trials) / trials
    print(f"{trials} one-line script-mode jobs on modelbay/sklearn:1.2-1 (ml.m5.large), one after another")
    print(f"{'plain training job, create -> Completed (median)':<52} {plain:6.2f} s")
    print(f"{'tuning job trial, create -> Completed / trials':<52} {per_trial:6.2f} s")
    print(f"{'overhead per trial':<52} {per_trial - plain:+6.2f} s ({per_trial / plain:.2f}x)")


def main(seeds: int) -> None:
    needed = {strategy: [trials_needed(strategy, seed) for seed in range(seeds)] for strategy in ("Bayesian", "Random")}
    print(f"trials to come within {WITHIN:.0%} of the optimum ({OPTIMUM}), {seeds} seeds, at most {CAP} trials each")
    print(f"{'':10} {'median':>8} {'p25':>6} {'p75':>6} {'max':>6}")
    for strategy, counts in needed.items():
        p25, _, p75 = statistics.quantiles(counts, n=4)
        print(f"{strategy:10} {statistics.median(counts):8.1f} {p25:6.1f} {p75:6.1f} {max(counts):6d}")
    ratio = statistics.median(needed["Bayesian"]) / statistics.median(needed["Random"])
    verdict = "meets" if ratio <= GOAL else "misses"
    print(f"Bayesian / Random (medians): {ratio:.2f} ({verdict} the goal of at most {GOAL:.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seeds", type=int, nargs="?", default=20, help="RandomSeeds per strategy (default 20)")
    parser.add_argument("--trials", type=int, default=8, help="plain jobs and tuning trials timed (default 8)")
    arguments = parser.parse_args()
    main(arguments.seeds)
    trial_overhead(arguments.trials)
