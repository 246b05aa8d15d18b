"""The model server's handlers for a model compiled by a compilation job (SageMaker Neo).

A compiled model is a directory holding `neo-manifest.json` (container/compiled_models.py loads it). As
SageMaker's Neo inference images, the server needs no framework to serve it: requests are decoded into
2-D float32 rows (`text/csv`, `application/json` as a list or `{"instances": [...]}`, `application/x-npy`),
the compiled model predicts, and the answer is encoded as the Accept header asks (CSV, JSON or `.npy`), in
the defaults' input_fn/predict_fn/output_fn style. A user's entry point (SAGEMAKER_PROGRAM) still overrides
any of them, as with Neo's PyTorch images, whose users keep their input_fn/output_fn while the image loads
the compiled model; a user's model_fn replaces the loading too.

The Neo image (framework `neo`) serves compiled models only; any other image serves one when the model
directory holds a manifest (its environment must then have what the compiled model's runtime needs).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelbay.container.content_types import decode, encode
from modelbay.container.framework_handlers import DefaultHandlers, default_handlers

if TYPE_CHECKING:
    from modelbay.container.compiled_models import CompiledModel

NEO_FRAMEWORK = "neo"  # MODELBAY_FRAMEWORK of the Neo inference images' recipe
# compiled_models.MANIFEST, spelled here too: that module imports numpy, which not every image has, and every
# image's server asks whether its model is compiled
MANIFEST = "neo-manifest.json"


def handlers_for(framework: str, model_dir: Path) -> DefaultHandlers:
    """The compiled model's handlers when `model_dir` holds one (or the image is Neo's), else `framework`'s
    defaults (ValueError for an unknown framework)."""
    if framework == NEO_FRAMEWORK or (model_dir / MANIFEST).is_file():
        return HANDLERS
    return default_handlers(framework)


def _load(model_dir: str) -> CompiledModel:
    """The compiled model in `model_dir`, run once on its sample input. FileNotFoundError naming what to deploy
    when there is none, ModuleNotFoundError naming the image to use when this one cannot run it; CompiledModelError
    (or what its runtime raises) when it is broken."""
    if not (Path(model_dir) / MANIFEST).is_file():
        raise FileNotFoundError(
            f"no {MANIFEST} in {model_dir}: this image serves models compiled by a compilation job; deploy the "
            "job's ModelArtifacts.S3ModelArtifacts as the model's ModelDataUrl")
    try:
        from modelbay.container.compiled_models import load  # it needs numpy: imported once a model is compiled
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"the model in {model_dir} is compiled, and this image cannot run it ({err}): serve it with the "
            "compilation job's InferenceImage") from err
    model = load(Path(model_dir))
    model.predict(model.sample_input())  # one that loads but cannot run fails the server's start, not a request
    return model


def _rows(data: Any) -> Any:
    """`data` as 2-D float32 rows, one per instance (1-D: one instance), as CompiledModel.predict takes them."""
    array = importlib.import_module("numpy").asarray(data, dtype="float32")
    return array.reshape(1, -1) if array.ndim == 1 else array


def _input(body: Any, content_type: str) -> Any:
    return _rows(decode(body, content_type))


def _predict(data: Any, model: CompiledModel) -> Any:
    return model.predict(_rows(data))


HANDLERS = DefaultHandlers(_load, _input, _predict, encode)
