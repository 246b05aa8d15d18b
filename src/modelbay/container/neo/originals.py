"""The original model of a compilation job: found in model.tar.gz, loaded, and its default predict.

The model file is found by the names SageMaker's containers use: `xgboost-model`, `model.json`,
`model.ubj`, `model.bst` (XGBoost), `model.joblib`, `model.pkl` (scikit-learn, or a pickled XGBoost
model), `model.pth`, `model.pt` (PyTorch: TorchScript; or a whole module saved by torch.save whose classes
are torch's own), `*.onnx`. Failing those, the only file of a known suffix is taken. `predict` is the
SageMaker framework container's default predict: a scikit-learn estimator's predict (labels for classifiers),
XGBoost's Booster.predict (probabilities for classification objectives), a PyTorch module's forward, an ONNX
model's first output.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy
import numpy.typing

from modelbay.container.neo.errors import CompilationError

Array = numpy.typing.NDArray[Any]

_NAMES = {
    "XGBOOST": ("xgboost-model", "model.json", "model.ubj", "model.bst", "model.joblib", "model.pkl"),
    "SKLEARN": ("model.joblib", "model.pkl", "model.pickle"),
    "PYTORCH": ("model.pth", "model.pt"),
    "ONNX": ("model.onnx",),
}
_SUFFIXES = {"XGBOOST": (".json", ".ubj", ".bst", ".model", ".joblib", ".pkl"),
             "SKLEARN": (".joblib", ".pkl", ".pickle"), "PYTORCH": (".pth", ".pt"), "ONNX": (".onnx",)}
_XGBOOST_LABELS = frozenset({"multi:softmax", "binary:hinge"})
_XGBOOST_PROBABILITIES = frozenset({"binary:logistic", "multi:softprob"})


@dataclass
class OriginalModel:
    """The loaded original: the framework's object and what its default predict gives."""

    framework: str
    model: Any  # a Booster, an estimator, a torch module, an ONNX Runtime session
    output: str  # labels | probabilities | values
    classes: list[Any] | None  # a classifier's classes, in its probability columns' order
    num_features: int | None  # None when the model does not say (PyTorch)
    predict: Callable[[Array], Array]
    predict_proba: Callable[[Array], Array] | None = None


def find(model_dir: Path, framework: str) -> Path:
    """The model file in the extracted archive; raises CompilationError when there is none or it is ambiguous."""
    files = [path for path in sorted(model_dir.rglob("*")) if path.is_file()]
    for name in _NAMES[framework]:
        if named := [path for path in files if path.name == name]:
            return named[0]
    candidates = [path for path in files if path.suffix in _SUFFIXES[framework]]
    if len(candidates) == 1:
        return candidates[0]
    expected = ", ".join(_NAMES[framework])
    found = ", ".join(str(path.relative_to(model_dir)) for path in files) or "nothing"
    raise CompilationError(f"cannot find the {framework} model in model.tar.gz: expected {expected}; found {found}")


def load(path: Path, framework: str) -> OriginalModel:
    """The model at `path`; raises CompilationError when the framework cannot load it."""
    loaders = {"XGBOOST": _xgboost, "SKLEARN": _sklearn, "PYTORCH": _pytorch, "ONNX": _onnx}
    try:
        return loaders[framework](path)
    except CompilationError:
        raise
    except Exception as err:  # each framework raises its own errors for a bad file
        raise CompilationError(f"cannot load {path.name} as a {framework} model: {err}") from err


def _xgboost(path: Path) -> OriginalModel:
    import xgboost

    booster = _booster(path, xgboost)
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    output = ("labels" if objective in _XGBOOST_LABELS
              else "probabilities" if objective in _XGBOOST_PROBABILITIES else "values")
    classes = _xgboost_classes(booster, objective)

    def predict(rows: Array) -> Array:
        return numpy.asarray(booster.predict(xgboost.DMatrix(rows)))

    return OriginalModel("XGBOOST", booster, output, classes, booster.num_features(), predict)


def _booster(path: Path, xgboost: Any) -> Any:
    """A Booster from a saved model (JSON, UBJSON, binary) or a pickle of a Booster or an XGBModel."""
    if path.suffix not in (".pkl", ".joblib", ".pickle"):
        try:
            booster = xgboost.Booster()
            booster.load_model(str(path))
            return booster
        except xgboost.core.XGBoostError:
            pass  # the XGBoost container's xgboost-model may be a pickle too
    joblib = importlib.import_module("joblib")

    loaded = joblib.load(path)
    return loaded.get_booster() if hasattr(loaded, "get_booster") else loaded


def _xgboost_classes(booster: Any, objective: str) -> list[Any] | None:
    if objective.startswith("binary:"):
        return [0.0, 1.0]
    if objective.startswith("multi:"):
        count = int(json.loads(booster.save_config())["learner"]["learner_model_param"]["num_class"])
        return [float(label) for label in range(count)]
    return None


def _sklearn(path: Path) -> OriginalModel:
    joblib = importlib.import_module("joblib")
    is_classifier = importlib.import_module("sklearn.base").is_classifier

    estimator = joblib.load(path)
    if not hasattr(estimator, "predict"):
        raise CompilationError(f"{path.name} holds a {type(estimator).__name__}, which has no predict")
    classifier = bool(is_classifier(estimator))
    classes = estimator.classes_.tolist() if classifier and hasattr(estimator, "classes_") else None
    proba = estimator.predict_proba if classifier and hasattr(estimator, "predict_proba") else None
    return OriginalModel("SKLEARN", estimator, "labels" if classifier else "values", classes,
                         getattr(estimator, "n_features_in_", None), estimator.predict, proba)


def _pytorch(path: Path) -> OriginalModel:
    torch = importlib.import_module("torch")

    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except RuntimeError:  # not TorchScript: a whole module saved by torch.save
        module = _pickled_module(torch, path)
    if not isinstance(module, torch.nn.Module):
        raise CompilationError(f"{path.name} holds a {type(module).__name__}, not a TorchScript or nn.Module "
                               f"model (a state_dict alone cannot be compiled: {_AS_TORCHSCRIPT})")
    module.eval()

    def predict(rows: Array) -> Array:
        with torch.no_grad():
            return numpy.asarray(module(torch.from_numpy(numpy.ascontiguousarray(rows))).numpy())

    return OriginalModel("PYTORCH", module, "values", None, None, predict)


_AS_TORCHSCRIPT = "save the model as TorchScript, torch.jit.save(torch.jit.trace(model, example), 'model.pth')"


def _pickled_module(torch: Any, path: Path) -> Any:
    """A whole module saved by torch.save: loadable only when its classes are importable here (torch's own)."""
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError) as err:  # pickle cannot find the user's class
        raise CompilationError(f"{path.name} is a module pickled by torch.save whose code is not here ({err}): "
                               f"{_AS_TORCHSCRIPT}") from err


def _onnx(path: Path) -> OriginalModel:
    onnxruntime = importlib.import_module("onnxruntime")

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    first_input = session.get_inputs()[0]
    width = first_input.shape[-1] if len(first_input.shape) == 2 and isinstance(first_input.shape[-1], int) else None

    def predict(rows: Array) -> Array:
        return numpy.asarray(session.run(None, {first_input.name: rows.astype(numpy.float32)})[0])

    return OriginalModel("ONNX", session, "values", None, width, predict)
