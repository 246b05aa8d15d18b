from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy
import pytest
from numpy.typing import NDArray

from modelbay.edge.models import HealthCheckFailed, LoadedModel, ModelTable, load_checked
from tests.unit.edge.packaging import FakeModel


def _loaded(handle: str, version: str) -> LoadedModel:
    return LoadedModel(handle, handle, version, Path("/m"), FakeModel({}), 0.0, 3)


def test_a_swap_replaces_the_table_whole_and_readers_keep_what_they_took() -> None:
    table = ModelTable()
    table.swap({"a": _loaded("a", "1"), "b": _loaded("b", "1")})
    taken = table.current
    old = table.swap({"a": _loaded("a", "2"), "b": None})
    assert old is taken and taken["a"].version == "1" and set(taken) == {"a", "b"}  # unchanged for its reader
    assert {h: m.version for h, m in table.current.items()} == {"a": "2"}
    with pytest.raises(TypeError):
        table.current["c"] = _loaded("c", "1")  # type: ignore[index]  # the table is read-only


class _Raising(FakeModel):
    def predict(self, rows: NDArray[Any]) -> NDArray[Any]:
        raise RuntimeError("bad weights")


class _Short(FakeModel):
    def predict(self, rows: NDArray[Any]) -> NDArray[Any]:
        return numpy.zeros(1)


@pytest.mark.parametrize(("model", "reason"), [
    (FakeModel({"broken": True}), "non-finite"), (_Raising({}), "RuntimeError: bad weights"),
    (_Short({}), "2 sample rows gave 1 answers")])
def test_the_health_check_refuses_a_model_that_does_not_answer_its_sample(model: FakeModel, reason: str) -> None:
    with pytest.raises(HealthCheckFailed, match=reason):
        load_checked("h", "n", "1", Path("/m"), lambda _: model)


def test_a_healthy_model_is_loaded_with_its_row_width() -> None:
    loaded = load_checked("h", "n", "1", Path("/m"), lambda _: FakeModel({}))
    assert (loaded.handle, loaded.width) == ("h", 3)
