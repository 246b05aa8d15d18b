"""XGBoost with the SageMaker Python SDK v2, unchanged, against modelbay: script mode and the built-in algorithm.

Nothing here knows modelbay: run it after `eval "$(modelbay env)"`.
1. `sagemaker.xgboost.XGBoost` runs examples/code/xgboost/train.py in script mode and deploys it;
2. the generic `sagemaker.estimator.Estimator(image_uri=...)` trains SageMaker's built-in XGBoost algorithm
   from hyperparameters alone, and `sagemaker.model.Model(...).deploy()` serves its artifact.
Each endpoint answers CSV rows and is deleted at the end.

    eval "$(modelbay env)" && python examples/sdk_xgboost.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import sagemaker
from sagemaker.deserializers import CSVDeserializer
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.model import Model
from sagemaker.predictor import Predictor
from sagemaker.serializers import CSVSerializer
from sagemaker.xgboost import XGBoost

CODE = Path(__file__).parent / "code" / "xgboost"
ROLE = "SageMakerExecutionRole"
INSTANCE_TYPE = "ml.m5.large"
VERSION = "3.0-5"
PREFIX = "sdk-xgboost"


def upload(session: sagemaker.Session, name: str, rows: np.ndarray) -> TrainingInput:
    """Upload `rows` as a CSV channel (label first), as SageMaker's XGBoost reads it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.csv"
        np.savetxt(path, rows, delimiter=",", fmt="%.6f")
        uri = session.upload_data(str(path), key_prefix=f"{PREFIX}/{name}")
    return TrainingInput(uri, content_type="text/csv")


def dataset(rows: int, seed: int) -> np.ndarray:
    """y = 2a - b + noise, label first."""
    rng = np.random.default_rng(seed)
    features = rng.uniform(-1, 1, size=(rows, 2))
    return np.column_stack([2 * features[:, 0] - features[:, 1] + rng.normal(scale=0.01, size=rows), features])


def ask(predictor: Predictor, features: np.ndarray) -> list[float]:
    predictor.serializer, predictor.deserializer = CSVSerializer(), CSVDeserializer()
    try:
        return np.asarray(predictor.predict(features), dtype=float).ravel().tolist()
    finally:
        predictor.delete_endpoint()


def script_mode(session: sagemaker.Session, train: TrainingInput, features: np.ndarray) -> list[float]:
    estimator = XGBoost(entry_point="train.py", source_dir=str(CODE), framework_version=VERSION, role=ROLE,
                        instance_type=INSTANCE_TYPE, instance_count=1, hyperparameters={"num_round": 40},
                        sagemaker_session=session, base_job_name=f"{PREFIX}-script")
    estimator.fit({"train": train})
    return ask(estimator.deploy(initial_instance_count=1, instance_type=INSTANCE_TYPE), features)


def built_in_algorithm(session: sagemaker.Session, train: TrainingInput, validation: TrainingInput,
                       features: np.ndarray) -> list[float]:
    image = sagemaker.image_uris.retrieve("xgboost", session.boto_region_name, VERSION)
    estimator = Estimator(image_uri=image, role=ROLE, instance_type=INSTANCE_TYPE, instance_count=1,
                          hyperparameters={"num_round": 40, "objective": "reg:squarederror", "max_depth": 3},
                          sagemaker_session=session, base_job_name=f"{PREFIX}-algorithm")
    estimator.fit({"train": train, "validation": validation})
    model = Model(image_uri=image, model_data=estimator.model_data, role=ROLE, sagemaker_session=session,
                  predictor_cls=Predictor)
    return ask(model.deploy(initial_instance_count=1, instance_type=INSTANCE_TYPE), features)


def main() -> None:
    session = sagemaker.Session()
    rows = dataset(300, seed=1)
    train, validation = upload(session, "train", rows), upload(session, "validation", dataset(100, seed=2))
    features = rows[:3, 1:]
    print("expected:", np.round(rows[:3, 0], 1).tolist())
    print("script mode predicted:", np.round(script_mode(session, train, features), 1).tolist())
    print("built-in algorithm predicted:",
          np.round(built_in_algorithm(session, train, validation, features), 1).tolist())
    print("done")


if __name__ == "__main__":
    main()
