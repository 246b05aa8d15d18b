"""The compiled library's batch path (trees as arrays, a block of rows a tree at a time) against TL2cgen's
row-at-a-time predict(): the same outputs, bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy
import pytest
import xgboost
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier

from modelbay.container import compiled_models
from modelbay.container.neo import tree_arrays
from tests.unit.container.neo.conftest import Compile, joblib_bytes

Data = tuple[numpy.ndarray, numpy.ndarray]


@pytest.fixture
def arrays_for_small_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """The array path for these tests' small ensembles too (it is taken from MIN_NODES nodes)."""
    monkeypatch.setattr(tree_arrays, "MIN_NODES", 0)


def rows_one_at_a_time(model_dir: Path, features: numpy.ndarray) -> numpy.ndarray:
    """Each row alone: fewer rows than a group go through TL2cgen's predict()."""
    compiled = compiled_models.load(model_dir)
    return numpy.concatenate([compiled.predict_proba(features[i:i + 1]) if compiled.output == "labels"
                              else compiled.predict(features[i:i + 1]) for i in range(len(features))])


def batch(model_dir: Path, features: numpy.ndarray) -> numpy.ndarray:
    compiled = compiled_models.load(model_dir)
    return compiled.predict_proba(features) if compiled.output == "labels" else compiled.predict(features)


@pytest.mark.usefixtures("arrays_for_small_models")
def test_a_forest_batch_equals_its_rows_bit_for_bit(compile_files: Compile, data: Data) -> None:
    features, labels = data
    forest = RandomForestClassifier(n_estimators=15, max_depth=8, random_state=0).fit(features, labels)
    manifest, model_dir = compile_files({"model.joblib": joblib_bytes(forest)}, "SKLEARN")
    assert manifest["native"]["batch_path"] == "arrays" and manifest["verification"]["passed"]
    rows = features[:300]  # past one block of 256 rows, and a remainder short of a group of 8
    assert numpy.array_equal(batch(model_dir, rows), rows_one_at_a_time(model_dir, rows))


@pytest.mark.usefixtures("arrays_for_small_models")
def test_a_boosted_regressor_batch_equals_its_rows_bit_for_bit(compile_files: Compile, data: Data) -> None:
    features, _ = data
    regressor = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(features, features[:, 0] * 2)
    manifest, model_dir = compile_files({"model.pkl": joblib_bytes(regressor)}, "SKLEARN")
    assert manifest["native"]["batch_path"] == "arrays"
    assert numpy.array_equal(batch(model_dir, features[:77]), rows_one_at_a_time(model_dir, features[:77]))


@pytest.mark.usefixtures("arrays_for_small_models")
def test_xgboost_multiclass_with_missing_values_batch_equals_its_rows(
        compile_files: Compile, data: Data, tmp_path: Path) -> None:
    features, _ = data
    classes = (features[:, 0] > 0).astype(int) + (features[:, 1] > 0.5).astype(int)
    booster = xgboost.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 5},
                            xgboost.DMatrix(features, classes), 10)
    booster.save_model(str(tmp_path / "model.json"))
    manifest, model_dir = compile_files({"xgboost-model": (tmp_path / "model.json").read_bytes()}, "XGBOOST")
    assert manifest["native"]["batch_path"] == "arrays" and manifest["native"]["leaf_output_type"] == "float32"
    rows = features[:120].copy()
    rows[::3, 0] = numpy.nan
    rows[1::5, 1] = numpy.nan
    expected = booster.predict(xgboost.DMatrix(rows))
    assert numpy.array_equal(batch(model_dir, rows), rows_one_at_a_time(model_dir, rows))
    numpy.testing.assert_allclose(batch(model_dir, rows), expected, atol=1e-5)


def test_a_small_ensemble_keeps_tl2cgen_code_for_batches(compile_files: Compile, data: Data) -> None:
    features, labels = data
    forest = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(features, labels)
    manifest, model_dir = compile_files({"model.joblib": joblib_bytes(forest)}, "SKLEARN")
    assert manifest["native"]["batch_path"] == "rows" and manifest["verification"]["passed"]
    numpy.testing.assert_allclose(batch(model_dir, features), forest.predict_proba(features), atol=1e-12)


def one_tree(**split: Any) -> dict[str, Any]:
    nodes = [{"node_id": 0, "node_type": "numerical_test_node", "comparison_op": "<=", "threshold": 0.5,
              "split_feature_id": 0, "default_left": True, "left_child": 1, "right_child": 2, **split},
             {"node_id": 1, "leaf_value": 1.0}, {"node_id": 2, "leaf_value": 2.0}]
    return {"threshold_type": "float64", "leaf_output_type": "float64", "num_target": 1, "num_class": [1],
            "target_id": [0], "class_id": [0], "trees": [{"nodes": nodes, "has_categorical_split": False}]}


def test_a_numerical_tree_becomes_a_table_whose_leaves_loop_onto_themselves() -> None:
    source = tree_arrays.forest_source(one_tree())
    assert "{0.5, 0, {1, 2}, 1, -1}" in source and "{0, 0, {1, 1}, 1, 0}" in source
    assert "{0, 1, 0, 1}" in source  # root 0, depth 1, into result[0], one value


@pytest.mark.parametrize("split", [{"node_type": "categorical_test_node"}])
def test_an_ensemble_outside_the_layout_is_unsupported(split: dict[str, Any]) -> None:
    with pytest.raises(tree_arrays.Unsupported):
        tree_arrays.forest_source(one_tree(**split))


def test_predict_in_another_form_is_unsupported() -> None:
    with pytest.raises(tree_arrays.Unsupported):
        tree_arrays.finish_function("void predict(float* x) {}\n", units=1)
