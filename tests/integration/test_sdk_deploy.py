"""modelbay.sdk's deploy, Predictor, serializers and Transformer against a real server: train, serve, call, steer,
delete, and run batch transforms."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from modelbay.sdk import (
    EndpointFailed,
    Estimator,
    JSONSerializer,
    Model,
    NumpyDeserializer,
    NumpySerializer,
    Predictor,
    ProductionVariant,
    Session,
    TransformJobFailed,
    deploy_variants,
)

# y = x0 + 2·x1 exactly, so a linear regression learns it; serving answers ten times the prediction, so the
# tests see the entry point's own predict_fn serve (the training code doubles as the inference code).
TRAIN_SCRIPT = """
    import os
    import joblib, numpy as np
    from sklearn.linear_model import LinearRegression

    print("inference code loaded", flush=True)  # in a transform job's log

    def predict_fn(data, model):
        return model.predict(data) * 10

    if __name__ == "__main__":
        rows = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAINING"], "rows.csv"), delimiter=",")
        model = LinearRegression().fit(rows[:, 1:], rows[:, 0])
        joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""
# Another entry point for the same artifacts: a hundred times the prediction.
SERVE_SCRIPT = """
    def predict_fn(data, model):
        return model.predict(data) * 100
"""
ROWS = [[1, 2], [3, 4]]
EXPECTED = [5.0, 11.0]  # x0 + 2·x1 for each row


@pytest.fixture(scope="module")
def estimator(session: Session, tmp_path_factory: pytest.TempPathFactory) -> Estimator:
    """A trained scikit-learn model, shared by the module's tests."""
    scratch = tmp_path_factory.mktemp("train")
    (scratch / "train.py").write_text(textwrap.dedent(TRAIN_SCRIPT))
    (scratch / "rows.csv").write_text("".join(f"{a + 2 * b},{a},{b}\n" for a in range(5) for b in range(5)))
    data = session.upload_data(scratch / "rows.csv", key_prefix="deploy-tests")
    trained = Estimator(framework="sklearn", framework_version="1.2-1", entry_point=str(scratch / "train.py"),
                        session=session)
    trained.fit(data, logs=False)
    return trained


def scaled(factor: float) -> list[Any]:
    return [pytest.approx(value * factor) for value in EXPECTED]


def is_gone(call: Any, **params: Any) -> bool:
    try:
        call(**params)
    except ClientError as error:
        return error.response["Error"]["Code"] == "ValidationException"
    return False


def test_estimator_deploy_serves_the_training_code_and_answers_csv_json_and_numpy(
        estimator: Estimator, session: Session, unique: str) -> None:
    predictor = estimator.deploy(endpoint_name=unique)
    assert predictor.describe()["EndpointStatus"] == "InService"
    assert predictor.predict(ROWS) == scaled(10)  # CSV in, JSON out: the defaults
    assert predictor.last_variant == "AllTraffic"
    assert predictor.predict("1,2") == scaled(10)[:1]
    as_json = Predictor(unique, session, serializer=JSONSerializer())
    assert as_json.predict({"instances": ROWS}) == scaled(10)
    as_numpy = Predictor(unique, session, serializer=NumpySerializer(), deserializer=NumpyDeserializer())
    answer = as_numpy.predict(np.array(ROWS, dtype=float))
    assert isinstance(answer, np.ndarray) and answer.tolist() == scaled(10)

    [model] = {variant["ModelName"] for variant in session.sagemaker.describe_endpoint_config(
        EndpointConfigName=unique)["ProductionVariants"]}
    container = session.sagemaker.describe_model(ModelName=model)["PrimaryContainer"]
    ran = estimator.latest_training_job.describe()["HyperParameters"]
    assert container["Image"] == "modelbay/sklearn:1.2-1"
    assert container["ModelDataUrl"] == estimator.model_data
    assert container["Environment"] == {  # the job's own uploaded code, not a second upload
        "SAGEMAKER_PROGRAM": "train.py", "SAGEMAKER_SUBMIT_DIRECTORY": ran["sagemaker_submit_directory"].strip('"'),
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20", "SAGEMAKER_REGION": "us-east-1"}

    predictor.delete_endpoint()
    predictor.delete_model()
    session.sagemaker.get_waiter("endpoint_deleted").wait(  # its model server is given up to 10 s to stop
        EndpointName=unique, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    assert is_gone(session.sagemaker.describe_endpoint_config, EndpointConfigName=unique)
    assert is_gone(session.sagemaker.describe_model, ModelName=model)


def test_two_variants_split_traffic_until_the_weights_move_it_all_to_one(
        estimator: Estimator, session: Session, unique: str, scratch: Path) -> None:
    (scratch / "code").mkdir()
    (scratch / "code" / "serve.py").write_text(textwrap.dedent(SERVE_SCRIPT))
    model = Model(framework="sklearn", framework_version="1.2-1", model_data=estimator.model_data,
                  entry_point="serve.py", source_dir=str(scratch / "code"), session=session)
    predictor = deploy_variants(unique, [ProductionVariant(model, "a", weight=0.5),
                                         ProductionVariant(model, "b", weight=0.5)])
    try:
        assert predictor.predict(ROWS) == scaled(100)  # the uploaded entry point serves
        assert set(answering_variants(predictor, 40)) == {"a", "b"}  # all 40 from one: odds of 1 in 2^39

        predictor.update_weights({"a": 0.0, "b": 1.0})
        variants = {v["VariantName"]: v for v in predictor.describe()["ProductionVariants"]}
        assert (variants["a"]["CurrentWeight"], variants["b"]["CurrentWeight"]) == (0.0, 1.0)
        assert answering_variants(predictor, 20) == Counter({"b": 20})
        predictor.predict(ROWS, target_variant="a")
        assert predictor.last_variant == "a"  # a variant of weight 0 still answers when named
    finally:
        predictor.delete_endpoint()
        predictor.delete_model()


def answering_variants(predictor: Predictor, calls: int) -> Counter[str]:
    answered: Counter[str] = Counter()
    for _ in range(calls):
        predictor.predict(ROWS)
        answered[str(predictor.last_variant)] += 1
    return answered


def test_a_deploy_that_fails_raises_with_the_failure_reason(session: Session, unique: str) -> None:
    model = Model(framework="python", model_data=f"s3://{session.default_bucket()}/{unique}/model.tar.gz",
                  session=session)
    with pytest.raises(EndpointFailed) as failed:
        model.deploy(endpoint_name=unique)
    described = session.sagemaker.describe_endpoint(EndpointName=unique)
    assert described["EndpointStatus"] == "Failed"
    assert failed.value.reason == described["FailureReason"]
    assert "model.tar.gz" in failed.value.reason
    assert str(failed.value) == f"endpoint {unique} is not in service: {failed.value.reason}"
    Predictor(unique, session).delete_endpoint()


def test_a_transformer_runs_the_model_over_s3_lines(estimator: Estimator, session: Session, s3: Any, unique: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bucket = session.default_bucket()
    s3.put_object(Bucket=bucket, Key=f"{unique}/in/rows.csv", Body=b"1,2\n3,4\n")
    transformer = estimator.create_model().transformer(output_path=f"s3://{bucket}/{unique}/out", accept="text/csv",
                                                       assemble_with="Line")
    transformer.transform(f"s3://{bucket}/{unique}/in/", content_type="text/csv", split_type="Line", logs=True)
    assert transformer.describe()["TransformJobStatus"] == "Completed"
    written = s3.get_object(Bucket=bucket, Key=f"{unique}/out/rows.csv.out")["Body"].read().decode()
    assert [float(line) for line in written.split()] == scaled(10)
    assert "inference code loaded" in capsys.readouterr().out.splitlines()


def test_a_failed_transform_raises_with_its_reason(estimator: Estimator, session: Session, s3: Any,
                                                   unique: str) -> None:
    bucket = session.default_bucket()
    s3.put_object(Bucket=bucket, Key=f"{unique}/in/rows.txt", Body=b"not a model input")
    transformer = estimator.create_model().transformer(output_path=f"s3://{bucket}/{unique}/out")
    with pytest.raises(TransformJobFailed) as failed:
        transformer.transform(f"s3://{bucket}/{unique}/in/", content_type="application/x-unknown")
    job = transformer.describe()
    assert job["TransformJobStatus"] == "Failed"
    assert (failed.value.job_name, failed.value.reason) == (job["TransformJobName"], job["FailureReason"])
    assert "content type 'application/x-unknown' is not supported" in failed.value.reason
