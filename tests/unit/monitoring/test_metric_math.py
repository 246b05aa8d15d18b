"""Metric math: parsing (precedence, syntax errors) and evaluation over series."""

from __future__ import annotations

import math
import re

import pytest

from modelbay.monitoring.metric_math import (
    Array,
    Binary,
    Call,
    Inputs,
    MathError,
    Name,
    Negate,
    Number,
    Text,
    as_series,
    evaluate,
    parse,
    references,
    uses_metrics,
)

M1 = {0: 1.0, 60: 2.0, 120: 4.0}
M2 = {0: 10.0, 120: 20.0}
INPUTS = Inputs({"m1": M1, "m2": M2, "e1": {0: 5.0}}, ["m1", "m2"], [0, 60, 120, 180])


def run(expression: str) -> object:
    return evaluate(parse(expression), INPUTS)


def test_precedence_and_associativity() -> None:
    assert parse("m1 + m2 * 2") == Binary("+", Name("m1"), Binary("*", Name("m2"), Number(2)))
    assert parse("(m1 + m2) * 2") == Binary("*", Binary("+", Name("m1"), Name("m2")), Number(2))
    assert parse("2 ^ 3 ^ 2") == Binary("^", Number(2), Binary("^", Number(3), Number(2)))
    assert parse("-m1 ^ 2") == Negate(Binary("^", Name("m1"), Number(2)))
    assert parse("m1 - m2 - 1") == Binary("-", Binary("-", Name("m1"), Name("m2")), Number(1))
    assert parse("m1 > 1 AND m2 < 3 || m1") == Binary(
        "||", Binary("AND", Binary(">", Name("m1"), Number(1)), Binary("<", Name("m2"), Number(3))), Name("m1"))
    assert parse('sum(METRICS("m"))') == Call("SUM", (Call("METRICS", (Text("m"),)),))
    assert parse("AVG([m1, m2])") == Call("AVG", (Array((Name("m1"), Name("m2"))),))
    assert parse("1.5e2") == Number(150.0)


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("m1 +", "end of expression"), ("(m1", "Expected ')'"), ("m1 m2", "Unexpected 'm2'"),
    ("m1 $ 2", "Unexpected character '$'"), ("SUM(m1 m2)", "Expected ','"), ("*m1", "Unexpected '*'"),
])
def test_syntax_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(MathError, match=re.escape(message)):
        parse(text)


def test_references_and_metrics_use() -> None:
    tree = parse("FILL(m1, REPEAT) + IF(e1 > 0, m2, 0)")
    assert references(tree) == {"m1", "e1", "m2"}
    assert not uses_metrics(tree)
    assert uses_metrics(parse("1 + SUM(METRICS())"))


def test_arithmetic_on_series_and_scalars() -> None:
    assert run("m2 / m1 * 100") == {0: 1000.0, 120: 500.0}  # only where both have a value
    assert run("m1 * 2 + 1") == {0: 3.0, 60: 5.0, 120: 9.0}
    assert run("-m1") == {0: -1.0, 60: -2.0, 120: -4.0}
    assert run("m1 ^ 2") == {0: 1.0, 60: 4.0, 120: 16.0}
    assert run("10 - 4 / 2") == 8.0
    divided = run("m1 / 0")
    assert isinstance(divided, dict) and all(math.isnan(v) for v in divided.values())


def test_functions_over_lists_give_series_and_over_a_series_a_scalar() -> None:
    assert run("SUM(METRICS())") == {0: 11.0, 60: 2.0, 120: 24.0}
    assert run('SUM(METRICS("2"))') == M2
    assert run("MAX([m1, m2])") == {0: 10.0, 60: 2.0, 120: 20.0}
    assert run("AVG(m1)") == pytest.approx(7 / 3)
    assert run("MIN(m1)") == 1.0
    assert run("STDDEV(m2)") == 5.0
    assert run("METRICS() * 2") == [{0: 2.0, 60: 4.0, 120: 8.0}, {0: 20.0, 120: 40.0}]


def test_fill() -> None:
    assert run("FILL(m2, 0)") == {0: 10.0, 60: 0.0, 120: 20.0, 180: 0.0}
    assert run("FILL(m2, REPEAT)") == {0: 10.0, 60: 10.0, 120: 20.0, 180: 20.0}
    assert run("FILL(m2, LINEAR)") == {0: 10.0, 60: 15.0, 120: 20.0}
    assert run("FILL(METRICS(), 1)") == [{0: 1.0, 60: 2.0, 120: 4.0, 180: 1.0}, {0: 10.0, 60: 1.0, 120: 20.0, 180: 1.0}]


def test_rate_diff_and_element_wise_functions() -> None:
    assert run("RATE(m1)") == {60: 1 / 60, 120: 2 / 60}
    assert run("DIFF(m1)") == {60: 1.0, 120: 2.0}
    assert run("ABS(-m1)") == M1
    assert run("CEIL(m1 / 3)") == {0: 1, 60: 1, 120: 2}
    assert run("FLOOR(m1 / 3)") == {0: 0, 60: 0, 120: 1}


def test_if() -> None:
    assert run("IF(m1 > 1, 1, 0)") == {0: 0.0, 60: 1.0, 120: 1.0}
    assert run("IF(m1 > 1, m2)") == {120: 20.0}
    assert run("IF(m1 >= 2 && m1 != 4, m1, -1)") == {0: -1.0, 60: 2.0, 120: -1.0}


def test_evaluation_errors() -> None:
    with pytest.raises(MathError, match="Unrecognized identifier: m9"):
        run("m9 + 1")
    with pytest.raises(MathError, match="Unknown function: NOPE"):
        run("NOPE(m1)")
    with pytest.raises(MathError, match="Wrong number of arguments for function FILL"):
        run("FILL(m1)")
    with pytest.raises(MathError, match="METRICS takes"):
        run("METRICS(m1)")
    with pytest.raises(MathError, match="several time series"):
        as_series(run("METRICS()"), INPUTS.timestamps)  # type: ignore[arg-type]


def test_a_scalar_result_is_shown_at_every_timestamp() -> None:
    assert as_series(run("SUM(m1)"), [0, 60]) == {0: 7.0, 60: 7.0}  # type: ignore[arg-type]
