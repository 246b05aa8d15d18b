"""The models an edge agent serves: loaded, health-checked, and held in a table that is swapped whole.

A request reads `ModelTable.current` once and uses what it got, so it sees one consistent set of models without a
lock, however a deployment changes the table meanwhile (as serving/router.py publishes its routes).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import numpy
from numpy.typing import NDArray


class Predictor(Protocol):
    """What the agent needs of a loaded model (modelbay.container.compiled_models.CompiledModel)."""

    manifest: dict[str, Any]

    def predict(self, rows: NDArray[Any]) -> NDArray[Any]: ...

    def sample_input(self) -> NDArray[Any]: ...


Loader = Callable[[Path], Predictor]


class HealthCheckFailed(Exception):
    """A model that loaded but does not answer its own sample input with finite numbers."""


@dataclass(frozen=True)
class LoadedModel:
    """One model serving under its handle: the package's name and version, where its files are, when it loaded."""

    handle: str
    name: str
    version: str
    path: Path
    model: Predictor
    loaded_at: float  # epoch seconds
    width: int  # the numbers in a row (a model of more axes takes its rows flattened)


def load_checked(handle: str, name: str, version: str, path: Path, loader: Loader) -> LoadedModel:
    """Load the model at `path` and predict on its sample input; raise HealthCheckFailed (or the loader's error)."""
    model = loader(path)
    try:
        sample = numpy.asarray(model.sample_input(), dtype=numpy.float32)
        answer = numpy.asarray(model.predict(sample))
    except Exception as err:
        raise HealthCheckFailed(f"the model failed its health check: {type(err).__name__}: {err}") from err
    if answer.dtype.kind in "fc" and not numpy.isfinite(answer).all():
        raise HealthCheckFailed("the model failed its health check: it answered its sample input with "
                                "non-finite values")
    if len(answer) != len(sample):
        raise HealthCheckFailed(f"the model failed its health check: {len(sample)} sample rows gave "
                                f"{len(answer)} answers")
    return LoadedModel(handle, name, version, path, model, time.time(),
                       int(numpy.prod(sample.shape[1:])))


class ModelTable:
    """handle → LoadedModel, replaced whole by `swap`; readers take `current` without locking."""

    def __init__(self) -> None:
        self.current: Mapping[str, LoadedModel] = MappingProxyType({})
        self._writing = threading.Lock()

    def swap(self, changes: Mapping[str, LoadedModel | None]) -> Mapping[str, LoadedModel]:
        """Put each model in `changes` under its handle (None: remove the handle) in one step; return the old table."""
        with self._writing:
            old = self.current
            new = {**old, **{handle: model for handle, model in changes.items() if model is not None}}
            for handle in (handle for handle, model in changes.items() if model is None):
                new.pop(handle, None)
            self.current = MappingProxyType(new)
        return old
