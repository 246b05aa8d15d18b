"""modelbay.sdk Session and Estimator against a real server, as a notebook would use them."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

from modelbay.sdk import Estimator, Session, TrainingJobFailed
from tests.helpers import ServerProcess, wait_until
from tests.integration.test_training_jobs import program

DEFAULT_BUCKET = "sagemaker-us-east-1-000000000000"
TRANSITION = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (\w+) - .+")


def model_files(s3: Any, uri: str) -> dict[str, bytes]:
    """The members of the model.tar.gz at `uri`, by name."""
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as archive:
        files = [member for member in archive.getmembers() if member.isfile()]
        return {member.name: archive.extractfile(member).read() for member in files}  # type: ignore[union-attr]


def test_default_bucket_is_created_once_and_upload_data_keeps_paths(session: Session, server: ServerProcess, s3: Any,
                                                                    unique: str, scratch: Path) -> None:
    assert session.default_bucket() == DEFAULT_BUCKET
    assert Session(url=server.url).default_bucket() == DEFAULT_BUCKET  # the bucket exists already: no error
    s3.head_bucket(Bucket=DEFAULT_BUCKET)
    (scratch / "data" / "nested").mkdir(parents=True)
    (scratch / "data" / "rows.csv").write_text("1,2\n")
    (scratch / "data" / "nested" / "more.csv").write_text("3,4\n")
    one_file = session.upload_data(scratch / "data" / "rows.csv", key_prefix=unique)
    assert one_file == f"s3://{DEFAULT_BUCKET}/{unique}/rows.csv"  # the file's own URI, not its prefix
    directory = session.upload_data(str(scratch / "data"), key_prefix=f"{unique}/dir")
    assert directory == f"s3://{DEFAULT_BUCKET}/{unique}/dir"
    listed = s3.list_objects_v2(Bucket=DEFAULT_BUCKET, Prefix=unique)["Contents"]
    assert sorted(o["Key"] for o in listed) == [f"{unique}/dir/nested/more.csv", f"{unique}/dir/rows.csv",
                                                f"{unique}/rows.csv"]
    s3.create_bucket(Bucket=unique)
    assert session.upload_data(scratch / "data" / "rows.csv", bucket=unique) == f"s3://{unique}/data/rows.csv"
    assert s3.get_object(Bucket=unique, Key="data/rows.csv")["Body"].read() == b"1,2\n"


def test_fit_prints_progress_and_the_program_lines_then_gives_model_data(
        session: Session, s3: Any, bucket: str, unique: str, scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = program(scratch / "image", "echo start\ncat /opt/ml/input/data/training/rows.csv\n"
                    "cat /opt/ml/input/config/hyperparameters.json; echo\n"
                    "echo trained > /opt/ml/model/model.txt\necho loss=0.25\n")
    estimator = Estimator(image, hyperparameters={"epochs": 3}, base_job_name=unique, session=session,
                          metric_definitions=[{"Name": "loss", "Regex": "loss=([0-9.]+)"}])
    estimator.fit(f"s3://{bucket}/data/")
    name = estimator.latest_training_job.name
    out = [match[1] if (match := TRANSITION.fullmatch(line)) else line for line in capsys.readouterr().out.splitlines()]
    assert out[0] == "Starting"
    assert out[out.index("Training"):] == ["Training", "start", "1,2", '{"epochs": "3"}', "loss=0.25", "Uploading",
                                           "Completed"]
    job = estimator.latest_training_job.describe()
    assert (job["TrainingJobStatus"], [m["Value"] for m in job["FinalMetricDataList"]]) == ("Completed", [0.25])
    assert estimator.model_data == f"s3://{DEFAULT_BUCKET}/{name}/output/model.tar.gz"
    assert model_files(s3, estimator.model_data) == {"model.txt": b"trained\n"}


def test_a_failed_job_raises_with_its_reason(session: Session, bucket: str, unique: str, scratch: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    image = program(scratch / "image", "echo reading\necho 'no rows' > /opt/ml/output/failure\nexit 1\n")
    estimator = Estimator(image, base_job_name=unique, session=session)
    with pytest.raises(TrainingJobFailed) as failed:
        estimator.fit({"train": f"s3://{bucket}/data/"})
    assert (failed.value.job_name, failed.value.reason) == (estimator.latest_training_job.name,
                                                            "AlgorithmError: no rows, exit code: 1")
    assert str(failed.value) == f"training job {failed.value.job_name} failed: AlgorithmError: no rows, exit code: 1"
    out = capsys.readouterr().out
    assert "reading\n" in out and " Failed - " in out
    with pytest.raises(RuntimeError, match="is Failed: it has no model artifacts"):
        _ = estimator.model_data


def test_two_instances_prefix_each_line_with_its_host(session: Session, bucket: str, unique: str, scratch: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    image = program(scratch / "image", "sed 's/.*\"current_host\": \"\\([^\"]*\\)\".*/I am \\1/' "
                    "/opt/ml/input/config/resourceconfig.json; echo\necho done\n")
    Estimator(image, instance_count=2, base_job_name=unique, session=session).fit(f"s3://{bucket}/data/")
    lines = [line for line in capsys.readouterr().out.splitlines() if not TRANSITION.fullmatch(line)]
    assert sorted(lines) == ["[algo-1] I am algo-1", "[algo-1] done", "[algo-2] I am algo-2", "[algo-2] done"]


def logged(session: Session, job_name: str) -> str:
    """What the training job's hosts have logged so far."""
    events = session.logs.filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                            logStreamNamePrefix=f"{job_name}/")["events"]
    return "".join(event["message"] for event in events)


def test_a_stopped_job_does_not_raise_and_logs_follows_it(session: Session, bucket: str, unique: str,
                                                          scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = program(scratch / "image", "echo waiting\necho partial > /opt/ml/model/model.txt\nsleep 60\n")
    estimator = Estimator(image, base_job_name=unique, session=session)
    estimator.fit(f"s3://{bucket}/data/", wait=False)
    job = estimator.latest_training_job
    wait_until(lambda: job.describe()["SecondaryStatus"] == "Training", 30, "the job to train")
    # a stop as soon as the job trains may end the program before its first line: the controller acts on it at once
    wait_until(lambda: "waiting" in logged(session, job.name), 30, "the program to log its first line")
    session.sagemaker.stop_training_job(TrainingJobName=job.name)
    estimator.logs()
    out = capsys.readouterr().out
    assert "waiting\n" in out and " Stopped - " in out
    assert job.describe()["TrainingJobStatus"] == "Stopped"
    assert estimator.model_data.endswith(f"/{job.name}/output/model.tar.gz")


def test_script_mode_runs_a_python_entry_point_with_its_hyperparameters(
        session: Session, s3: Any, unique: str, scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (scratch / "code").mkdir()
    (scratch / "code" / "train.py").write_text(
        "import argparse, os\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('--epochs', type=int)\n"
        "parser.add_argument('--greeting')\n"
        "args = parser.parse_args()\n"
        "rows = open(os.path.join(os.environ['SM_CHANNEL_TRAINING'], 'rows.csv')).read().strip()\n"
        "print(f\"epochs={args.epochs} greeting={args.greeting} hp={os.environ['SM_HP_EPOCHS']} rows={rows}\")\n"
        "with open(os.path.join(os.environ['SM_MODEL_DIR'], 'model.txt'), 'w') as f:\n"
        "    f.write(str(args.epochs * 2))\n")
    (scratch / "rows.csv").write_text("1,2\n")
    data = session.upload_data(scratch / "rows.csv", key_prefix=f"{unique}/data")
    estimator = Estimator(framework="python", entry_point="train.py", source_dir=str(scratch / "code"),
                          hyperparameters={"epochs": 3, "greeting": "hi"}, base_job_name=unique, session=session)
    estimator.fit(data)
    assert "epochs=3 greeting=hi hp=3 rows=1,2" in capsys.readouterr().out.splitlines()
    assert model_files(s3, estimator.model_data) == {"model.txt": b"6"}
