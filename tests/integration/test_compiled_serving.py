"""Compiled models served as SageMaker serves Neo's: the SageMaker Python SDK v2, unchanged, trains the built-in
XGBoost algorithm, compiles it for ml_c5 (Estimator.compile_model) and deploys the compiled model on an ml.c5
instance, where it answers as the uncompiled booster does; on ml.m5 it is refused, saying why. The same compiled
artifact through boto3: CreateModel with the job's InferenceImage, an endpoint, a batch transform.

One training job and one compilation job serve every test (the module's `compiled` fixture).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import client
from tests.helpers import ServerProcess, user_shell, wait_until

ROLE = "arn:aws:iam::000000000000:role/SageMakerExecutionRole"
WAITER = {"Delay": 1, "MaxAttempts": 600}  # the first compiled model served builds the Neo image's environment
TOLERANCE = 1e-5
# The user's script: train, compile for ml_c5, deploy on ml.c5 and ask, then try ml.m5. It prints `result: ` and JSON.
USER_SCRIPT = """
    import json, sys, tarfile, io
    import numpy as np, sagemaker, xgboost
    from botocore.exceptions import ClientError
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.predictor import Predictor
    from sagemaker.s3 import S3Downloader
    from sagemaker.serializers import CSVSerializer

    name = sys.argv[1]
    session = sagemaker.Session()
    waiter = {"Delay": 1, "MaxAttempts": 600}
    rng = np.random.default_rng(7)
    features = np.round(rng.uniform(-1, 1, size=(200, 4)), 6)
    labels = 2 * features[:, 0] - features[:, 1] + features[:, 2] * features[:, 3]
    np.savetxt("train.csv", np.column_stack([labels, features]), delimiter=",", fmt="%.6f")
    train = TrainingInput(session.upload_data("train.csv", key_prefix=f"{name}/train"), content_type="text/csv")
    image = sagemaker.image_uris.retrieve("xgboost", session.boto_region_name, "3.0-5")
    estimator = Estimator(image_uri=image, role="SageMakerExecutionRole", instance_type="ml.m5.large",
                          instance_count=1, sagemaker_session=session, base_job_name=name,
                          hyperparameters={"num_round": 30, "objective": "reg:squarederror", "max_depth": 4})
    estimator.fit({"train": train}, logs=False)

    # what the uncompiled booster predicts
    with tarfile.open(fileobj=io.BytesIO(S3Downloader.read_bytes(estimator.model_data, session))) as archive:
        raw = archive.extractfile("xgboost-model").read()
    booster = xgboost.Booster()
    booster.load_model(bytearray(raw))
    rows = features[:8]
    expected = booster.predict(xgboost.DMatrix(rows)).tolist()

    compiled = estimator.compile_model(
        target_instance_family="ml_c5", input_shape={"data": [1, 4]},
        output_path=f"s3://{session.default_bucket()}/{name}/compiled", framework="xgboost",
        framework_version="1.7", predictor_cls=Predictor)
    predictor = compiled.deploy(initial_instance_count=1, instance_type="ml.c5.large", endpoint_name=name,
                                wait=False)
    session.sagemaker_client.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=waiter)
    predictor.serializer, predictor.deserializer = CSVSerializer(), CSVDeserializer()
    predicted = [float(value) for row in predictor.predict(rows) for value in row]
    predictor.delete_endpoint()

    try:
        compiled.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=f"{name}-m5",
                        wait=False)
        refused = None
    except ClientError as error:
        refused = error.response["Error"]
    print("result:", json.dumps({
        "rows": rows.tolist(), "expected": expected, "predicted": predicted, "refused": refused,
        "model": compiled.name, "job": compiled._compilation_job_name, "bucket": session.default_bucket(),
        "image": compiled.image_uri, "artifact": compiled.model_data}))
"""


@pytest.fixture(scope="module")
def compiled(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the user's script printed: its rows, the uncompiled model's and the endpoint's predictions, ..."""
    home = tmp_path_factory.mktemp("user")
    (home / "user.py").write_text(textwrap.dedent(USER_SCRIPT))
    done = subprocess.run([sys.executable, "user.py", "compiled-serving"], cwd=home, capture_output=True, text=True,
                          timeout=1200, env=user_shell(server.url, home) | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    # the line may start with the SDK's progress marks ("!")
    printed: dict[str, Any] = json.loads(done.stdout.rsplit("result: ", 1)[1])
    return printed


@pytest.fixture(scope="module")
def runtime(server: ServerProcess) -> Any:
    return client(server.url, "sagemaker-runtime")


def close_to(expected: list[float]) -> Any:
    return pytest.approx(expected, abs=TOLERANCE)


def test_the_sdk_compiles_deploys_on_the_family_and_predicts_as_the_uncompiled_model(
        compiled: dict[str, Any], sagemaker: Any) -> None:
    assert compiled["predicted"] == close_to(compiled["expected"])
    job = sagemaker.describe_compilation_job(CompilationJobName=compiled["job"])
    assert job["CompilationJobStatus"] == "COMPLETED"
    assert (job["ModelArtifacts"]["S3ModelArtifacts"], job["InferenceImage"]) == (
        compiled["artifact"], compiled["image"])
    wait_until(lambda: not sagemaker.list_endpoints(NameContains="compiled-serving")["Endpoints"], timeout_s=60,
               what="the SDK's endpoint to be deleted")


def test_the_sdk_deploy_on_another_family_is_refused_with_the_reason(compiled: dict[str, Any]) -> None:
    refused = compiled["refused"]
    assert refused is not None and refused["Code"] == "ValidationException"
    assert (f"model {compiled['model']} was compiled for the ml.c5 instance family (TargetDevice ml_c5, "
            f"compilation job {compiled['job']}) and cannot run on ml.m5.large") in refused["Message"]


@pytest.fixture(scope="module")
def boto3_model(compiled: dict[str, Any], sagemaker: Any) -> Iterator[str]:
    """A model of the compiled artifact made as the Neo guide's Boto3 path makes it: the job's InferenceImage."""
    job = sagemaker.describe_compilation_job(CompilationJobName=compiled["job"])
    name = "compiled-boto3"
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": job["InferenceImage"], "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]})
    yield name
    sagemaker.delete_model(ModelName=name)


def test_boto3_an_endpoint_of_the_compiled_model_on_ml_c5(compiled: dict[str, Any], boto3_model: str,
                                                         sagemaker: Any, runtime: Any) -> None:
    with pytest.raises(ClientError, match="cannot run on ml.m5.xlarge"):
        sagemaker.create_endpoint_config(EndpointConfigName="compiled-m5", ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": boto3_model, "InstanceType": "ml.m5.xlarge",
             "InitialInstanceCount": 1}])
    sagemaker.create_endpoint_config(EndpointConfigName="compiled-c5", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": boto3_model, "InstanceType": "ml.c5.xlarge",
         "InitialInstanceCount": 1}])
    sagemaker.create_endpoint(EndpointName="compiled-boto3", EndpointConfigName="compiled-c5")
    try:
        sagemaker.get_waiter("endpoint_in_service").wait(EndpointName="compiled-boto3", WaiterConfig=WAITER)
        rows = compiled["rows"]
        csv = "".join(",".join(map(str, row)) + "\n" for row in rows)
        answer = runtime.invoke_endpoint(EndpointName="compiled-boto3", Body=csv, ContentType="text/csv",
                                         Accept="text/csv")
        assert answer["ContentType"] == "text/csv"
        values = [float(line) for line in answer["Body"].read().decode().splitlines()]
        assert values == close_to(compiled["expected"])
        answer = runtime.invoke_endpoint(EndpointName="compiled-boto3", Body=json.dumps({"instances": rows}),
                                         ContentType="application/json", Accept="application/json")
        assert json.loads(answer["Body"].read()) == close_to(compiled["expected"])
    finally:
        sagemaker.delete_endpoint(EndpointName="compiled-boto3")
        sagemaker.delete_endpoint_config(EndpointConfigName="compiled-c5")


def test_a_batch_transform_of_the_compiled_model(compiled: dict[str, Any], boto3_model: str, sagemaker: Any,
                                                 s3: Any) -> None:
    bucket = compiled["bucket"]
    s3.put_object(Bucket=bucket, Key="compiled-transform/in/rows.csv",
                  Body="".join(",".join(map(str, row)) + "\n" for row in compiled["rows"]).encode())
    job = {"ModelName": boto3_model, "BatchStrategy": "MultiRecord",
           "TransformInput": {"DataSource": {"S3DataSource": {
               "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/compiled-transform/in"}},
               "ContentType": "text/csv", "SplitType": "Line"},
           "TransformOutput": {"S3OutputPath": f"s3://{bucket}/compiled-transform/out", "AssembleWith": "Line",
                               "Accept": "text/csv"}}
    with pytest.raises(ClientError, match="TransformResources: model compiled-boto3 was compiled for the ml.c5"):
        sagemaker.create_transform_job(TransformJobName="compiled-m5", **job,
                                       TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    sagemaker.create_transform_job(TransformJobName="compiled-c5", **job,
                                   TransformResources={"InstanceType": "ml.c5.xlarge", "InstanceCount": 1})
    sagemaker.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="compiled-c5",
                                                                    WaiterConfig=WAITER)
    described = sagemaker.describe_transform_job(TransformJobName="compiled-c5")
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    output = s3.get_object(Bucket=bucket, Key="compiled-transform/out/rows.csv.out")["Body"].read().decode()
    assert [float(line) for line in output.splitlines()] == close_to(compiled["expected"])
