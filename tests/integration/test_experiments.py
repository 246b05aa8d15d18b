"""SageMaker Experiments against a real server: experiments, trials and trial components through boto3 with the
sagemaker-metrics API beside them; the SageMaker Python SDK's Run, unchanged, logging parameters, metrics,
artifacts and a file, load_run, a script-mode training job run in the Run whose script logs with load_run(), and
ExperimentAnalytics' dataframe of it all; every SDK call served (the audit trail shows none refused or failed)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.helpers import ServerProcess, audit_events, user_shell
from tests.integration.test_sdk_tuning import warm


def test_experiments_trials_components_and_metrics_through_boto3(server: ServerProcess, sagemaker: Any,
                                                                  unique: str) -> None:
    experiment, trial, component = f"{unique}-exp", f"{unique}-trial", f"{unique}-tc"
    sagemaker.create_experiment(ExperimentName=experiment, Description="boto3")
    sagemaker.create_trial(TrialName=trial, ExperimentName=experiment)
    sagemaker.create_trial_component(TrialComponentName=component, Status={"PrimaryStatus": "InProgress"},
                                     Parameters={"lr": {"NumberValue": 0.1}})
    sagemaker.associate_trial_component(TrialComponentName=component, TrialName=trial)
    metrics = client(server.url, "sagemaker-metrics")
    start = datetime.now(UTC).replace(microsecond=0)
    answer = metrics.batch_put_metrics(TrialComponentName=component, MetricData=[
        {"MetricName": "loss", "Timestamp": start + timedelta(seconds=step), "Step": step, "Value": 1.0 / (step + 1)}
        for step in range(4)])
    assert "Errors" not in answer
    arn = sagemaker.describe_trial_component(TrialComponentName=component)["TrialComponentArn"]
    [result] = metrics.batch_get_metrics(MetricQueries=[{
        "MetricName": "loss", "ResourceArn": arn, "MetricStat": "Last", "Period": "IterationNumber",
        "XAxisType": "IterationNumber"}])["MetricQueryResults"]
    assert (result["Status"], result["XAxisValues"], result["MetricValues"]) == (
        "Complete", [0, 1, 2, 3], [1.0, 0.5, 1 / 3, 0.25])
    [loss] = sagemaker.describe_trial_component(TrialComponentName=component)["Metrics"]
    assert (loss["Count"], loss["Min"], loss["Max"], loss["Last"]) == (4, 0.25, 1.0, 0.25)
    listed = sagemaker.list_trial_components(ExperimentName=experiment)["TrialComponentSummaries"]
    assert [summary["TrialComponentName"] for summary in listed] == [component]
    with pytest.raises(ClientError, match="ValidationException.*still has trials"):
        sagemaker.delete_experiment(ExperimentName=experiment)
    sagemaker.disassociate_trial_component(TrialComponentName=component, TrialName=trial)
    for delete, name in ((sagemaker.delete_trial_component, {"TrialComponentName": component}),
                         (sagemaker.delete_trial, {"TrialName": trial}),
                         (sagemaker.delete_experiment, {"ExperimentName": experiment})):
        delete(**name)
    with pytest.raises(ClientError, match="ResourceNotFound"):
        sagemaker.describe_experiment(ExperimentName=experiment)


# The training script: it loads the run it was started in (from its job's ExperimentConfig) and logs to it.
TRAIN = """
    from sagemaker.experiments.run import load_run

    with load_run() as run:
        run.log_parameter("from-job", 1)
        for step in range(3):
            run.log_metric("job-accuracy", 0.5 + step / 10, step=step)
"""

# The user's code: a Run with what it logs, a training job in it, load_run by names, then ExperimentAnalytics.
USER = """
    import json, sys
    from datetime import UTC, datetime
    import sagemaker
    from sagemaker.analytics import ExperimentAnalytics
    from sagemaker.experiments.run import Run, load_run
    from sagemaker.sklearn import SKLearn

    experiment = sys.argv[1]
    session = sagemaker.Session()
    session.default_bucket()
    started = datetime.now(UTC).isoformat()
    with open("notes.txt", "w") as notes:
        notes.write("what this run tried")
    with Run(experiment_name=experiment, run_name="first", sagemaker_session=session) as run:
        run.log_parameters({"lr": 0.1, "kind": "tree"})
        run.log_parameter("depth", 3)
        for step, loss in enumerate((0.9, 0.5, 0.4)):
            run.log_metric("loss", loss, step=step)
        run.log_artifact("data", "s3://somewhere/data.csv", media_type="text/csv", is_output=False)
        run.log_file("notes.txt", name="notes")
        SKLearn(entry_point="train.py", source_dir="code", framework_version="1.2-1",
                role="SageMakerExecutionRole", instance_type="ml.m5.large", instance_count=1,
                sagemaker_session=session).fit(job_name=f"{experiment}-job")
    with load_run(experiment_name=experiment, run_name="first", sagemaker_session=session) as run:
        run.log_metric("later", 1.0)
    frame = ExperimentAnalytics(experiment_name=experiment, sagemaker_session=session).dataframe()
    print("result: " + json.dumps({"started": started, "rows": frame.to_dict("records")}, default=str))
"""


def run_as_user(folder: Path, url: str, experiment: str) -> dict[str, Any]:
    """Run the user's code beside code/train.py; answer what it printed last."""
    (folder / "code").mkdir()
    (folder / "code" / "train.py").write_text(textwrap.dedent(TRAIN))
    # As AWS's examples of runs in jobs do: the framework images lack the SDK, its toolkit installs it
    (folder / "code" / "requirements.txt").write_text(f"sagemaker=={version('sagemaker')}\n")
    (folder / "user.py").write_text(textwrap.dedent(USER))
    done = subprocess.run([sys.executable, "user.py", experiment], cwd=folder, capture_output=True, text=True,
                          env=user_shell(url, folder) | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"}, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    result: dict[str, Any] = json.loads(done.stdout[done.stdout.rindex("result: ") + 8:].splitlines()[0])
    return result


def assert_served(url: str, started: str) -> None:
    """Every call since `started` answered, but the creates the SDK makes to load what exists already (its
    load_run creates the experiment, its run group and the run, and loads each one it is told exists)."""
    failed = [event for event in audit_events(url, failed="true", since=started)
              if not (event["Operation"] in ("CreateExperiment", "CreateTrial", "CreateTrialComponent")
                      and "already exists" in event["ErrorMessage"])]
    assert failed == [], [(event["Operation"], event["Outcome"], event["ErrorMessage"]) for event in failed]


def test_the_sdks_run_and_a_training_job_in_it_log_what_experiment_analytics_reads(
        server: ServerProcess, tmp_path: Path, unique: str) -> None:
    warm("sklearn", "1.2-1")
    result = run_as_user(tmp_path, server.url, unique)
    rows = {row["TrialComponentName"]: row for row in result["rows"]}
    run, job = rows[f"{unique}-first"], rows[f"{unique}-job-aws-training-job"]
    assert (run["lr"], run["kind"], run["depth"]) == (0.1, "tree", 3.0)
    assert (run["loss - Min"], run["loss - Max"], run["loss - Last"], run["loss - Count"]) == (0.4, 0.9, 0.4, 3)
    assert run["later - Last"] == 1.0
    assert (run["data - Value"], run["data - MediaType"]) == ("s3://somewhere/data.csv", "text/csv")
    assert run["notes - Value"].startswith("s3://") and run["notes - MediaType"] == "text/plain"
    assert run["Experiments"] == [unique] and run["Trials"] == [f"Default-Run-Group-{unique}"]
    assert (run["from-job"], run["job-accuracy - Last"], run["job-accuracy - Count"]) == (1.0, 0.7, 3)
    assert job["SourceArn"].endswith(f":training-job/{unique}-job")
    assert job["SageMaker.InstanceType"] == "ml.m5.large"
    assert_served(server.url, result["started"])
