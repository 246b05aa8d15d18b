"""The sample inputs a compiled model is checked on, and the input shape they have.

In order of preference: CompilerOptions' JSON member "sample-inputs" (a list of rows, or of arrays of
the input shape without its batch axis); `sample_inputs.npy` or `sample_inputs.csv` (rows, no header) in
model.tar.gz; else generated deterministically (seed 0): 256 rows, each feature of a tree ensemble drawn
uniformly around its split thresholds (10 % beyond the outermost) with a quarter of the values exactly
on a threshold (where `<` and `<=` differ); features without thresholds, and other models, standard normal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy
import numpy.typing

from modelbay.container.neo.errors import CompilationError

Array = numpy.typing.NDArray[Any]

GENERATED_ROWS = 256
SEED = 0


def compiler_options(text: str | None) -> dict[str, Any]:
    """CompilerOptions as a JSON object ({} when absent)."""
    if not text:
        return {}
    try:
        options = json.loads(text)
    except ValueError as err:
        raise CompilationError(f"CompilerOptions is not JSON: {err}") from err
    if not isinstance(options, dict):
        raise CompilationError("CompilerOptions must be a JSON object")
    return options


def input_shape(data_input_config: str | None) -> list[int] | None:
    """The one input's shape DataInputConfig gives ({"input0": [1, 8]} or [1, 8]); None when absent."""
    if not data_input_config:
        return None
    try:
        config = json.loads(data_input_config)
    except ValueError as err:
        raise CompilationError(f"DataInputConfig is not JSON: {err}") from err
    shapes = list(config.values()) if isinstance(config, dict) else [config]
    if len(shapes) != 1:
        raise CompilationError(f"DataInputConfig names {len(shapes)} inputs; modelbay compiles models of one input")
    shape = shapes[0]
    if not (isinstance(shape, list) and shape and all(isinstance(dim, int) and dim > 0 for dim in shape)):
        raise CompilationError(f"DataInputConfig's shape {shape!r} is not a list of positive integers")
    return shape


def given(options: dict[str, Any], model_dir: Path) -> Array | None:
    """The sample inputs the job gives, as float32; None when it gives none."""
    if "sample-inputs" in options:
        try:
            return _checked(numpy.asarray(options["sample-inputs"], dtype=numpy.float32), "sample-inputs")
        except ValueError as err:
            raise CompilationError(f"CompilerOptions' sample-inputs is not an array of numbers: {err}") from err
    for path in sorted(model_dir.rglob("sample_inputs.*")):
        try:
            if path.suffix == ".npy":
                return _checked(numpy.load(path, allow_pickle=False).astype(numpy.float32), path.name)
            if path.suffix == ".csv":
                return _checked(numpy.loadtxt(path, delimiter=",", dtype=numpy.float32, ndmin=2), path.name)
        except ValueError as err:
            raise CompilationError(f"{path.name} is not an array of numbers: {err}") from err
    return None


def generated(shape: list[int], split_points: dict[int, list[float]]) -> Array:
    """GENERATED_ROWS inputs of `shape` (its batch axis replaced), features near their thresholds."""
    rng = numpy.random.default_rng(SEED)
    rows = rng.standard_normal((GENERATED_ROWS, *shape[1:]))
    for feature, points in split_points.items():
        if len(shape) == 2 and feature < shape[1]:
            rows[:, feature] = _near(rng, numpy.asarray(points))
    return rows.astype(numpy.float32)


def _near(rng: numpy.random.Generator, points: Array) -> Array:
    low, high = float(points.min()), float(points.max())
    margin = 0.1 * (high - low) if high > low else 1.0
    values = rng.uniform(low - margin, high + margin, GENERATED_ROWS)
    exact = rng.random(GENERATED_ROWS) < 0.25
    values[exact] = rng.choice(points, int(exact.sum()))
    return values


def _checked(samples: Array, source: str) -> Array:
    if samples.ndim < 2 or samples.shape[0] == 0:
        raise CompilationError(f"{source} must hold at least one row (a list of rows)")
    return samples
