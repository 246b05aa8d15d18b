"""Loading compiled models: what is compiled, a bad manifest's reason, the sample input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy
import pytest
from sklearn.linear_model import LinearRegression

from modelbay.container import compiled_models
from tests.unit.container.neo.conftest import compile_in, joblib_bytes


def test_a_directory_is_compiled_when_it_has_the_manifest(tmp_path: Path) -> None:
    assert not compiled_models.is_compiled(tmp_path)
    (tmp_path / compiled_models.MANIFEST).write_text("{}")
    assert compiled_models.is_compiled(tmp_path)


def test_an_unknown_runtime_or_a_bad_manifest_is_a_reason(tmp_path: Path) -> None:
    (tmp_path / compiled_models.MANIFEST).write_text(json.dumps({"runtime": "tvm"}))
    with pytest.raises(compiled_models.CompiledModelError, match="unknown compiled-model runtime 'tvm'"):
        compiled_models.load(tmp_path)
    (tmp_path / compiled_models.MANIFEST).write_text("not json")
    with pytest.raises(compiled_models.CompiledModelError, match="cannot read"):
        compiled_models.load(tmp_path)


def test_a_regressor_gives_one_value_a_row_and_has_no_probabilities(tmp_path: Path) -> None:
    rows = numpy.random.default_rng(1).standard_normal((50, 3)).astype(numpy.float32)
    regressor = LinearRegression().fit(rows, rows @ numpy.array([1.0, -2.0, 0.5]))
    _, model_dir = compile_in(tmp_path, {"model.joblib": joblib_bytes(regressor)}, "SKLEARN")
    model = compiled_models.load(model_dir)
    sample = model.sample_input()
    assert sample.shape == (1, 3) and sample.dtype == numpy.float32
    numpy.testing.assert_allclose(model.predict(rows), regressor.predict(rows), rtol=1e-5, atol=1e-5)
    with pytest.raises(compiled_models.CompiledModelError, match="no classifier"):
        model.predict_proba(rows)
