"""Batch transform through boto3 against a real server: a scikit-learn model over S3 prefixes and manifests,
single and multi-record batches, each DataProcessing option, an inference pipeline, a bad record, a stop.

The model is a LogisticRegression of (x, y) saying whether x > y, trained once by a script-mode training job.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import WaiterError

from tests.conftest import client
from tests.helpers import ServerProcess, serve_image, serve_program, wait_until
from tests.integration.models import CLASSIFIER, CLASSIFIER_ROWS, ROLE, create_model, tar_gz, trained_artifact

WAITER = {"Delay": 1, "MaxAttempts": 300}
# A bring-your-own pipeline step on CSV lines: "drop-id" drops each line's first field, "swap" swaps the
# two left; "hang" never answers.
STEP = serve_program(on_post="""
    lines = body.decode().strip().split("\\n")
    step = os.environ["STEP"]
    if step == "hang":
        threading.Event().wait()
    fields = [line.split(",")[1:] if step == "drop-id" else line.split(",")[::-1] for line in lines]
    self.answer("\\n".join(",".join(f) for f in fields).encode(), "text/csv")
""")
POINTS = [(x, y) for x in range(0, 10, 3) for y in range(1, 10, 4) if x != y]


@pytest.fixture(scope="module")
def model(sagemaker: Any, s3: Any) -> str:
    """A model of the trained classifier on the scikit-learn image, named as the bucket the tests use."""
    bucket = "transform-" + os.urandom(4).hex()
    return create_model(sagemaker, bucket, trained_artifact(sagemaker, s3, bucket, CLASSIFIER, CLASSIFIER_ROWS))


@pytest.fixture(scope="module")
def step(tmp_path_factory: pytest.TempPathFactory) -> str:
    return serve_image(tmp_path_factory.mktemp("step"), STEP)


def transform(sagemaker: Any, name: str, model: str, source: dict[str, Any], output: str, *,
              wait: bool = True, **request: Any) -> dict[str, Any]:
    """Run a transform job (to its end unless `wait` is False); return DescribeTransformJob."""
    transform_input = {"DataSource": {"S3DataSource": source}, "ContentType": "text/csv", "SplitType": "Line"}
    sagemaker.create_transform_job(
        TransformJobName=name, ModelName=model,
        TransformInput=transform_input | request.pop("TransformInput", {}),
        TransformOutput={"S3OutputPath": output, "AssembleWith": "Line", "Accept": "text/csv"}
        | request.pop("TransformOutput", {}),
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1}, **request)
    if wait:
        with contextlib.suppress(WaiterError):  # a failed job: the caller looks at its description
            sagemaker.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName=name,
                                                                            WaiterConfig=WAITER)
    job: dict[str, Any] = sagemaker.describe_transform_job(TransformJobName=name)
    return job


def prefix(bucket: str, path: str) -> dict[str, str]:
    return {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{path}"}


def put(s3: Any, bucket: str, key: str, lines: list[str]) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode())


def read(s3: Any, bucket: str, key: str) -> list[str]:
    lines: str = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return lines.splitlines()


def predictions(lines: list[str]) -> list[int]:
    return [int(float(line)) for line in lines]


EXPECTED = [int(x > y) for x, y in POINTS]


def test_split_by_line_multi_record(sagemaker: Any, s3: Any, model: str, unique: str) -> None:
    put(s3, model, f"{unique}/in/part-1.csv", [f"{x},{y}" for x, y in POINTS])
    put(s3, model, f"{unique}/in/nested/part-2.csv", ["9,0"])
    job = transform(sagemaker, unique, model, prefix(model, f"{unique}/in/"), f"s3://{model}/{unique}/out",
                    BatchStrategy="MultiRecord", MaxPayloadInMB=1)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformStartTime"] <= job["TransformEndTime"]
    assert predictions(read(s3, model, f"{unique}/out/part-1.csv.out")) == EXPECTED
    assert predictions(read(s3, model, f"{unique}/out/nested/part-2.csv.out")) == [1]
    head = s3.head_object(Bucket=model, Key=f"{unique}/out/part-1.csv.out")
    assert head["ContentType"] == "text/csv"
    logs = client(sagemaker.meta.endpoint_url, "logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TransformJobs", logStreamNamePrefix=f"{unique}/")
    assert len(streams["logStreams"]) == 1


def test_single_record_from_a_manifest(sagemaker: Any, s3: Any, model: str, unique: str) -> None:
    put(s3, model, f"{unique}/data/a.csv", ["9,1", "1,9"])
    put(s3, model, f"{unique}/data/b.csv", ["5,4"])
    put(s3, model, f"{unique}/data/ignored.csv", ["not,listed"])
    manifest = [{"prefix": f"s3://{model}/{unique}/data/"}, "a.csv", "b.csv"]
    s3.put_object(Bucket=model, Key=f"{unique}/input.manifest", Body=json.dumps(manifest).encode())
    job = transform(sagemaker, unique, model, {"S3DataType": "ManifestFile",
                                               "S3Uri": f"s3://{model}/{unique}/input.manifest"},
                    f"s3://{model}/{unique}/out", BatchStrategy="SingleRecord", MaxConcurrentTransforms=2)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert predictions(read(s3, model, f"{unique}/out/a.csv.out")) == [1, 0]
    assert predictions(read(s3, model, f"{unique}/out/b.csv.out")) == [1]
    listed = s3.list_objects_v2(Bucket=model, Prefix=f"{unique}/out/")["Contents"]
    assert sorted(o["Key"] for o in listed) == [f"{unique}/out/a.csv.out", f"{unique}/out/b.csv.out"]


def test_csv_ids_filtered_out_then_joined_back(sagemaker: Any, s3: Any, model: str, unique: str) -> None:
    put(s3, model, f"{unique}/in/rows.csv", [f"id{n},{x},{y}" for n, (x, y) in enumerate(POINTS)])
    job = transform(sagemaker, unique, model, prefix(model, f"{unique}/in/"), f"s3://{model}/{unique}/out",
                    BatchStrategy="MultiRecord",
                    DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"})
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["DataProcessing"] == {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
    rows = [line.split(",") for line in read(s3, model, f"{unique}/out/rows.csv.out")]
    assert [row[0] for row in rows] == [f"id{n}" for n in range(len(POINTS))]
    assert predictions([row[1] for row in rows]) == EXPECTED


def test_join_source_input_alone_appends_the_prediction(sagemaker: Any, s3: Any, model: str, unique: str) -> None:
    put(s3, model, f"{unique}/in/rows.csv", ["9,2", "2,9"])
    job = transform(sagemaker, unique, model, prefix(model, f"{unique}/in/"), f"s3://{model}/{unique}/out",
                    DataProcessing={"JoinSource": "Input"})
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    rows = [line.split(",") for line in read(s3, model, f"{unique}/out/rows.csv.out")]
    assert [row[:2] for row in rows] == [["9", "2"], ["2", "9"]]
    assert predictions([row[2] for row in rows]) == [1, 0]


def test_json_records_keep_their_id_beside_sagemaker_output(sagemaker: Any, s3: Any, model: str,
                                                            unique: str) -> None:
    put(s3, model, f"{unique}/in/rows.json", [json.dumps({"id": "a", "features": [[8, 1]]}),
                                              json.dumps({"id": "b", "features": [[1, 8]]})])
    job = transform(sagemaker, unique, model, prefix(model, f"{unique}/in/"), f"s3://{model}/{unique}/out",
                    BatchStrategy="SingleRecord", TransformInput={"ContentType": "application/json"},
                    TransformOutput={"Accept": "application/json"},
                    DataProcessing={"InputFilter": "$.features", "JoinSource": "Input",
                                    "OutputFilter": "$['id','SageMakerOutput']"})
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    lines = read(s3, model, f"{unique}/out/rows.json.out")
    assert [json.loads(line) for line in lines] == [{"id": "a", "SageMakerOutput": [1]},
                                                    {"id": "b", "SageMakerOutput": [0]}]
    assert s3.head_object(Bucket=model, Key=f"{unique}/out/rows.json.out")["ContentType"] == "application/json"


def test_a_three_container_pipeline(sagemaker: Any, s3: Any, model: str, step: str, unique: str) -> None:
    artifact = sagemaker.describe_model(ModelName=model)["PrimaryContainer"]
    sagemaker.create_model(ModelName=unique, ExecutionRoleArn=ROLE, Containers=[
        {"Image": step, "Environment": {"STEP": "drop-id"}}, {"Image": step, "Environment": {"STEP": "swap"}},
        artifact])
    put(s3, model, f"{unique}/in/rows.csv", ["r1,9,1", "r2,1,9"])
    job = transform(sagemaker, unique, unique, prefix(model, f"{unique}/in/"), f"s3://{model}/{unique}/out",
                    BatchStrategy="MultiRecord")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert predictions(read(s3, model, f"{unique}/out/rows.csv.out")) == [0, 1]  # swapped before the model


def test_a_bad_record_fails_the_job_naming_object_and_line(sagemaker: Any, s3: Any, model: str,
                                                           unique: str) -> None:
    put(s3, model, f"{unique}/in/rows.csv", ["9,1", "1,9", "nine,one"])
    job = transform(sagemaker, unique, model, prefix(model, f"{unique}/in/"), f"s3://{model}/{unique}/out",
                    BatchStrategy="SingleRecord")
    assert job["TransformJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith(f"ClientError: s3://{model}/{unique}/in/rows.csv, line 3: Bad HTTP status received "
                             "from algorithm: "), reason
    assert "Model message: " in reason and "bytes/strings" in reason  # scikit-learn's own words


def test_a_failure_on_a_replaced_version_says_so_first_and_ends_with_the_servers_last_error(
        sagemaker: Any, s3: Any, model: str, unique: str) -> None:
    s3.put_object(Bucket=model, Key=f"{unique}/model.tar.gz", Body=tar_gz("notes.txt", b"no model.joblib here"))
    sagemaker.create_model(ModelName=unique, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": "modelbay/sklearn:1.0-1", "ModelDataUrl": f"s3://{model}/{unique}/model.tar.gz",
        "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}})
    put(s3, model, f"{unique}/in/rows.csv", ["9,1"])
    job = transform(sagemaker, unique, unique, prefix(model, f"{unique}/in/"), f"s3://{model}/{unique}/out")
    reason = job["FailureReason"]
    assert job["TransformJobStatus"] == "Failed"
    assert reason.startswith("sklearn 1.0-1 is not available for this Python (versions here: 1.2-1, 1.4-2); "
                             "using 1.2-1 instead. ClientError: the model server "), reason
    assert reason.endswith("or define model_fn in your entry point"), reason


def test_stop_transform_job(sagemaker: Any, s3: Any, model: str, step: str, unique: str,
                            server: ServerProcess) -> None:
    sagemaker.create_model(ModelName=unique, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": step, "Environment": {"STEP": "hang"}})
    put(s3, model, f"{unique}/in/rows.csv", ["1,2"])
    transform(sagemaker, unique, unique, prefix(model, f"{unique}/in/"), f"s3://{model}/{unique}/out", wait=False)
    wait_until(lambda: "TransformStartTime" in sagemaker.describe_transform_job(TransformJobName=unique), 60,
               "the hosts to start")
    sagemaker.stop_transform_job(TransformJobName=unique)
    assert sagemaker.describe_transform_job(TransformJobName=unique)["TransformJobStatus"] in ("Stopping", "Stopped")
    sagemaker.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName=unique, WaiterConfig=WAITER)
    job = sagemaker.describe_transform_job(TransformJobName=unique)
    assert job["TransformJobStatus"] == "Stopped"
    assert "Contents" not in s3.list_objects_v2(Bucket=model, Prefix=f"{unique}/out/")
    runtime_state = Path(server.data_dir) / "runtime"
    assert not any(unique in record.read_text() for record in runtime_state.glob("*.json"))
