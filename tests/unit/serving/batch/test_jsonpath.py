"""The JSONPath subset of batch transform's InputFilter and OutputFilter."""

from __future__ import annotations

from typing import Any

import pytest

from modelbay.serving.batch.jsonpath import JsonPathError, parse

CSV = [1, 2, 3, 4]
RECORD = {"id": 7, "features": [0.5, 1.5, 2.5], "meta": {"a": 1, "b": 2}, "SageMakerOutput": [0.9]}


@pytest.mark.parametrize(("expression", "document", "selected"), [
    ("$", CSV, CSV),
    ("$[1:]", CSV, [2, 3, 4]),
    ("$[:2]", CSV, [1, 2]),
    ("$[1:-1]", CSV, [2, 3]),
    ("$[0,2]", CSV, [1, 3]),
    ("$[-1]", CSV, 4),
    ("$[0]", CSV, 1),
    ("$.features", RECORD, [0.5, 1.5, 2.5]),
    ("$.features[1:]", RECORD, [1.5, 2.5]),
    ("$['id','SageMakerOutput']", RECORD, {"id": 7, "SageMakerOutput": [0.9]}),
    ("$['id']", RECORD, 7),
    ("$.meta.['a','b']", RECORD, {"a": 1, "b": 2}),
    ("$.meta.*", RECORD, [1, 2]),
    ("$[*]", CSV, CSV),
    (" $.id ", RECORD, 7),
])
def test_select(expression: str, document: Any, selected: Any) -> None:
    assert parse(expression).select(document) == selected


@pytest.mark.parametrize(("expression", "words"), [
    ("features", "must start with '$'"),
    ("$..features", "position 1"),
    ("$.features[?(@ > 1)]", "position 10"),
    ("$[0", "position 1"),
    ("$['a',b]", "position 1"),
    ("", "must start with '$'"),
])
def test_expressions_outside_the_subset_are_refused(expression: str, words: str) -> None:
    with pytest.raises(JsonPathError, match=words.replace("$", r"\$").replace("(", r"\(")):
        parse(expression)


@pytest.mark.parametrize(("expression", "document", "words"), [
    ("$.missing", RECORD, "no member 'missing'"),
    ("$.id", CSV, "not an object"),
    ("$[9]", CSV, "index 9 is out of range for an array of 4"),
    ("$[1:]", RECORD, "not an array"),
    ("$.id[0]", RECORD, "cannot apply \\[0\\] to a number"),
])
def test_a_document_the_path_does_not_fit(expression: str, document: Any, words: str) -> None:
    with pytest.raises(JsonPathError, match=words):
        parse(expression).select(document)
