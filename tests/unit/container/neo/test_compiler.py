"""Compiling tree ensembles to native code and other models to ONNX, checked against the originals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy
import pytest
import xgboost
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelbay.container import compiled_models
from modelbay.container.neo import compiler
from modelbay.container.neo.errors import CompilationError
from tests.unit.container.neo.conftest import Compile, joblib_bytes

Data = tuple[numpy.ndarray, numpy.ndarray]


def test_random_forest_compiles_to_a_native_library_that_predicts_labels(compile_files: Compile, data: Data) -> None:
    features, labels = data
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(features, labels)
    manifest, model_dir = compile_files({"model.joblib": joblib_bytes(forest)}, "SKLEARN")
    assert manifest["runtime"] == "native" and (model_dir / "model.so").is_file()
    assert manifest["output"] == "labels" and manifest["classes"] == [0, 1]
    assert manifest["verification"]["passed"] and manifest["verification"]["labels_equal"]
    assert manifest["verification"]["samples"] == 256
    compiled = compiled_models.load(model_dir)
    assert numpy.array_equal(compiled.predict(features), forest.predict(features))
    numpy.testing.assert_allclose(compiled.predict_proba(features), forest.predict_proba(features), atol=1e-6)


def test_gradient_boosting_regressor_gives_values_within_tolerance(compile_files: Compile, data: Data) -> None:
    features, _ = data
    target = features[:, 0] * 3 - features[:, 3]
    regressor = GradientBoostingRegressor(n_estimators=30, random_state=0).fit(features, target)
    manifest, model_dir = compile_files({"model.pkl": joblib_bytes(regressor)}, "SKLEARN")
    assert manifest["output"] == "values" and manifest["classes"] is None
    compiled = compiled_models.load(model_dir)
    numpy.testing.assert_allclose(compiled.predict(features), regressor.predict(features), atol=1e-5, rtol=1e-5)
    assert compiled.predict(features).shape == (len(features),)


def test_hist_gradient_boosting_classifier_compiles_natively(compile_files: Compile, data: Data) -> None:
    features, labels = data
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(features, labels)
    manifest, model_dir = compile_files({"model.joblib": joblib_bytes(model)}, "SKLEARN")
    assert manifest["runtime"] == "native" and manifest["verification"]["passed"]
    assert numpy.array_equal(compiled_models.load(model_dir).predict(features), model.predict(features))


def test_xgboost_booster_gives_probabilities_as_the_xgboost_container(
        compile_files: Compile, data: Data, tmp_path: Path) -> None:
    features, labels = data
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 4}, xgboost.DMatrix(features, labels), 20)
    saved = tmp_path / "xgboost-model"
    booster.save_model(str(saved.with_suffix(".json")))
    manifest, model_dir = compile_files({"xgboost-model": saved.with_suffix(".json").read_bytes()}, "XGBOOST")
    assert manifest["runtime"] == "native" and manifest["output"] == "probabilities"
    compiled = compiled_models.load(model_dir)
    expected = booster.predict(xgboost.DMatrix(features))
    numpy.testing.assert_allclose(compiled.predict(features), expected, atol=1e-5)
    assert compiled.predict(features).shape == expected.shape


def test_xgboost_multiclass_and_missing_values(compile_files: Compile, data: Data, tmp_path: Path) -> None:
    features, _ = data
    classes = numpy.digitize(features[:, 0], [-0.5, 0.5])
    booster = xgboost.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3},
                            xgboost.DMatrix(features, classes), 10)
    saved = tmp_path / "model.json"
    booster.save_model(str(saved))
    _, model_dir = compile_files({"model.json": saved.read_bytes()}, "XGBOOST")
    holes = features.copy()
    holes[::3, 0] = numpy.nan
    numpy.testing.assert_allclose(compiled_models.load(model_dir).predict(holes),
                                  booster.predict(xgboost.DMatrix(holes)), atol=1e-5)


def test_logistic_regression_pipeline_compiles_to_optimised_onnx(compile_files: Compile, data: Data) -> None:
    features, labels = data
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(features, labels)
    manifest, model_dir = compile_files({"model.joblib": joblib_bytes(pipeline)}, "SKLEARN")
    assert manifest["runtime"] == "onnxruntime" and (model_dir / "model.onnx").is_file()
    assert manifest["onnx"]["graph_optimization_level"] == "extended"
    compiled = compiled_models.load(model_dir)
    assert numpy.array_equal(compiled.predict(features), pipeline.predict(features))
    numpy.testing.assert_allclose(compiled.predict_proba(features), pipeline.predict_proba(features), atol=1e-5)


def test_a_forest_for_an_arm_target_without_a_cross_compiler_becomes_portable_onnx(
        compile_files: Compile, data: Data) -> None:
    features, labels = data
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(features, labels)
    manifest, model_dir = compile_files({"model.joblib": joblib_bytes(forest)}, "SKLEARN", device="rasp4b")
    assert manifest["runtime"] == "onnxruntime" and manifest["target"]["Arch"] == "aarch64"
    assert manifest["onnx"]["graph_optimization_level"] == "basic"
    assert numpy.array_equal(compiled_models.load(model_dir).predict(features), forest.predict(features))


def test_sample_inputs_given_in_compiler_options_are_the_ones_checked(compile_files: Compile, data: Data) -> None:
    features, labels = data
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(features, labels)
    options = json.dumps({"sample-inputs": features[:10].tolist()})
    manifest, _ = compile_files({"model.joblib": joblib_bytes(forest)}, "SKLEARN", CompilerOptions=options)
    assert manifest["verification"]["samples"] == 10


def test_a_tampered_compiled_model_fails_verification(
        compile_files: Compile, data: Data, monkeypatch: pytest.MonkeyPatch) -> None:
    features, labels = data
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(features, labels)
    other = RandomForestClassifier(n_estimators=5, random_state=1).fit(features, 1 - labels)
    original_import = compiler.trees.treelite_model
    monkeypatch.setattr(compiler.trees, "treelite_model",
                        lambda model: original_import(type(model)(**{**vars(model), "model": other})))
    with pytest.raises(CompilationError, match="^compiled model's outputs differ from the original's: "):
        compile_files({"model.joblib": joblib_bytes(forest)}, "SKLEARN")


def test_a_missing_model_file_is_a_reason(compile_files: Compile) -> None:
    with pytest.raises(CompilationError, match="cannot find the SKLEARN model"):
        compile_files({"readme.txt": b"nothing here"}, "SKLEARN")


def test_data_input_config_must_match_the_model(compile_files: Compile, data: Data) -> None:
    features, labels = data
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(features, labels)
    with pytest.raises(CompilationError, match="does not match the model's 6 features"):
        compile_files({"model.joblib": joblib_bytes(forest)}, "SKLEARN", DataInputConfig='{"input0": [1, 4]}')
