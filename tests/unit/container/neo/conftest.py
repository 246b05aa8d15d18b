"""Models packed as SageMaker's containers save them, and a compilation of one into a temp directory."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy
import pytest

from modelbay import compilation_targets
from modelbay.container.neo.compiler import compile_model

Compile = Callable[..., tuple[dict[str, Any], Path]]


def pack(files: dict[str, bytes], into: Path) -> Path:
    """A model.tar.gz of `files`."""
    archive = into / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def joblib_bytes(model: Any) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


@pytest.fixture
def data() -> tuple[numpy.ndarray, numpy.ndarray]:
    rng = numpy.random.default_rng(7)
    features = rng.standard_normal((400, 6)).astype(numpy.float32)
    labels = (features[:, 0] + 0.5 * features[:, 1] - features[:, 2] > 0).astype(int)
    return features, labels


def compile_in(job: Path, files: dict[str, bytes], framework: str, device: str = "ml_c5",
               **config: Any) -> tuple[dict[str, Any], Path]:
    """Compile the tar of `files` for `device` under `job`; the manifest and the compiled model's directory."""
    job.mkdir(parents=True, exist_ok=True)
    target = compilation_targets.resolve({"TargetDevice": device}, framework)
    full = {"Framework": framework, "Target": target.as_config(), **config}
    return compile_model(full, pack(files, job), job / "model", job / "work"), job / "model"


@pytest.fixture
def compile_files(tmp_path: Path) -> Compile:
    """compile_in, each call in a job directory of its own."""
    counter = iter(range(1000))

    def run(files: dict[str, bytes], framework: str, device: str = "ml_c5",
            **config: Any) -> tuple[dict[str, Any], Path]:
        return compile_in(tmp_path / f"job{next(counter)}", files, framework, device, **config)

    return run
