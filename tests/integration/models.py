"""Models the hosting tests serve: scikit-learn artifacts trained by script-mode jobs, bring-your-own images and
a plain-Python echo model."""

from __future__ import annotations

import io
import tarfile
import textwrap
from pathlib import Path
from typing import Any

from modelbay.sdk import Model, Session

SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
TRAINED = {"Delay": 1, "MaxAttempts": 300}
# A LogisticRegression of (x, y) that says whether x > y, trained on CLASSIFIER_ROWS.
CLASSIFIER = b"""
import glob, os, joblib, pandas as pd
from sklearn.linear_model import LogisticRegression
rows = pd.concat(pd.read_csv(p, header=None) for p in glob.glob(os.environ["SM_CHANNEL_TRAIN"] + "/*.csv"))
model = LogisticRegression().fit(rows.iloc[:, 1:], rows[0])
joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""
CLASSIFIER_ROWS = "\n".join(f"{int(x > y)},{x},{y}" for x in range(10) for y in range(10) if x != y)
# Answers each request with what it was sent, in capitals, and the content type it came as; fails on "boom",
# never answers "hang".
ECHO_SCRIPT = """
    import threading

    def model_fn(model_dir):
        return None

    def transform_fn(model, body, content_type, accept):
        text = body if isinstance(body, str) else body.decode()
        if "boom" in text:
            raise ValueError("boom")
        if "hang" in text:
            threading.Event().wait()
        return f"{content_type}:{text.upper()}", "text/plain"
"""


def tar_gz(name: str, data: bytes) -> bytes:
    """A gzipped tar of one file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def trained_artifact(sagemaker: Any, s3: Any, bucket: str, script: bytes, rows: str | None = None,
                     image: str = SKLEARN) -> str:
    """The model.tar.gz a script-mode training job running `script` (on `rows` as channel "train") makes in a new
    bucket named as the job."""
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=tar_gz("train.py", script))
    channels: dict[str, Any] = {}
    if rows is not None:
        s3.put_object(Bucket=bucket, Key="train/rows.csv", Body=rows.encode())
        channels["InputDataConfig"] = [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/train/"}}}]
    sagemaker.create_training_job(
        TrainingJobName=bucket, RoleArn=ROLE, AlgorithmSpecification={"TrainingImage": image,
                                                                      "TrainingInputMode": "File"},
        HyperParameters={"sagemaker_program": '"train.py"',
                         "sagemaker_submit_directory": f'"s3://{bucket}/code/sourcedir.tar.gz"'},
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/model"}, **channels,
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=bucket, WaiterConfig=TRAINED)
    job = sagemaker.describe_training_job(TrainingJobName=bucket)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    uri: str = job["ModelArtifacts"]["S3ModelArtifacts"]
    return uri


def create_model(sagemaker: Any, name: str, artifact: str, **environment: str) -> str:
    """A model serving the artifact on the scikit-learn image, one worker a server."""
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": SKLEARN, "ModelDataUrl": artifact, "Environment": {"SAGEMAKER_MODEL_SERVER_WORKERS": "1",
                                                                   **environment}})
    return name


def echo_model(session: Session, directory: Path) -> Model:
    """A plain-Python model running ECHO_SCRIPT, its code in `directory`."""
    (directory / "echo.py").write_text(textwrap.dedent(ECHO_SCRIPT))
    return Model(framework="python", entry_point=str(directory / "echo.py"), session=session)
