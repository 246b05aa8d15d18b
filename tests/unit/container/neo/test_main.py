"""The compiler program under a /opt/ml of its own: the compiled model, or the failure file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy
from sklearn.ensemble import RandomForestRegressor

from modelbay import compilation_targets
from modelbay.container import compiled_models
from modelbay.container.neo.__main__ import run
from tests.unit.container.neo.conftest import joblib_bytes, pack


def _job(prefix: Path, files: dict[str, bytes]) -> None:
    config = prefix / "input" / "config"
    config.mkdir(parents=True)
    target = compilation_targets.resolve({"TargetDevice": "ml_m5"}, "SKLEARN").as_config()
    (config / "compilation.json").write_text(json.dumps({"Framework": "SKLEARN", "Target": target}))
    data = prefix / "input" / "data" / "model"
    data.mkdir(parents=True)
    shutil.move(pack(files, prefix), data / "model.tar.gz")


def test_the_program_writes_the_compiled_model(tmp_path: Path) -> None:
    rows = numpy.random.default_rng(3).standard_normal((100, 4)).astype(numpy.float32)
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(rows, rows[:, 0])
    _job(tmp_path, {"model.joblib": joblib_bytes(forest)})
    assert run(tmp_path) == 0
    assert compiled_models.load(tmp_path / "model").manifest["verification"]["passed"]
    assert not (tmp_path / "output" / "failure").exists()


def test_the_program_writes_the_reason_of_a_failure(tmp_path: Path) -> None:
    _job(tmp_path, {"model.joblib": b"not a pickle"})
    assert run(tmp_path) == 1
    assert "cannot load model.joblib as a SKLEARN model" in (tmp_path / "output" / "failure").read_text()
