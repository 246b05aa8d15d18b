"""Compilation jobs (SageMaker Neo) through boto3 against a real server: a scikit-learn random forest and an XGBoost
booster, trained here and saved as SageMaker's containers save them, compiled for ml_c5 by the real compiler
(container/neo): the artifact where SageMaker puts it, its digest, the same-answers check in the job's tag, the
compiled forest served on an endpoint with the original's answers; a PyTorch
model compiled through ONNX and served on an endpoint; a target refused with the reason; a model that cannot be read;
Stop and Delete; the CLI."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import joblib
import numpy
import pytest
import xgboost
from botocore.exceptions import ClientError
from sklearn.ensemble import RandomForestClassifier

from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.frameworks import compiler_recipe
from tests.conftest import client
from tests.helpers import SHARED_ENVIRONMENTS, ServerProcess, wait_until
from tests.integration.models import ROLE

ENDED = ("COMPLETED", "FAILED", "STOPPED")
# the first compilation of a framework builds its compiler's environment
COMPILE_TIMEOUT_S = 900
# Run by real torch (the PyTorch compiler's environment; the dev venv has none): a small MLP traced and saved as
# TorchScript `model.pth`, as SageMaker Neo expects a PyTorch model, and its answers on the rows it printed.
TORCH_SCRIPT = """
    import json, sys
    import torch
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).eval()
    torch.jit.save(torch.jit.trace(mlp, torch.zeros(1, 8)), sys.argv[1])
    rows = torch.randn(5, 8)
    with torch.no_grad():
        print(json.dumps({"rows": rows.tolist(), "expected": mlp(rows).tolist()}))
"""


def _archive(files: dict[str, bytes]) -> bytes:
    """model.tar.gz as SageMaker's containers leave it: the model's files at the top."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _data() -> tuple[numpy.ndarray, numpy.ndarray]:
    rng = numpy.random.default_rng(3)
    features = rng.uniform(-1, 1, size=(300, 4)).astype(numpy.float32)
    return features, (features[:, 0] + features[:, 1] * features[:, 2] > 0).astype(int)


def _forest() -> RandomForestClassifier:
    features, labels = _data()
    return RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0).fit(features, labels)


def _sklearn_model(forest: RandomForestClassifier, scratch: Path) -> bytes:
    """A random forest saved by joblib as model.joblib, as the scikit-learn container's scripts save it."""
    joblib.dump(forest, scratch / "model.joblib")
    return _archive({"model.joblib": (scratch / "model.joblib").read_bytes()})


def _xgboost_model() -> bytes:
    """A booster saved as `xgboost-model`, as the XGBoost algorithm container saves it."""
    features, labels = _data()
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 3}, xgboost.DMatrix(features, labels),
                            num_boost_round=10)
    return _archive({"xgboost-model": bytes(booster.save_raw(raw_format="ubj"))})


def create(sagemaker: Any, name: str, model_uri: str, framework: str, output: str, **target: Any) -> None:
    sagemaker.create_compilation_job(
        CompilationJobName=name, RoleArn=ROLE, InputConfig={"S3Uri": model_uri, "Framework": framework},
        OutputConfig={"S3OutputLocation": output, **(target or {"TargetDevice": "ml_c5"})},
        StoppingCondition={"MaxRuntimeInSeconds": COMPILE_TIMEOUT_S})


def wait_for_end(sagemaker: Any, name: str, timeout_s: float = COMPILE_TIMEOUT_S) -> dict[str, Any]:
    wait_until(lambda: status(sagemaker, name) in ENDED, timeout_s=timeout_s, what=f"{name} to end", every_s=0.5)
    described: dict[str, Any] = sagemaker.describe_compilation_job(CompilationJobName=name)
    return described


def status(sagemaker: Any, name: str) -> str:
    return str(sagemaker.describe_compilation_job(CompilationJobName=name)["CompilationJobStatus"])


def test_sklearn_and_xgboost_models_compile_for_ml_c5_and_pass_their_check(
        sagemaker: Any, s3: Any, bucket: str, unique: str, server: ServerProcess, tmp_path: Path) -> None:
    forest = _forest()
    models = {"SKLEARN": _sklearn_model(forest, tmp_path), "XGBOOST": _xgboost_model()}
    for framework, archive in models.items():
        s3.put_object(Bucket=bucket, Key=f"{framework}/model.tar.gz", Body=archive)
        create(sagemaker, f"{unique}-{framework.lower()}", f"s3://{bucket}/{framework}/model.tar.gz", framework,
               f"s3://{bucket}/{framework}/compiled")
    for framework in models:
        name = f"{unique}-{framework.lower()}"
        job = wait_for_end(sagemaker, name)
        assert (job["CompilationJobStatus"], job["FailureReason"]) == ("COMPLETED", ""), job["FailureReason"]
        key = f"{framework}/compiled/model-ml_c5.tar.gz"
        assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{bucket}/{key}"
        stored = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert job["ModelDigests"]["ArtifactDigest"] == hashlib.sha256(stored).hexdigest()
        with tarfile.open(fileobj=io.BytesIO(stored)) as archive:
            manifest = json.load(archive.extractfile("neo-manifest.json"))  # type: ignore[arg-type]  # a file
        assert manifest["target"]["Name"] == "ml_c5" and manifest["verification"]["passed"] is True
        assert job["InferenceImage"].endswith(".amazonaws.com/" + {
            "SKLEARN": "sagemaker-inference-sklearn:latest", "XGBOOST": "xgboost-neo:latest"}[framework])
        assert job["CompilationStartTime"] <= job["CompilationEndTime"]
        tags = {tag["Key"]: tag["Value"] for tag in sagemaker.list_tags(ResourceArn=job["CompilationJobArn"])["Tags"]}
        check = json.loads(tags["modelbay:verification"])
        assert check["passed"] is True and check["samples"] > 0 and check["max_abs_diff"] <= check["tolerance"]
    rows = _data()[0][:20]  # the compiled forest on an endpoint answers with the original's labels
    served = _served_answer(sagemaker, server, f"{unique}-forest", wait_for_end(sagemaker, f"{unique}-sklearn"),
                            rows.tolist())
    assert served == forest.predict(rows).tolist()
    cli = [sys.executable, "-m", "modelbay", "compilation-jobs"]
    described = subprocess.run([*cli, "describe", f"{unique}-xgboost", "--url", server.url], capture_output=True,
                               text=True, check=True).stdout
    assert "COMPLETED" in described and "passed on" in described
    listed = subprocess.run([*cli, "list", "--url", server.url, "--name-contains", unique, "--json"],
                            capture_output=True, text=True, check=True).stdout
    assert sorted(s["CompilationJobName"] for s in json.loads(listed)) == [f"{unique}-sklearn", f"{unique}-xgboost"]


def _torch_model(scratch: Path) -> dict[str, Any]:
    """model.pth made by real torch, and the original's answers: {"rows", "expected"}."""
    environment = FrameworkEnvironments(SHARED_ENVIRONMENTS).ensure(compiler_recipe("PYTORCH", None).recipe)
    (scratch / "make_model.py").write_text(textwrap.dedent(TORCH_SCRIPT))
    done = subprocess.run([str(environment / "bin" / "python"), "make_model.py", "model.pth"], cwd=scratch,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    made: dict[str, Any] = json.loads(done.stdout)
    return made


def test_a_pytorch_model_compiled_through_onnx_answers_on_an_endpoint_as_the_original(
        sagemaker: Any, s3: Any, bucket: str, unique: str, server: ServerProcess, tmp_path: Path) -> None:
    made = _torch_model(tmp_path)
    s3.put_object(Bucket=bucket, Key="torch/model.tar.gz",
                  Body=_archive({"model.pth": (tmp_path / "model.pth").read_bytes()}))
    sagemaker.create_compilation_job(
        CompilationJobName=unique, RoleArn=ROLE, StoppingCondition={"MaxRuntimeInSeconds": COMPILE_TIMEOUT_S},
        InputConfig={"S3Uri": f"s3://{bucket}/torch/model.tar.gz", "Framework": "PYTORCH",
                     "DataInputConfig": '{"input0": [1, 8]}'},
        OutputConfig={"S3OutputLocation": f"s3://{bucket}/torch/compiled", "TargetDevice": "ml_c5"})
    job = wait_for_end(sagemaker, unique)
    assert (job["CompilationJobStatus"], job["FailureReason"]) == ("COMPLETED", ""), job["FailureReason"]
    assert job["InferenceImage"].endswith(".amazonaws.com/sagemaker-inference-pytorch:2.0-cpu-py3")
    stored = s3.get_object(Bucket=bucket, Key="torch/compiled/model-ml_c5.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(stored)) as archive:
        manifest = json.load(archive.extractfile("neo-manifest.json"))  # type: ignore[arg-type]  # a file
    assert (manifest["runtime"], manifest["input"]["shape"]) == ("onnxruntime", [None, 8])
    assert manifest["verification"]["passed"] is True

    answer = _served_answer(sagemaker, server, unique, job, made["rows"])
    assert answer == [pytest.approx(row, abs=1e-5) for row in made["expected"]]


def _served_answer(sagemaker: Any, server: ServerProcess, name: str, job: dict[str, Any],
                   rows: list[list[float]]) -> Any:
    """The compiled model of `job` served on an ml.c5.large endpoint with its InferenceImage: its JSON answer to
    `rows`; the endpoint is deleted after."""
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": job["InferenceImage"], "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.c5.large", "InitialInstanceCount": 1}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name,
                                                         WaiterConfig={"Delay": 1, "MaxAttempts": 600})
        answer = client(server.url, "sagemaker-runtime").invoke_endpoint(
            EndpointName=name, Body=json.dumps(rows), ContentType="application/json", Accept="application/json")
        return json.loads(answer["Body"].read())
    finally:
        sagemaker.delete_endpoint(EndpointName=name)
        sagemaker.delete_endpoint_config(EndpointConfigName=name)


@pytest.mark.parametrize(("target", "reason"), [
    ({"TargetDevice": "ml_inf1"}, "cannot compile for ml_inf1: AWS Inferentia and Trainium need the AWS Neuron"),
    ({"TargetPlatform": {"Os": "LINUX", "Arch": "X86_64", "Accelerator": "NVIDIA"}},
     "cannot compile for LINUX_X86_64_NVIDIA: NVIDIA GPUs need CUDA/TensorRT code"),
])
def test_a_target_this_machine_cannot_build_for_is_refused_with_the_reason(sagemaker: Any, bucket: str, unique: str,
                                                                           target: dict[str, Any],
                                                                           reason: str) -> None:
    with pytest.raises(ClientError) as refused:
        create(sagemaker, unique, f"s3://{bucket}/m/model.tar.gz", "XGBOOST", f"s3://{bucket}/out", **target)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert reason in refused.value.response["Error"]["Message"]


def test_a_model_that_cannot_be_read_fails_the_job(sagemaker: Any, bucket: str, unique: str) -> None:
    create(sagemaker, unique, f"s3://{bucket}/nothing/model.tar.gz", "SKLEARN", f"s3://{bucket}/out")
    job = wait_for_end(sagemaker, unique, timeout_s=60)
    assert job["CompilationJobStatus"] == "FAILED"
    assert job["FailureReason"].startswith(
        f"ClientError: Unable to download the model from InputConfig.S3Uri s3://{bucket}/nothing/model.tar.gz")


def test_stop_and_delete(sagemaker: Any, s3: Any, bucket: str, unique: str, tmp_path: Path) -> None:
    s3.put_object(Bucket=bucket, Key="m/model.tar.gz", Body=_sklearn_model(_forest(), tmp_path))
    create(sagemaker, unique, f"s3://{bucket}/m/model.tar.gz", "SKLEARN", f"s3://{bucket}/out")
    with pytest.raises(ClientError, match="only a COMPLETED, FAILED or STOPPED job can be deleted"):
        sagemaker.delete_compilation_job(CompilationJobName=unique)
    sagemaker.stop_compilation_job(CompilationJobName=unique)
    assert status(sagemaker, unique) in ("STOPPING", "STOPPED")
    assert wait_for_end(sagemaker, unique, timeout_s=120)["CompilationJobStatus"] == "STOPPED"
    with pytest.raises(ClientError, match="compilation job is in status STOPPED"):
        sagemaker.stop_compilation_job(CompilationJobName=unique)
    sagemaker.delete_compilation_job(CompilationJobName=unique)
    with pytest.raises(ClientError) as gone:
        sagemaker.describe_compilation_job(CompilationJobName=unique)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFound"
