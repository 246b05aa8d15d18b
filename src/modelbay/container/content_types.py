"""The default content types of the model server, decoded to and encoded from numpy arrays.

As SageMaker's inference toolkits: `text/csv` (rows of comma-separated values, a 2-D array),
`application/json` (a list, or `{"instances": [...]}`) and `application/x-npy` (numpy's own
format, without pickles). numpy is imported when first needed: it is the framework's.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
from typing import Any

JSON = "application/json"
CSV = "text/csv"
NPY = "application/x-npy"
ANY = "*/*"
SUPPORTED = (JSON, CSV, NPY)
UTF8_TYPES = frozenset({JSON, CSV})  # bodies handlers receive as str, as the toolkits pass them


class UnsupportedContentType(Exception):
    """A content type (or Accept) the handler cannot decode or encode; the server answers 415."""

    def __init__(self, content_type: str, supported: tuple[str, ...] = SUPPORTED) -> None:
        super().__init__(f"content type {content_type!r} is not supported (supported: {', '.join(supported)})")
        self.content_type = content_type


def media_type(content_type: str) -> str:
    """`text/csv; charset=utf-8` → `text/csv`."""
    return content_type.partition(";")[0].strip().lower()


def decode(body: str | bytes, content_type: str) -> Any:
    """The numpy array a request body holds; raise UnsupportedContentType, or ValueError if malformed."""
    kind = media_type(content_type)
    if kind == CSV:
        return _csv_to_array(body if isinstance(body, str) else body.decode("utf-8"))
    if kind == JSON:
        value = json.loads(body)
        return _numpy().asarray(value["instances"] if isinstance(value, dict) and "instances" in value else value)
    if kind == NPY:
        return _numpy().load(io.BytesIO(body.encode() if isinstance(body, str) else body), allow_pickle=False)
    raise UnsupportedContentType(content_type)


def encode(prediction: Any, accept: str) -> tuple[bytes, str]:
    """The prediction as the best type `accept` allows, with that type; raise UnsupportedContentType."""
    kind = negotiate(accept)
    if kind == JSON:
        return json.dumps(prediction, default=_jsonable).encode(), JSON
    if kind == CSV:
        return _array_to_csv(_numpy().asarray(prediction)).encode(), CSV
    buffer = io.BytesIO()
    _numpy().save(buffer, _numpy().asarray(prediction), allow_pickle=False)
    return buffer.getvalue(), NPY


def negotiate(accept: str, default: str = JSON) -> str:
    """The supported type an Accept header prefers most (`*/*`: `default`); raise UnsupportedContentType."""
    if accept in SUPPORTED:  # the usual case: one exact type
        return accept
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept.split(",")):
        kind, _, params = item.partition(";")
        quality = next((p.split("=", 1)[1] for p in params.split(";") if p.strip().startswith("q=")), "1")
        try:
            ranked.append((-float(quality), index, kind.strip().lower()))
        except ValueError:
            continue
    for rank, _, kind in sorted(ranked):
        match = default if kind == ANY else next((t for t in SUPPORTED if _matches(kind, t)), None)
        if match is not None and rank < 0:  # q=0: not acceptable
            return match
    raise UnsupportedContentType(accept)


def _matches(pattern: str, content_type: str) -> bool:
    return pattern == content_type or (pattern.endswith("/*") and content_type.startswith(pattern[:-1]))


def _csv_to_array(text: str) -> Any:
    """Rows of numbers as a float array, the quick way; other CSV (quoted, text) as a str array."""
    np = _numpy()
    rows = [line.split(",") for line in text.splitlines() if line]
    if not rows:
        raise ValueError("the text/csv body holds no rows")
    try:
        return np.array(rows, dtype=float)
    except ValueError:
        return np.array([row for row in csv.reader(io.StringIO(text)) if row])


def _array_to_csv(array: Any) -> str:
    """One line per row (a 1-D array: one value per line), as numpy.savetxt writes them."""
    if array.ndim > 2:
        raise ValueError(f"text/csv holds 1-D or 2-D predictions, not shape {array.shape}")
    rows = array.reshape(-1, 1) if array.ndim < 2 else array
    return "".join(",".join(map(str, row)) + "\n" for row in rows.tolist())


def _jsonable(value: Any) -> Any:
    """Arrays, tensors and numpy scalars as lists and numbers, for json.dumps."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"a prediction of type {type(value).__name__} cannot be encoded as JSON")


def _numpy() -> Any:
    return importlib.import_module("numpy")
