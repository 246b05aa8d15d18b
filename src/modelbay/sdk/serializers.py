"""Request bodies from Python values and answers back, as the SageMaker SDK's serializers and deserializers.

A serializer names the Content-Type it writes (`CONTENT_TYPE`); a deserializer the types it asks
for in Accept (`ACCEPT`, most wanted first) and reads the answer's stream. The names follow the
SageMaker SDK so that its users' own serializers work here unchanged. numpy is optional: only
NumpySerializer and NumpyDeserializer import it, with a clear error where it is missing (the others
take numpy arrays through their `tolist()`).
"""

from __future__ import annotations

import abc
import csv
import importlib
import io
import json
from collections.abc import Sequence
from types import ModuleType
from typing import Any, BinaryIO

CSV, JSON, NPY = "text/csv", "application/json", "application/x-npy"


class Serializer(abc.ABC):
    """Turns the data given to `Predictor.predict` into a request body of type CONTENT_TYPE."""

    CONTENT_TYPE: str

    @abc.abstractmethod
    def serialize(self, data: Any) -> bytes | str:
        """The body; ValueError if `data` cannot be written as CONTENT_TYPE."""


class Deserializer(abc.ABC):
    """Turns an answer's body into a Python value."""

    ACCEPT: tuple[str, ...]

    @abc.abstractmethod
    def deserialize(self, stream: BinaryIO, content_type: str) -> Any:
        """The value the stream holds; `content_type` is the one the model answered with."""


class CSVSerializer(Serializer):
    """A row per line: a flat sequence is one row; a sequence of sequences (or a 2-D array) or of strings (lines
    already written, as in the SageMaker SDK) several rows.

    A str, bytes or readable file is sent as it is; a pandas DataFrame as its values without header or index.
    """

    CONTENT_TYPE = CSV

    def serialize(self, data: Any) -> bytes | str:
        if (ready := _ready(data)) is not None:
            return ready
        if hasattr(data, "to_csv"):
            return str(data.to_csv(header=False, index=False))
        rows = data.tolist() if hasattr(data, "tolist") else data
        if not isinstance(rows, Sequence) or not rows:
            raise ValueError(f"cannot write {type(data).__name__} {data!r} as CSV: give a non-empty sequence")
        several = _is_sequence(rows[0]) or isinstance(rows[0], str)
        return "\n".join(_csv_row(row) for row in rows) if several else _csv_row(rows)


class JSONSerializer(Serializer):
    """JSON text of the data; numpy arrays and scalars become lists and numbers. A str, bytes or file goes as is."""

    CONTENT_TYPE = JSON

    def serialize(self, data: Any) -> bytes | str:
        ready = _ready(data)
        return json.dumps(data, default=_jsonable) if ready is None else ready


class NumpySerializer(Serializer):
    """numpy's .npy format (no pickles) of an array, or of the array numpy makes of a list; bytes go as they are."""

    CONTENT_TYPE = NPY

    def __init__(self, dtype: str | None = None) -> None:
        self.dtype = dtype

    def serialize(self, data: Any) -> bytes | str:
        if (ready := _ready(data, text=False)) is not None:  # a file's contents are .npy already
            return ready
        array = numpy().asarray(data, dtype=self.dtype)
        if array.size == 0:
            raise ValueError("cannot serialize an empty array")
        buffer = io.BytesIO()
        numpy().save(buffer, array, allow_pickle=False)
        return buffer.getvalue()


class BytesDeserializer(Deserializer):
    """The body's bytes, whatever its type."""

    ACCEPT = ("*/*",)

    def deserialize(self, stream: BinaryIO, content_type: str) -> Any:
        return stream.read()


class StringDeserializer(Deserializer):
    """The body decoded as text."""

    def __init__(self, encoding: str = "utf-8", accept: str = JSON) -> None:
        self.encoding, self.ACCEPT = encoding, (accept,)

    def deserialize(self, stream: BinaryIO, content_type: str) -> Any:
        return stream.read().decode(self.encoding)


class CSVDeserializer(Deserializer):
    """A list of rows, each a list of the fields' strings."""

    def __init__(self, encoding: str = "utf-8", accept: str = CSV) -> None:
        self.encoding, self.ACCEPT = encoding, (accept,)

    def deserialize(self, stream: BinaryIO, content_type: str) -> Any:
        return list(csv.reader(io.StringIO(stream.read().decode(self.encoding))))


class JSONDeserializer(Deserializer):
    """The JSON value of the body."""

    def __init__(self, accept: str = JSON) -> None:
        self.ACCEPT = (accept,)

    def deserialize(self, stream: BinaryIO, content_type: str) -> Any:
        return json.loads(stream.read())


class NumpyDeserializer(Deserializer):
    """A numpy array from whichever of .npy, JSON or CSV the model answered with (ValueError for another)."""

    def __init__(self, dtype: str | None = None, accept: str = NPY, allow_pickle: bool = False) -> None:
        self.dtype, self.ACCEPT, self.allow_pickle = dtype, (accept,), allow_pickle

    def deserialize(self, stream: BinaryIO, content_type: str) -> Any:
        kind, body = content_type.partition(";")[0].strip().lower(), stream.read()
        if kind == NPY:
            return numpy().load(io.BytesIO(body), allow_pickle=self.allow_pickle)
        if kind == JSON:
            return numpy().asarray(json.loads(body), dtype=self.dtype)
        if kind == CSV:
            return numpy().genfromtxt(io.BytesIO(body), delimiter=",", dtype=self.dtype or float, ndmin=2)
        raise ValueError(f"cannot read an answer of type {content_type!r} as a numpy array "
                         f"(readable: {NPY}, {JSON}, {CSV})")


def numpy() -> ModuleType:
    """numpy, imported on first use; ImportError saying how to get it where it is missing."""
    try:
        return importlib.import_module("numpy")
    except ModuleNotFoundError:
        raise ImportError("NumpySerializer and NumpyDeserializer need numpy: pip install numpy") from None


def _ready(data: Any, *, text: bool = True) -> bytes | str | None:
    """What goes as it is: bytes (and, with `text`, a str) or a file's contents; None for data to serialize."""
    if isinstance(data, bytes) or (text and isinstance(data, str)):
        return data
    if hasattr(data, "read"):
        return data.read()  # type: ignore[no-any-return]  # a file's contents, str or bytes
    return None


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _csv_row(row: Any) -> str:
    if isinstance(row, str):
        return row
    if not _is_sequence(row) or not row:
        raise ValueError(f"cannot write {row!r} as a CSV row: give a non-empty sequence of values")
    buffer = io.StringIO()
    csv.writer(buffer).writerow(row)
    return buffer.getvalue().rstrip("\r\n")


def _jsonable(value: Any) -> Any:
    """numpy arrays and scalars as lists and Python numbers; TypeError for anything else JSON cannot hold."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
