"""The edge agent's local HTTP inference, on the model server's own HTTP/1.1 server (container/http_server.py):
a plain handler called inline on one event loop, no framework between the socket and the model.

    GET  /ping                          200 while the agent runs
    GET  /models                        {"Models": [{"ModelHandle", "ModelName", "ModelVersion", "LoadedTime"}]}
    POST /models/<handle>/invocations   text/csv rows, or application/json {"instances": [[...], ...]} (or a list)
                                        → the predictions: text/csv one line a row, or {"predictions": [...]}
                                        (in the request's type unless Accept asks for the other)

Errors are JSON {"message": ...}: 404 (no such path or handle), 405, 415 (content type), 400 (a body that is not
rows of the model's width), 500 (the model failed on valid rows).
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

import numpy
from numpy.typing import NDArray

from modelbay.container import content_types
from modelbay.container.content_types import UnsupportedContentType
from modelbay.container.http_server import Request, Response
from modelbay.edge.models import LoadedModel, ModelTable
from modelbay.edge.telemetry import Telemetry

_INVOCATIONS = re.compile(r"/models/([^/]+)/invocations")
_TYPES = (content_types.CSV, content_types.JSON)
log = logging.getLogger(__name__)


class BadInput(Exception):
    """A request body the model cannot take; answered 400."""


def _error(status: int, message: str) -> Response:
    return Response(status, json.dumps({"message": message}).encode(), content_types.JSON)


class EdgeHandler:
    """Answers the routes above from the models in `table`, counting invocations in `telemetry`."""

    def __init__(self, table: ModelTable, telemetry: Telemetry) -> None:
        self._table, self._telemetry = table, telemetry

    def __call__(self, request: Request) -> Response:
        invocation = _INVOCATIONS.fullmatch(request.path)
        if invocation is not None:
            if request.method != "POST":
                return _error(405, "invocations take POST")
            return self._invoke(invocation.group(1), request)
        if request.path in ("/ping", "/models"):
            if request.method != "GET":
                return _error(405, f"{request.path} takes GET")
            return Response(200, b"") if request.path == "/ping" else self._models()
        return _error(404, f"no route {request.path}")

    def _models(self) -> Response:
        models = [{"ModelHandle": m.handle, "ModelName": m.name, "ModelVersion": m.version,
                   "LoadedTime": datetime.fromtimestamp(m.loaded_at, UTC).isoformat()}
                  for m in sorted(self._table.current.values(), key=lambda m: m.handle)]
        return Response(200, json.dumps({"Models": models}).encode(), content_types.JSON)

    def _invoke(self, handle: str, request: Request) -> Response:
        model = self._table.current.get(handle)
        if model is None:
            return _error(404, f"no model is deployed as {handle!r}")
        content_type = content_types.media_type(request.headers.get("content-type", content_types.CSV))
        try:
            if content_type not in _TYPES:
                raise UnsupportedContentType(content_type, _TYPES)
            answer_type = _answer_type(request.headers.get("accept", ""), content_type)
            rows = _rows(request.body, content_type, model.width)
        except UnsupportedContentType as err:
            return _error(415, str(err))
        except BadInput as err:
            return _error(400, str(err))
        return self._predict(model, rows, request.body, content_type, answer_type)

    def _predict(self, model: LoadedModel, rows: NDArray[Any], body: bytes, content_type: str,
                 answer_type: str) -> Response:
        started = time.perf_counter()
        try:
            answer = _encode(model.model.predict(rows), answer_type)
            response = Response(200, answer, answer_type)
        except Exception as err:  # the model's own failure: the caller gets it, the agent keeps serving
            log.exception("model %s failed", model.handle)
            response = _error(500, f"the model failed: {type(err).__name__}: {err}")
        self._telemetry.record(model, time.perf_counter() - started, response.status != 200, body, content_type,
                               response.body, answer_type)
        return response


def _answer_type(accept: str, content_type: str) -> str:
    if accept in ("", content_types.ANY):
        return content_type
    kind = content_types.negotiate(accept, default=content_type)
    if kind not in _TYPES:
        raise UnsupportedContentType(accept, _TYPES)
    return kind


def _rows(body: bytes, content_type: str, width: int) -> NDArray[Any]:
    """The body as float32 rows of `width` columns; raise BadInput."""
    try:
        value = content_types.decode(body, content_type)
        rows = numpy.asarray(value, dtype=numpy.float32)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as err:
        raise BadInput(f"the body is not rows of numbers: {err}") from None
    if rows.ndim == 1 and rows.size == width:
        rows = rows.reshape(1, width)
    if rows.ndim != 2 or rows.shape[1] != width or not len(rows):
        raise BadInput(f"the model takes rows of {width} numbers; the body holds an array of shape {rows.shape}")
    return rows


def _encode(prediction: NDArray[Any], answer_type: str) -> bytes:
    if answer_type == content_types.JSON:
        return json.dumps({"predictions": numpy.asarray(prediction).tolist()}).encode()
    body, _ = content_types.encode(prediction, answer_type)
    return body
