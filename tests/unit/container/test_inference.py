"""The handler conventions over a user's module, in process: answers that are streamed."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from typing import Any

from modelbay.container.framework_handlers import default_handlers
from modelbay.container.inference import Inference


def inference(**handlers: Callable[..., Any]) -> Inference:
    module = types.ModuleType("entry_point")
    for name, fn in {"model_fn": lambda model_dir: None, **handlers}.items():
        setattr(module, name, fn)
    loaded = Inference(default_handlers("python"), module, "/opt/ml/model")
    loaded.load_model()
    return loaded


def words(text: str, model: Any) -> Iterator[str]:
    yield from text.split()


def test_a_predict_fn_that_yields_has_each_piece_formatted_by_output_fn() -> None:
    served = inference(input_fn=lambda body, content_type: body.decode(), predict_fn=words,
                       output_fn=lambda word, accept: (word.upper().encode(), "text/x-words"))
    body, content_type, _ = served.invoke(b"a bb ccc", "application/octet-stream", "text/plain", {})
    assert not isinstance(body, bytes)
    assert (list(body), content_type) == ([b"A", b"BB", b"CCC"], "text/x-words")
    empty, content_type, _ = served.invoke(b"", "application/octet-stream", "text/plain", {})
    assert (list(empty), content_type) == ([], "text/plain")


def test_a_transform_fn_that_returns_a_generator_streams_its_pieces_as_bytes() -> None:
    def transform_fn(model: Any, body: bytes, content_type: str, accept: str) -> Iterator[str]:
        return (f"{n};" for n in range(3))

    body, content_type, _ = inference(transform_fn=transform_fn).invoke(b"x", "application/x", "text/plain", {})
    assert not isinstance(body, bytes)
    assert (list(body), content_type) == ([b"0;", b"1;", b"2;"], "text/plain")
