"""Train, deploy, predict and batch-transform with the SageMaker Python SDK v2, unchanged, against modelbay.

Nothing here knows modelbay: run it after `eval "$(modelbay env)"` (or against AWS, with a role of yours).
The script in examples/code/sklearn trains a Ridge regression in script mode on the scikit-learn 1.2-1 image;
the model is deployed to a real-time endpoint, asked in CSV, JSON and NumPy, run over a file by batch
transform, and everything is deleted at the end.

    eval "$(modelbay env)" && python examples/sdk_sklearn.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import sagemaker
from sagemaker.deserializers import CSVDeserializer, JSONDeserializer, NumpyDeserializer
from sagemaker.predictor import Predictor
from sagemaker.serializers import CSVSerializer, JSONSerializer, NumpySerializer
from sagemaker.sklearn import SKLearn

CODE = Path(__file__).parent / "code" / "sklearn"
ROLE = "SageMakerExecutionRole"  # a role name: the SDK turns it into an ARN with IAM GetRole
INSTANCE_TYPE = "ml.m5.large"
PREFIX = "sdk-sklearn"


def dataset(rows: int = 200) -> np.ndarray:
    """y = 1a + 2b + 3c + noise, label first, as SageMaker's CSV convention has it."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(rows, 3))
    target = features @ np.array([1.0, 2.0, 3.0]) + rng.normal(scale=0.01, size=rows)
    return np.column_stack([target, features])


def upload(session: sagemaker.Session, name: str, rows: np.ndarray) -> str:
    """Write `rows` as CSV and upload it to the session's default bucket; return its S3 URI."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        np.savetxt(path, rows, delimiter=",", fmt="%.6f")
        return session.upload_data(str(path), key_prefix=f"{PREFIX}/{path.stem}")


def train(session: sagemaker.Session, train_uri: str) -> SKLearn:
    estimator = SKLearn(entry_point="train.py", source_dir=str(CODE), framework_version="1.2-1",
                        instance_type=INSTANCE_TYPE, instance_count=1, role=ROLE, sagemaker_session=session,
                        hyperparameters={"alpha": 0.1}, base_job_name=PREFIX)
    estimator.fit({"train": train_uri})  # streams the job's log, as on SageMaker
    return estimator


def deploy(estimator: SKLearn) -> Predictor:
    return estimator.deploy(initial_instance_count=1, instance_type=INSTANCE_TYPE,
                            serializer=CSVSerializer(), deserializer=CSVDeserializer())


def predict_every_way(predictor: Predictor, features: np.ndarray) -> dict[str, list[float]]:
    """The same rows asked in CSV, JSON and NumPy; each answer as a list of floats."""
    answers = {"csv": np.asarray(predictor.predict(features), dtype=float).ravel().tolist()}
    predictor.serializer, predictor.deserializer = JSONSerializer(), JSONDeserializer()
    answers["json"] = np.asarray(predictor.predict(features.tolist()), dtype=float).ravel().tolist()
    predictor.serializer, predictor.deserializer = NumpySerializer(), NumpyDeserializer()
    answers["numpy"] = np.asarray(predictor.predict(features), dtype=float).ravel().tolist()
    predictor.serializer, predictor.deserializer = CSVSerializer(), CSVDeserializer()
    return answers


def batch_transform(session: sagemaker.Session, estimator: SKLearn, features: np.ndarray) -> list[float]:
    """Predict a whole file with a transform job; return its predictions, one per line."""
    input_uri = upload(session, "batch.csv", features)
    transformer = estimator.transformer(instance_count=1, instance_type=INSTANCE_TYPE, strategy="MultiRecord",
                                        assemble_with="Line", accept="text/csv")
    transformer.transform(input_uri, content_type="text/csv", split_type="Line")
    transformer.wait()
    output = sagemaker.s3.S3Downloader.read_file(f"{transformer.output_path}/batch.csv.out",
                                                 sagemaker_session=session)
    return [float(value) for value in output.replace("\n", ",").split(",") if value.strip()]


def main() -> None:
    session = sagemaker.Session()
    rows = dataset()
    print("default bucket:", session.default_bucket())
    train_uri = upload(session, "train.csv", rows)
    print("uploaded:", train_uri)
    estimator = train(session, train_uri)
    print("model artifact:", estimator.model_data)
    predictor = deploy(estimator)
    try:
        print("endpoint:", predictor.endpoint_name)
        for way, answer in predict_every_way(predictor, rows[:3, 1:]).items():
            print(f"predicted ({way}):", np.round(answer, 2).tolist())
        print("expected:", np.round(rows[:3, 0], 2).tolist())
    finally:
        predictor.delete_model()  # first: it finds the model through the endpoint's config
        predictor.delete_endpoint()
    print("batch transform:", np.round(batch_transform(session, estimator, rows[:5, 1:]), 2).tolist())
    print("done")


if __name__ == "__main__":
    main()
