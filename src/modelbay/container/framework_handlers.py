"""Each framework's default handler functions, used where the user's entry point defines none.

As SageMaker's framework containers: scikit-learn loads `model.joblib`, XGBoost loads
`xgboost-model` as a Booster and predicts on a DMatrix, PyTorch and plain Python need the
user's `model_fn`. Frameworks are imported when a handler first runs: only the framework's
own environment has them.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelbay.container.content_types import UTF8_TYPES, decode, encode, media_type


@dataclass(frozen=True)
class DefaultHandlers:
    model_fn: Callable[[str], Any]
    input_fn: Callable[[Any, str], Any]
    predict_fn: Callable[[Any, Any], Any]
    output_fn: Callable[[Any, str], Any]


class ModelFnRequired(Exception):
    """The framework cannot load a model by itself; the user's entry point must define model_fn."""


def default_handlers(framework: str) -> DefaultHandlers:
    """The defaults of `framework` (sklearn, xgboost, pytorch, python); raise ValueError for another."""
    try:
        return _DEFAULTS[framework]
    except KeyError:
        raise ValueError(f"unknown framework {framework!r} (known: {', '.join(_DEFAULTS)})") from None


def find_model_file(model_dir: str, name: str, patterns: tuple[str, ...]) -> Path:
    """`model_dir/name`, else the one file matching `patterns`; raise FileNotFoundError."""
    directory = Path(model_dir)
    if (directory / name).is_file():
        return directory / name
    found = sorted({path for pattern in patterns for path in directory.glob(pattern) if path.is_file()})
    if len(found) == 1:
        return found[0]
    what = "none" if not found else ", ".join(path.name for path in found)
    raise FileNotFoundError(f"no {name} in {model_dir}, and not exactly one {' or '.join(patterns)} file "
                            f"({what}): put the model there, or define model_fn in your entry point")


def _rows(body: Any, content_type: str) -> Any:
    """The request as a 2-D array: one row per instance (a 1-D array is one instance)."""
    array = decode(body, content_type)
    return array.reshape(1, -1) if array.ndim == 1 else array


def _require_model_fn(framework: str) -> Callable[[str], Any]:
    def model_fn(model_dir: str) -> Any:
        raise ModelFnRequired(f"the {framework} model server cannot load a model by itself: define "
                              f"model_fn(model_dir) in your entry point (SAGEMAKER_PROGRAM) to load it from "
                              f"{model_dir}")
    return model_fn


def _sklearn_model(model_dir: str) -> Any:
    return importlib.import_module("joblib").load(find_model_file(model_dir, "model.joblib", ("*.joblib", "*.pkl")))


def _predict(data: Any, model: Any) -> Any:
    return model.predict(data) if hasattr(model, "predict") else model(data)


def _xgboost_model(model_dir: str) -> Any:
    xgboost = importlib.import_module("xgboost")
    path = find_model_file(model_dir, "xgboost-model", ("*.json", "*.ubj"))
    booster = xgboost.Booster()
    try:
        booster.load_model(str(path))
    except xgboost.core.XGBoostError:
        if path.suffix in (".json", ".ubj"):
            raise
        with path.open("rb") as file:  # SageMaker's XGBoost algorithm pickles its `xgboost-model`
            return pickle.load(file)
    return booster


def _xgboost_input(body: Any, content_type: str) -> Any:
    return importlib.import_module("xgboost").DMatrix(_rows(body, content_type))


def _xgboost_predict(data: Any, model: Any) -> Any:
    xgboost = importlib.import_module("xgboost")
    if isinstance(model, xgboost.Booster) and not isinstance(data, xgboost.DMatrix):
        data = xgboost.DMatrix(data)
    return model.predict(data)


def _pytorch_input(body: Any, content_type: str) -> Any:
    """Text types as float32, as the PyTorch toolkit's FloatTensor; `.npy` keeps its dtype."""
    array = decode(body, content_type)
    return array.astype("float32") if media_type(content_type) in UTF8_TYPES else array


def _pytorch_predict(data: Any, model: Any) -> Any:
    torch = importlib.import_module("torch")
    with torch.no_grad():
        return model(torch.as_tensor(data))


def _pytorch_output(prediction: Any, accept: str) -> Any:
    if hasattr(prediction, "detach"):
        prediction = prediction.detach().cpu().numpy()
    return encode(prediction, accept)


_DEFAULTS = {
    "sklearn": DefaultHandlers(_sklearn_model, _rows, _predict, encode),
    "xgboost": DefaultHandlers(_xgboost_model, _xgboost_input, _xgboost_predict, encode),
    "pytorch": DefaultHandlers(_require_model_fn("PyTorch"), _pytorch_input, _pytorch_predict, _pytorch_output),
    "python": DefaultHandlers(_require_model_fn("Python"), decode, _predict, encode),
}
