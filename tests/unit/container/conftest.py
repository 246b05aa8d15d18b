"""The model-server tests' fixtures: the scikit-learn framework layer's python, and an /opt/ml per server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.container.serving import sklearn_layer


@pytest.fixture(scope="module")
def python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sklearn_layer(tmp_path_factory.mktemp("layer") / "venv")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An /opt/ml for one server: model/ and code/."""
    (tmp_path / "model").mkdir()
    (tmp_path / "code").mkdir()
    return tmp_path
