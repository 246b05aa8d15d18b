"""A model compiled by modelbay's compilers (SageMaker Neo's role), loaded without its framework.

A compiled model directory holds `neo-manifest.json` and what its "runtime" names:
- "native": a shared library of a tree ensemble (TL2cgen's C with modelbay's batch entry point, see
  container/neo/trees.py), called here through ctypes with numpy alone: no Treelite, no XGBoost;
- "onnxruntime": an ONNX model (optimised by ONNX Runtime when it was compiled), run by ONNX Runtime.

`predict` gives what the SageMaker framework container's default predict gives for the original model,
as the manifest's "output" says: "labels" (a scikit-learn classifier), "probabilities" (an XGBoost
classification objective, as the XGBoost container's Booster.predict) or "values". `predict_proba`
gives classifiers' probabilities, one column per class, when the manifest's "classes" names them.

The module imports numpy (and ONNX Runtime for ONNX models) and nothing else of modelbay but container/:
serving images carry no compiler and no framework.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import threading
from pathlib import Path
from typing import Any

import numpy
import numpy.typing

Array = numpy.typing.NDArray[Any]

MANIFEST = "neo-manifest.json"
_SAMPLE_SEED = 0


class CompiledModelError(Exception):
    """A compiled model directory that cannot be loaded; str() says why."""


def is_compiled(model_dir: Path) -> bool:
    """Whether `model_dir` holds a compiled model."""
    return (model_dir / MANIFEST).is_file()


def load(model_dir: Path) -> CompiledModel:
    """The compiled model in `model_dir`; raises CompiledModelError when it cannot be loaded."""
    try:
        manifest = json.loads((model_dir / MANIFEST).read_text())
    except (OSError, ValueError) as err:
        raise CompiledModelError(f"cannot read {MANIFEST}: {err}") from err
    runtime = manifest.get("runtime")
    if runtime == "native":
        return CompiledModel(manifest, _NativeLibrary(model_dir / manifest["library"]))
    if runtime == "onnxruntime":
        return CompiledModel(manifest, _OnnxSession(model_dir / manifest["model"], manifest["onnx"]))
    raise CompiledModelError(f"unknown compiled-model runtime {runtime!r} in {MANIFEST}")


class _NativeLibrary:
    """A TL2cgen library with modelbay's `modelbay_predict_batch` entry point."""

    def __init__(self, path: Path) -> None:
        try:
            self._lib = ctypes.CDLL(str(path.resolve()))
        except OSError as err:
            raise CompiledModelError(f"cannot load the compiled library {path.name}: {err}") from err
        self._lib.get_num_feature.restype = ctypes.c_int32
        self._lib.modelbay_width.restype = ctypes.c_int32
        self._lib.get_leaf_output_type.restype = ctypes.c_char_p
        self.num_feature = int(self._lib.get_num_feature())
        self.width = int(self._lib.modelbay_width())
        self._leaf_dtype = numpy.dtype(self._lib.get_leaf_output_type().decode())
        self._predict = self._lib.modelbay_predict_batch
        self._predict.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p]
        self._predict.restype = None
        self._one_row = threading.local()

    def run(self, rows: Array) -> Array:
        """The raw outputs (n, width): every class's (or target's) score after the model's postprocessing."""
        if rows.shape[0] == 1:
            return self._run_one(rows)
        data = numpy.ascontiguousarray(rows, dtype=numpy.float64)
        out = numpy.empty((data.shape[0], self.width), dtype=self._leaf_dtype)
        self._predict(data.ctypes.data, data.shape[0], data.shape[1], 0, out.ctypes.data)
        return out

    def _run_one(self, row: Array) -> Array:
        """One row through buffers made once per thread: reading an array's address costs more than the trees of
        a small model, so a single row (a live request's usual size) reuses the addresses read the first time."""
        buffers = getattr(self._one_row, "buffers", None)
        if buffers is None or buffers[0].shape != row.shape:
            data, out = numpy.empty(row.shape, dtype=numpy.float64), numpy.empty((1, self.width), self._leaf_dtype)
            buffers = self._one_row.buffers = (data, out, data.ctypes.data, out.ctypes.data)
        data, out, data_address, out_address = buffers
        data[...] = row
        self._predict(data_address, 1, data.shape[1], 0, out_address)
        return out.copy()


class _OnnxSession:
    """An ONNX model run by ONNX Runtime on the CPU."""

    def __init__(self, path: Path, names: dict[str, Any]) -> None:
        onnxruntime = importlib.import_module("onnxruntime")  # only ONNX models need it

        try:
            self._session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as err:  # ORT raises its own exception types for every kind of bad model
            raise CompiledModelError(f"ONNX Runtime cannot load {path.name}: {err}") from err
        self._input = str(names["input"])
        self._outputs = {key: str(value) for key, value in names["outputs"].items()}

    def run(self, rows: Array, output: str) -> Array:
        """The model's output named by `output` ("output" or "probabilities") for float32 rows."""
        result = self._session.run([self._outputs[output]], {self._input: rows.astype(numpy.float32)})
        return numpy.asarray(result[0])


class CompiledModel:
    """A loaded compiled model: its manifest, predict and sample_input."""

    def __init__(self, manifest: dict[str, Any], backend: _NativeLibrary | _OnnxSession) -> None:
        self.manifest = manifest
        self._backend = backend
        self._classes = numpy.asarray(manifest["classes"]) if manifest.get("classes") is not None else None

    @property
    def output(self) -> str:
        """What predict gives: "labels", "probabilities" or "values"."""
        return str(self.manifest["output"])

    def predict(self, rows: Array) -> Array:
        """The original model's default predictions for `rows` (float32, the input shape with a batch axis)."""
        rows = self._shaped(rows)
        if isinstance(self._backend, _OnnxSession):
            result = self._backend.run(rows, "output")
            one_column = result.ndim == 2 and result.shape[1] == 1
            return result[:, 0] if one_column and self.manifest.get("output_ndim") == 1 else result
        raw = self._backend.run(rows)
        if self.output == "labels":
            return self._labels(_two_columns(raw))
        return raw[:, 0] if raw.shape[1] == 1 else raw

    def predict_proba(self, rows: Array) -> Array:
        """A classifier's probabilities, (n, classes); raises CompiledModelError for a model without them."""
        if self._classes is None:
            raise CompiledModelError("this compiled model is no classifier: it has no probabilities")
        rows = self._shaped(rows)
        if isinstance(self._backend, _OnnxSession):
            return self._backend.run(rows, "probabilities")
        return _two_columns(self._backend.run(rows))

    def sample_input(self) -> Array:
        """A small deterministic batch of the input shape (for health checks)."""
        shape = [1 if dim is None else int(dim) for dim in self.manifest["input"]["shape"]]
        shape[0] = min(shape[0], 4)
        return numpy.random.default_rng(_SAMPLE_SEED).standard_normal(shape).astype(numpy.float32)

    def _shaped(self, rows: Array) -> Array:
        """`rows` as float32 of the input shape: 2-D rows of a model with more axes are reshaped."""
        shape = self.manifest["input"]["shape"]
        array = numpy.asarray(rows, dtype=numpy.float32)
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if len(shape) > 2 and array.ndim == 2:
            array = array.reshape(-1, *[int(dim) for dim in shape[1:]])
        return array

    def _labels(self, probabilities: Array) -> Array:
        classes = self._classes if self._classes is not None else numpy.arange(probabilities.shape[1])
        labels: Array = classes[numpy.argmax(probabilities, axis=1)]
        return labels


def _two_columns(raw: Array) -> Array:
    """One probability column (a binary model's P(class 1)) as two; several columns as they are."""
    if raw.shape[1] == 1:
        return numpy.column_stack([1.0 - raw[:, 0], raw[:, 0]])
    return raw
