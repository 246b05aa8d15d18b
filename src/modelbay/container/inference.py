"""The inference handler conventions of SageMaker's toolkits: a user's entry point over framework defaults.

The entry point may define `model_fn(model_dir)`, `input_fn(request_body, request_content_type)`,
`predict_fn(input_data, model)`, `output_fn(prediction, accept)` (returning the body, or
`(body, content_type)`), or instead of the last three one `transform_fn(model, request_body,
content_type, accept)`. Each may take one more argument, `context`, as with the inference
toolkit: a RequestContext with the request's headers (custom attributes among them). JSON and
CSV bodies reach the handlers as str, others as bytes, as the toolkits pass them.

An answer may be streamed (for InvokeEndpointWithResponseStream): when `output_fn` or `transform_fn`
returns an iterator (a generator), each piece it yields is sent as it comes; when `predict_fn`
does, `output_fn` formats each piece, and the first one's content type is the answer's.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any

from modelbay.container.content_types import UTF8_TYPES, media_type
from modelbay.container.framework_handlers import DefaultHandlers

CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"
ResponseHeaders = tuple[tuple[str, str], ...]


class RequestContext:
    """What a handler taking a `context` argument receives; the model server's (MMS) Context methods
    the toolkits' users call are here, for the one request being handled (`idx` 0)."""

    def __init__(self, model_dir: str, request_headers: Mapping[str, str]) -> None:
        self.system_properties = {"model_dir": model_dir}
        self.request_headers = request_headers  # lower-case names
        self.response_headers: dict[str, str] = {}

    @property
    def custom_attributes(self) -> str | None:
        """X-Amzn-SageMaker-Custom-Attributes as the caller sent it."""
        return self.request_headers.get(CUSTOM_ATTRIBUTES)

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self.request_headers.get(key.lower())

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        self.response_headers[key] = value


class _Handler:
    """One handler function and whether it takes the trailing `context` argument."""

    def __init__(self, fn: Callable[..., Any], name: str, arity: int) -> None:
        count = len(inspect.signature(fn).parameters)
        if count not in (arity, arity + 1):
            raise TypeError(f"{name} takes {count} arguments; the model server passes {arity} "
                            f"(or {arity + 1} with context)")
        self.fn, self.takes_context = fn, count == arity + 1

    def __call__(self, context: RequestContext | None, *args: Any) -> Any:
        return self.fn(*args, context) if self.takes_context else self.fn(*args)


class Inference:
    """The model and the handler functions that serve it. load_model() first, then invoke()."""

    def __init__(self, defaults: DefaultHandlers, module: ModuleType | None, model_dir: str) -> None:
        def handler(name: str, default: Callable[..., Any], arity: int) -> _Handler:
            return _Handler(getattr(module, name, None) or default, name, arity)

        self.model_dir = model_dir
        self.model: Any = None
        transform_fn = getattr(module, "transform_fn", None)
        if transform_fn and any(getattr(module, name, None) for name in ("input_fn", "predict_fn", "output_fn")):
            raise ValueError("transform_fn cannot be used together with input_fn, predict_fn or output_fn")
        self._model_fn = handler("model_fn", defaults.model_fn, 1)
        self._transform_fn = None if transform_fn is None else _Handler(transform_fn, "transform_fn", 4)
        self._input_fn = handler("input_fn", defaults.input_fn, 2)
        self._predict_fn = handler("predict_fn", defaults.predict_fn, 2)
        self._output_fn = handler("output_fn", defaults.output_fn, 2)
        handlers = (self._transform_fn, self._input_fn, self._predict_fn, self._output_fn)
        self._takes_context = any(h is not None and h.takes_context for h in handlers)

    def load_model(self) -> None:
        self.model = self._model_fn(RequestContext(self.model_dir, {}), self.model_dir)

    def invoke(self, body: bytes, content_type: str, accept: str,
               headers: Mapping[str, str]) -> tuple[bytes | Iterator[bytes], str, ResponseHeaders]:
        """Run the handlers on one request: (response body, or its pieces when streamed; its content
        type; extra response headers). Whatever the handlers raise propagates (for a streamed answer,
        from the first piece's making, or from the iterator later)."""
        data: str | bytes = body.decode("utf-8") if media_type(content_type) in UTF8_TYPES else body
        context = RequestContext(self.model_dir, headers) if self._takes_context else None
        if self._transform_fn is not None:
            result = self._transform_fn(context, self.model, data, content_type, accept)
        else:
            prediction = self._predict_fn(context, self._input_fn(context, data, content_type), self.model)
            if isinstance(prediction, Iterator):
                result = self._output_each(context, prediction, accept)
            else:
                result = self._output_fn(context, prediction, accept)
        answer, answer_type = result if isinstance(result, tuple) else (result, accept)
        extra = tuple(context.response_headers.items()) if context is not None else ()
        if isinstance(answer, Iterator):
            return (_as_bytes(piece) for piece in answer), answer_type, extra
        return _as_bytes(answer), answer_type, extra

    def _output_each(self, context: RequestContext | None, predictions: Iterator[Any],
                     accept: str) -> tuple[Iterator[Any], str]:
        """output_fn on each piece of a streamed prediction, the first made now for its content type."""
        outputs = (self._output_fn(context, piece, accept) for piece in predictions)
        first = next(outputs, None)
        if first is None:
            return iter(()), accept
        body, answer_type = first if isinstance(first, tuple) else (first, accept)
        rest = (output[0] if isinstance(output, tuple) else output for output in outputs)
        return itertools.chain([body], rest), answer_type


def _as_bytes(answer: Any) -> bytes:
    if isinstance(answer, bytes):
        return answer
    if isinstance(answer, str):
        return answer.encode("utf-8")
    if isinstance(answer, (bytearray, memoryview)):
        return bytes(answer)
    raise TypeError(f"output_fn (or transform_fn) returned {type(answer).__name__}: return the response body "
                    "as bytes or str (or an iterator of them, to stream it), or (body, content_type)")
