"""The model server's handlers for a compiled model: chosen when the model directory holds a manifest (or the image
is Neo's), rows in as CSV, JSON or .npy, answers as the Accept header asks, a user's entry point over them.

The compiled model is a stand-in with compiled_models' interface (a linear model): what is tested is the
handlers around it; tests/integration/test_compiled_serving.py serves real compiled models."""

from __future__ import annotations

import importlib
import io
import json
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from modelbay.container import compiled_handler
from modelbay.container.compiled_handler import HANDLERS, handlers_for
from modelbay.container.framework_handlers import default_handlers
from modelbay.container.inference import Inference

MANIFEST = "neo-manifest.json"
WEIGHTS = np.array([1.0, 2.0, 3.0], dtype="float32")


class LinearModel:
    """predict() as CompiledModel's: 2-D float32 rows in, one value per row out; it keeps the rows it was given."""

    def __init__(self, model_dir: Path) -> None:
        self.manifest = json.loads((model_dir / MANIFEST).read_text())
        self.seen: list[np.ndarray] = []

    def predict(self, rows: np.ndarray) -> np.ndarray:
        self.seen.append(rows)
        return rows @ WEIGHTS

    def sample_input(self) -> np.ndarray:
        return np.zeros((1, 3), dtype="float32")


@pytest.fixture(autouse=True)
def compiled_models(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A compiled_models module with the stand-in model, in place of the real one."""
    module = ModuleType("modelbay.container.compiled_models")
    module.MANIFEST = MANIFEST  # type: ignore[attr-defined]
    module.is_compiled = lambda model_dir: (model_dir / MANIFEST).is_file()  # type: ignore[attr-defined]
    module.load = LinearModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "modelbay.container.compiled_models", module)
    return module


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    (tmp_path / MANIFEST).write_text(json.dumps({"runtime": "onnxruntime", "framework": "XGBOOST"}))
    return tmp_path


def _served(model_dir: Path, module: Any = None) -> Inference:
    inference = Inference(HANDLERS, module, str(model_dir))
    inference.load_model()
    return inference


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_a_compiled_model_or_the_neo_image_gets_the_compiled_handlers(model_dir: Path, tmp_path: Path) -> None:
    assert handlers_for("xgboost", model_dir) is HANDLERS
    assert handlers_for("neo", tmp_path / "empty") is HANDLERS
    plain = tmp_path / "plain"
    plain.mkdir()
    assert handlers_for("xgboost", plain) == default_handlers("xgboost")


@pytest.mark.parametrize(("body", "content_type", "accept", "answer", "answer_type"), [
    (b"1,1,1\n0,0,1\n", "text/csv", "text/csv", b"6.0\n3.0\n", "text/csv"),
    (b"1,1,1", "text/csv; charset=utf-8", "application/json", b"[6.0]", "application/json"),
    (b'{"instances": [[1, 0, 0], [0, 1, 0]]}', "application/json", "application/json", b"[1.0, 2.0]",
     "application/json"),
    (b"[[0, 0, 2]]", "application/json", "text/csv", b"6.0\n", "text/csv"),
])
def test_rows_in_and_answers_out(model_dir: Path, body: bytes, content_type: str, accept: str, answer: bytes,
                                 answer_type: str) -> None:
    assert _served(model_dir).invoke(body, content_type, accept, {})[:2] == (answer, answer_type)


def test_npy_rows_reach_the_model_as_2d_float32(model_dir: Path) -> None:
    inference = _served(model_dir)
    body, answer_type, _ = inference.invoke(_npy(np.array([1, 2, 3], dtype="int64")), "application/x-npy",
                                            "application/x-npy", {})
    assert isinstance(body, bytes) and answer_type == "application/x-npy"
    assert np.load(io.BytesIO(body)).tolist() == [14.0]
    rows = inference.model.seen[-1]  # after the sample the server ran at load
    assert (rows.dtype, rows.shape) == (np.float32, (1, 3))


def test_whether_a_model_is_compiled_is_told_without_importing_numpy(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    """Images without numpy ask too; the manifest's name is the one compiled_models writes."""
    monkeypatch.delitem(sys.modules, "modelbay.container.compiled_models")
    assert handlers_for("python", tmp_path) == default_handlers("python")
    assert "modelbay.container.compiled_models" not in sys.modules
    monkeypatch.undo()
    assert compiled_handler.MANIFEST == importlib.import_module("modelbay.container.compiled_models").MANIFEST


def test_a_neo_image_without_a_compiled_model_fails_to_load_saying_what_to_deploy(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no neo-manifest.json in .*ModelArtifacts.S3ModelArtifacts"):
        _served(tmp_path)


def test_a_users_input_and_output_fn_wrap_the_compiled_model(model_dir: Path) -> None:
    """As Neo's PyTorch images: the image loads the compiled model, the user's script shapes requests and answers."""
    def input_fn(body: str, content_type: str) -> list[list[float]]:
        return [[float(v) for v in json.loads(body)["features"]]]

    def output_fn(prediction: np.ndarray, accept: str) -> tuple[str, str]:
        return json.dumps({"score": prediction.tolist()[0]}), "application/json"

    user = SimpleNamespace(input_fn=input_fn, output_fn=output_fn)
    answer = _served(model_dir, user).invoke(b'{"features": [0, 0, 1]}', "application/json", "*/*", {})
    assert answer[:2] == (b'{"score": 3.0}', "application/json")



def test_a_compiled_model_in_an_image_without_its_runtime_names_the_image_to_use(
        monkeypatch: pytest.MonkeyPatch, model_dir: Path) -> None:
    monkeypatch.setitem(sys.modules, "modelbay.container.compiled_models", None)  # as if numpy were missing
    with pytest.raises(ModuleNotFoundError, match="is compiled, and this image cannot run it .*InferenceImage"):
        _served(model_dir)


def test_a_compiled_model_that_cannot_predict_fails_the_start(compiled_models: ModuleType, model_dir: Path) -> None:
    class Broken(LinearModel):
        def predict(self, rows: np.ndarray) -> np.ndarray:
            raise OSError("the library cannot run on this CPU")

    compiled_models.load = Broken  # type: ignore[attr-defined]
    with pytest.raises(OSError, match="cannot run on this CPU"):
        _served(model_dir)
