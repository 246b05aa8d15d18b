"""The check that a compiled model gives the original's outputs on the sample inputs.

Labels must be equal; probabilities within TOLERANCE (absolute); values within TOLERANCE absolute or
TOLERANCE relative (|a - b| <= tol or |a - b| <= tol * |a|), each element. The figures go into the
manifest's "verification"; a failed check fails the compilation.
"""

from __future__ import annotations

from typing import Any

import numpy
import numpy.typing

from modelbay.container.compiled_models import CompiledModel
from modelbay.container.neo.originals import OriginalModel

Array = numpy.typing.NDArray[Any]

TOLERANCE = 1e-5


def verify(original: OriginalModel, compiled: CompiledModel, samples: Array) -> dict[str, Any]:
    """The manifest's "verification": {"passed", "samples", "max_abs_diff", "tolerance", "labels_equal", "detail"}."""
    expected, got = original.predict(samples), compiled.predict(samples)
    if expected.shape != got.shape and expected.size == got.size:
        got = got.reshape(expected.shape)
    if expected.shape != got.shape:
        return _result(False, samples, 0.0, None, f"output shapes differ: {expected.shape} != {got.shape}")
    if original.output == "labels":
        return _labels(original, compiled, samples, expected, got)
    diff, within = _differences(expected, got, relative=original.output == "values")
    detail = f"{original.output} within {TOLERANCE:g}" if within else f"{original.output} differ by {diff:.3g}"
    return _result(within, samples, diff, None, detail)


def _labels(original: OriginalModel, compiled: CompiledModel, samples: Array,
            expected: Array, got: Array) -> dict[str, Any]:
    mismatched = int(numpy.count_nonzero(expected != got))
    diff, within = 0.0, True
    if original.predict_proba is not None:
        diff, within = _differences(original.predict_proba(samples), compiled.predict_proba(samples), relative=False)
    passed = mismatched == 0 and within
    detail = (f"labels equal, probabilities within {TOLERANCE:g}" if passed
              else f"{mismatched} of {len(expected)} labels differ; probabilities differ by up to {diff:.3g}")
    return _result(passed, samples, diff, mismatched == 0, detail)


def _differences(expected: Array, got: Array, *, relative: bool) -> tuple[float, bool]:
    """The largest absolute difference, and whether every element is within the tolerance."""
    a, b = expected.astype(numpy.float64), numpy.asarray(got, dtype=numpy.float64).reshape(expected.shape)
    difference = numpy.abs(a - b)
    bound = numpy.maximum(TOLERANCE, TOLERANCE * numpy.abs(a)) if relative else numpy.full(a.shape, TOLERANCE)
    both_nan = numpy.isnan(a) & numpy.isnan(b)
    within = bool(numpy.all((difference <= bound) | both_nan))
    finite = difference[~both_nan]
    return (float(numpy.nanmax(finite)) if finite.size else 0.0), within


def _result(passed: bool, samples: Array, diff: float, labels_equal: bool | None,
            detail: str) -> dict[str, Any]:
    return {"passed": passed, "samples": int(samples.shape[0]), "max_abs_diff": diff, "tolerance": TOLERANCE,
            "labels_equal": labels_equal, "detail": detail}
