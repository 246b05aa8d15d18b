"""Models compiled to ONNX, optimised by ONNX Runtime: scikit-learn through skl2onnx, PyTorch through
torch.onnx (the TorchScript exporter, `dynamo=False`), ONNX models as they are.

ONNX Runtime's graph optimisations are applied once here and the optimised graph saved
(`SessionOptions.optimized_model_filepath`): "extended" for a target of this machine's architecture,
"basic" for another, since extended fusions may be specific to the hardware they were made on.
Each function writes `model.onnx` into `out_dir` and returns the manifest's "onnx" member: the input's
name and the outputs' names ("output": what predict gives; "probabilities": a classifier's).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from modelbay.container.neo.errors import CompilationError
from modelbay.container.neo.originals import OriginalModel

MODEL_FILE = "model.onnx"
OPSET = 17  # what skl2onnx 1.20, torch 2.13's TorchScript exporter and ONNX Runtime 1.31 all speak


def from_sklearn(original: OriginalModel, num_features: int, work_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The scikit-learn model as ONNX (float32 rows in; a classifier's probabilities as a tensor, not a map)."""
    convert_sklearn = importlib.import_module("skl2onnx").convert_sklearn
    FloatTensorType = importlib.import_module("skl2onnx.common.data_types").FloatTensorType  # noqa: N806

    estimator = original.model
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    options = {id(final): {"zipmap": False}} if original.classes is not None else None
    try:
        onnx_model = convert_sklearn(estimator, initial_types=[("input", FloatTensorType([None, num_features]))],
                                     options=options, target_opset={"": OPSET, "ai.onnx.ml": 3})
    except Exception as err:  # skl2onnx raises RuntimeError, NotImplementedError, ... for what it cannot convert
        raise CompilationError(f"skl2onnx cannot convert the {type(estimator).__name__}: {err}") from err
    path = work_dir / "exported.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    outputs = [output.name for output in onnx_model.graph.output]
    names: dict[str, Any] = {"input": "input", "outputs": {"output": outputs[0]}}
    if original.classes is not None and len(outputs) > 1:
        names["outputs"]["probabilities"] = outputs[1]
    return path, names


def from_pytorch(original: OriginalModel, shape: list[int], work_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The PyTorch module exported with a dynamic batch axis, for inputs of `shape`."""
    torch = importlib.import_module("torch")

    path = work_dir / "exported.onnx"
    example = torch.zeros(shape, dtype=torch.float32)
    try:
        torch.onnx.export(original.model, (example,), str(path), input_names=["input0"], output_names=["output0"],
                          dynamic_axes={"input0": {0: "batch"}, "output0": {0: "batch"}}, opset_version=OPSET,
                          dynamo=False)
    except Exception as err:  # the exporter raises many kinds of errors for what it cannot trace
        raise CompilationError(f"torch.onnx cannot export the model for input shape {shape}: {err}") from err
    return path, {"input": "input0", "outputs": {"output": "output0"}}


def from_onnx(original: OriginalModel, source: Path) -> tuple[Path, dict[str, Any]]:
    """An ONNX model as it is: its first input and first output."""
    session = original.model
    return source, {"input": session.get_inputs()[0].name, "outputs": {"output": session.get_outputs()[0].name}}


def optimize(source: Path, out_dir: Path, *, same_architecture: bool) -> dict[str, Any]:
    """Save ONNX Runtime's optimised graph of `source` as out_dir/model.onnx; return what was done."""
    onnxruntime = importlib.import_module("onnxruntime")

    level = "extended" if same_architecture else "basic"
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = (onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED if same_architecture
                                        else onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC)
    options.optimized_model_filepath = str(out_dir / MODEL_FILE)
    try:
        onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # ORT's own exception types
        raise CompilationError(f"ONNX Runtime cannot optimise the model: {err}") from err
    return {"onnxruntime": onnxruntime.__version__, "graph_optimization_level": level}
