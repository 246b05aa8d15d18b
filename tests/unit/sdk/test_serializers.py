"""Serializers and deserializers: the bodies they write, the values they read, and numpy as an option."""

from __future__ import annotations

import io
import sys
from typing import Any

import numpy as np
import pytest

from modelbay.sdk import (
    BytesDeserializer,
    CSVDeserializer,
    CSVSerializer,
    JSONDeserializer,
    JSONSerializer,
    NumpyDeserializer,
    NumpySerializer,
    StringDeserializer,
)


class Frame:
    """What CSVSerializer uses of a pandas DataFrame."""

    def to_csv(self, header: bool, index: bool) -> str:
        assert (header, index) == (False, False)
        return "1,2\n3,4\n"


@pytest.mark.parametrize(("data", "expected"), [
    ([1, 2.5, "x"], "1,2.5,x"),
    ([[1, 2], [3, 4]], "1,2\n3,4"),
    ((("a,b", 1),), '"a,b",1'),  # a field holding the delimiter is quoted
    (["1,2", "3,4"], "1,2\n3,4"),  # strings are lines, as in the SageMaker SDK
    (np.array([1.5, 2.0]), "1.5,2.0"),
    (np.array([[1, 2], [3, 4]]), "1,2\n3,4"),
    ("1,2\n3,4", "1,2\n3,4"),
    (b"1,2", b"1,2"),
    (io.StringIO("5,6"), "5,6"),
    (Frame(), "1,2\n3,4\n"),
])
def test_csv_serializer_writes_rows(data: Any, expected: str | bytes) -> None:
    assert CSVSerializer().serialize(data) == expected
    assert CSVSerializer.CONTENT_TYPE == "text/csv"


@pytest.mark.parametrize("data", [[], [[]], 7, {"a": 1}])
def test_csv_serializer_refuses_what_has_no_rows(data: Any) -> None:
    with pytest.raises(ValueError, match="as (a )?CSV"):
        CSVSerializer().serialize(data)


@pytest.mark.parametrize(("data", "expected"), [
    ({"instances": [[1, 2]]}, '{"instances": [[1, 2]]}'),
    ([1, 2], "[1, 2]"),
    ({"array": np.array([[1, 2]]), "scalar": np.float64(0.5)}, '{"array": [[1, 2]], "scalar": 0.5}'),
    ('{"a": 1}', '{"a": 1}'),
    (io.BytesIO(b"[3]"), b"[3]"),
])
def test_json_serializer(data: Any, expected: str | bytes) -> None:
    assert JSONSerializer().serialize(data) == expected
    assert JSONSerializer.CONTENT_TYPE == "application/json"


def test_json_serializer_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        JSONSerializer().serialize({"x": object()})


def test_numpy_serializer_writes_npy_that_numpy_reads_back() -> None:
    written = NumpySerializer().serialize([[1, 2], [3, 4]])
    assert isinstance(written, bytes) and written.startswith(b"\x93NUMPY")
    assert np.load(io.BytesIO(written)).tolist() == [[1, 2], [3, 4]]
    as_float = np.load(io.BytesIO(NumpySerializer(dtype="float32").serialize([1, 2])))  # type: ignore[arg-type]
    assert as_float.dtype == np.float32
    assert NumpySerializer().serialize(b"\x93NUMPY...") == b"\x93NUMPY..."
    assert NumpySerializer.CONTENT_TYPE == "application/x-npy"
    with pytest.raises(ValueError, match="empty array"):
        NumpySerializer().serialize([])


def npy(array: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array))
    return buffer.getvalue()


@pytest.mark.parametrize(("deserializer", "content_type", "data", "expected", "accept"), [
    (BytesDeserializer(), "application/octet-stream", b"\x00\x01", b"\x00\x01", ("*/*",)),
    (StringDeserializer(), "application/json", "é".encode(), "é", ("application/json",)),
    (StringDeserializer("latin-1", accept="text/plain"), "text/plain", "é".encode("latin-1"), "é", ("text/plain",)),
    (CSVDeserializer(), "text/csv", b'1,2\n"a,b",3\n', [["1", "2"], ["a,b", "3"]], ("text/csv",)),
    (JSONDeserializer(), "application/json", b'{"predictions": [1.5]}', {"predictions": [1.5]},
     ("application/json",)),
])
def test_deserializers(deserializer: Any, content_type: str, data: bytes, expected: Any,
                       accept: tuple[str, ...]) -> None:
    assert deserializer.deserialize(io.BytesIO(data), content_type) == expected
    assert tuple(deserializer.ACCEPT) == accept


@pytest.mark.parametrize(("content_type", "data"), [
    ("application/x-npy", npy([[1.0, 2.0], [3.0, 4.0]])),
    ("application/json", b"[[1, 2], [3, 4]]"),
    ("text/csv; charset=utf-8", b"1,2\n3,4\n"),
])
def test_numpy_deserializer_reads_npy_json_and_csv(content_type: str, data: bytes) -> None:
    array = NumpyDeserializer().deserialize(io.BytesIO(data), content_type)
    assert isinstance(array, np.ndarray) and array.tolist() == [[1, 2], [3, 4]]
    assert NumpyDeserializer().ACCEPT == ("application/x-npy",)


def test_numpy_deserializer_keeps_a_csv_row_two_dimensional_and_refuses_other_types() -> None:
    assert NumpyDeserializer().deserialize(io.BytesIO(b"1,2"), "text/csv").tolist() == [[1, 2]]
    assert NumpyDeserializer(dtype="int64").deserialize(io.BytesIO(b"[1, 2]"), "application/json").dtype == np.int64
    with pytest.raises(ValueError, match="cannot read an answer of type 'text/plain' as a numpy array"):
        NumpyDeserializer().deserialize(io.BytesIO(b"hi"), "text/plain")


def test_without_numpy_only_the_numpy_ones_fail_and_they_say_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy now raises ModuleNotFoundError
    assert CSVSerializer().serialize([[1, 2]]) == "1,2"
    assert JSONSerializer().serialize([1]) == "[1]"
    for call in (lambda: NumpySerializer().serialize([1]),
                 lambda: NumpyDeserializer().deserialize(io.BytesIO(b"[1]"), "application/json")):
        with pytest.raises(ImportError, match="NumpySerializer and NumpyDeserializer need numpy: pip install numpy"):
            call()
