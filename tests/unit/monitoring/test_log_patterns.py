"""Filter patterns for unstructured log text."""

from __future__ import annotations

import pytest

from modelbay.monitoring.log_patterns import PatternError, compile_pattern


@pytest.mark.parametrize(("pattern", "message", "expected"), [
    ("", "anything", True),
    ('""', "anything", True),
    ("ERROR", "[ERROR] disk full", True),
    ("ERROR", "error: disk full", False),  # case-sensitive
    ("ERROR disk", "ERROR: disk full", True),
    ("ERROR memory", "ERROR: disk full", False),
    ('"disk full"', "ERROR: disk full", True),
    ('"disk full"', "full disk", False),
    ("?ERROR ?WARN", "WARN: slow", True),
    ("?ERROR ?WARN", "INFO: fine", False),
    ("epoch ?loss ?acc", "epoch 1 acc=0.9", True),
    ("epoch ?loss ?acc", "loss=0.1", False),
    ("ERROR -Retrying", "ERROR: Retrying", False),
    ("ERROR -Retrying", "ERROR: gave up", True),
    ('?"out of memory" ?OOM', "CUDA out of memory", True),
])
def test_terms_phrases_any_of_and_exclusions(pattern: str, message: str, expected: bool) -> None:
    assert compile_pattern(pattern)(message) is expected


@pytest.mark.parametrize("pattern", ['{ $.level = "ERROR" }', "[ip, user]", "%ERR.*%", '"unbalanced'])
def test_unsupported_or_malformed_patterns_are_invalid_parameters(pattern: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(pattern)
