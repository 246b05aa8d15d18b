"""One compilation: the original model out of model.tar.gz, compiled by its backend, checked, its manifest written.

The backend: a tree ensemble (XGBoost, scikit-learn's forests and boosted trees) becomes native code
when the target has a C compiler here (trees.py); other scikit-learn models, tree ensembles for a
target without one, PyTorch and ONNX models become an optimised ONNX model (onnx_export.py).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import numpy
import numpy.typing

from modelbay.container import compiled_models
from modelbay.container.neo import onnx_export, originals, samples, trees
from modelbay.container.neo.errors import CompilationError
from modelbay.container.neo.originals import OriginalModel
from modelbay.container.neo.verification import verify

Array = numpy.typing.NDArray[Any]

FAILED_CHECK = "compiled model's outputs differ from the original's: "


def compile_model(config: dict[str, Any], model_tar: Path, out_dir: Path, work_dir: Path) -> dict[str, Any]:
    """Compile the model of `model_tar` as compilation.json's `config` says into `out_dir`; return its manifest.

    Raises CompilationError with the reason (a failed verification included).
    """
    framework, target = config["Framework"], config["Target"]
    options = samples.compiler_options(config.get("CompilerOptions"))
    extracted = _extract(model_tar, work_dir / "original")
    original = originals.load(originals.find(extracted, framework), framework)
    shape = _shape(original, samples.input_shape(config.get("DataInputConfig")))
    # STEP 1: compile with the backend the model and target call for
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest, split_points, check_dir = _compile(original, target, shape, extracted, out_dir, work_dir)
    # STEP 2: the sample inputs, both models' outputs on them
    inputs = samples.given(options, extracted)
    if inputs is None:
        inputs = samples.generated(shape, split_points)
    _check_shape(inputs, shape)
    manifest.update(framework=framework, framework_version=config.get("FrameworkVersion"), target=target,
                    input={"name": manifest.get("onnx", {}).get("input", "input0"), "shape": [None, *shape[1:]],
                           "dtype": "float32"},
                    output=original.output, output_ndim=int(original.predict(inputs[:1]).ndim),
                    classes=original.classes)
    _write(manifest, out_dir, check_dir)
    # STEP 3: verification, recorded whatever its outcome
    manifest["verification"] = verify(original, compiled_models.load(check_dir), inputs)
    _write(manifest, out_dir, check_dir)
    if not manifest["verification"]["passed"]:
        raise CompilationError(FAILED_CHECK + manifest["verification"]["detail"])
    return manifest


def _compile(original: OriginalModel, target: dict[str, Any], shape: list[int], extracted: Path, out_dir: Path,
             work_dir: Path) -> tuple[dict[str, Any], dict[int, list[float]], Path]:
    """The manifest's backend members, the split thresholds (trees) and the directory verification loads."""
    if trees.is_tree_ensemble(original) and target.get("CCompiler"):
        model = trees.treelite_model(original)
        native = trees.compile_library(model, target, out_dir, work_dir)
        host_library = native.pop("host_library")
        check_dir = Path(host_library).parent if host_library else out_dir
        native["verified_on"] = "a host build of the same C" if host_library else "the compiled library"
        manifest = {"runtime": "native", "library": native.pop("library"), "native": native}
        return manifest, trees.thresholds(model), check_dir
    if original.framework == "XGBOOST":
        raise CompilationError(f"XGBoost models compile to native code, and {target['Name']} has no C compiler here")
    source, names = _exported(original, shape, extracted, work_dir)
    optimised = onnx_export.optimize(source, out_dir, same_architecture=target["Arch"] == target["HostArch"])
    split_points = trees.thresholds(trees.treelite_model(original)) if trees.is_tree_ensemble(original) else {}
    return {"runtime": "onnxruntime", "model": onnx_export.MODEL_FILE, "onnx": {**names, **optimised}}, \
        split_points, out_dir


def _exported(original: OriginalModel, shape: list[int], extracted: Path,
              work_dir: Path) -> tuple[Path, dict[str, Any]]:
    if original.framework == "SKLEARN":
        return onnx_export.from_sklearn(original, shape[1], work_dir)
    if original.framework == "PYTORCH":
        return onnx_export.from_pytorch(original, shape, work_dir)
    return onnx_export.from_onnx(original, originals.find(extracted, "ONNX"))


def _shape(original: OriginalModel, given: list[int] | None) -> list[int]:
    """The input shape: DataInputConfig's, else [1, the model's number of features]."""
    if given is None:
        if original.num_features is None:
            raise CompilationError(f"DataInputConfig is required for {original.framework} models: "
                                   'the input shape, e.g. {"input0": [1, 8]}')
        return [1, original.num_features]
    if original.num_features is not None and given[1:] != [original.num_features]:
        raise CompilationError(f"DataInputConfig's shape {given} does not match the model's "
                               f"{original.num_features} features")
    return given


def _check_shape(inputs: Array, shape: list[int]) -> None:
    if list(inputs.shape[1:]) != shape[1:]:
        raise CompilationError(f"the sample inputs' shape {list(inputs.shape)} does not match the input shape "
                               f"{shape} (the first axis is the batch)")


def _extract(model_tar: Path, into: Path) -> Path:
    """model.tar.gz's files in `into` (links and paths outside it refused, as tarfile's data filter does)."""
    into.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(model_tar) as archive:
            archive.extractall(into, filter="data")
    except (OSError, tarfile.TarError) as err:
        raise CompilationError(f"cannot read the model archive (InputConfig.S3Uri must be a .tar.gz): {err}") from err
    return into


def _write(manifest: dict[str, Any], out_dir: Path, check_dir: Path) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True)
    (out_dir / compiled_models.MANIFEST).write_text(text)
    if check_dir != out_dir:  # the host build verification loads, with the same manifest
        manifest_copy = dict(manifest, library="model.so")
        (check_dir / compiled_models.MANIFEST).write_text(json.dumps(manifest_copy, indent=2, sort_keys=True))

