"""CloudWatch metric math: the expressions GetMetricData (and alarms) evaluate over the series of a request.

`parse` turns an expression into a tree with a Pratt parser (precedence, lowest first: OR/||,
AND/&&, comparisons, + -, * /, unary -, ^ right-associative); `evaluate` computes it over the other
queries' series. A value is a scalar, a series (timestamp → value) or a list of series (METRICS(),
[m1, m2]). Arithmetic and comparisons work element-wise; two series combine where both have a
value; a list combines member by member. Functions: SUM, AVG, MIN, MAX, STDDEV (over a list: one
series, per timestamp; over a series: one scalar), FILL(x, value|REPEAT|LINEAR), METRICS() and
METRICS("text") (the metric queries whose Id contains the text), RATE (per second), DIFF, ABS, CEIL,
FLOOR, IF(condition, a[, b]). Division by zero gives NaN, which the caller drops (CloudWatch's
ArithmeticError message).
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Series = dict[int, float]  # epoch seconds → value
Value = float | Series | list[Series]


class MathError(ValueError):
    """An expression that cannot be parsed or evaluated; the message says why in CloudWatch's terms."""


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Name:
    """A query Id, or a keyword (REPEAT, LINEAR) where a function takes one."""

    id: str


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Expression, ...]


@dataclass(frozen=True)
class Negate:
    operand: Expression


@dataclass(frozen=True)
class Binary:
    operator: str
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Array:
    items: tuple[Expression, ...]


Expression = Number | Name | Text | Call | Negate | Binary | Array

_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)"
                    r"|(\"[^\"]*\"|'[^']*')|(==|!=|<=|>=|&&|\|\||[-+*/^<>(),\[\]]))")
_BINDING = {"OR": 1, "||": 1, "AND": 2, "&&": 2, "==": 3, "!=": 3, "<": 3, ">": 3, "<=": 3, ">=": 3,
            "+": 4, "-": 4, "*": 5, "/": 5, "^": 6}
_UNARY_BINDING = 6  # between * and ^: -a^2 is -(a^2), -a*b is (-a)*b
KEYWORDS = frozenset({"REPEAT", "LINEAR"})


def parse(text: str) -> Expression:
    """The expression's tree; raise MathError for a syntax error."""
    parser = _Parser(_tokens(text))
    tree = parser.expression(0)
    if parser.peek() is not None:
        raise MathError(f"Unexpected '{parser.peek()}' in expression.")
    return tree


def references(tree: Expression) -> set[str]:
    """The query Ids the expression names (METRICS() is not counted: see uses_metrics)."""
    match tree:
        case Name(id=name):
            return set() if name in KEYWORDS else {name}
        case Call(args=args) | Array(items=args):
            return set().union(*(references(arg) for arg in args))
        case Negate(operand=operand):
            return references(operand)
        case Binary(left=left, right=right):
            return references(left) | references(right)
    return set()


def uses_metrics(tree: Expression) -> bool:
    match tree:
        case Call(function="METRICS"):
            return True
        case Call(args=args) | Array(items=args):
            return any(uses_metrics(arg) for arg in args)
        case Negate(operand=operand):
            return uses_metrics(operand)
        case Binary(left=left, right=right):
            return uses_metrics(left) or uses_metrics(right)
    return False


@dataclass(frozen=True)
class Inputs:
    """What an expression is evaluated over: the series of the queries computed so far, the Ids of the
    metric queries in request order (METRICS()), and the request's timestamps (FILL)."""

    series: Mapping[str, Series]
    metric_ids: Sequence[str]
    timestamps: Sequence[int]


def evaluate(tree: Expression, inputs: Inputs) -> Value:
    """The expression's value; raise MathError for a name or call that makes no sense."""
    match tree:
        case Number(value=value):
            return value
        case Name(id=name):
            if name not in inputs.series:
                raise MathError(f"Unrecognized identifier: {name}.")
            return dict(inputs.series[name])
        case Text():
            raise MathError("A string is only allowed as the argument of METRICS().")
        case Negate(operand=operand):
            return _combine(evaluate(operand, inputs), -1.0, lambda a, b: a * b)
        case Binary(operator=operator, left=left, right=right):
            return _combine(evaluate(left, inputs), evaluate(right, inputs), _OPERATORS[operator])
        case Array(items=items):
            return [_one_series(evaluate(item, inputs)) for item in items]
        case Call(function=function, args=args):
            return _call(function, args, inputs)
    raise MathError("Invalid expression.")


def as_series(value: Value, timestamps: Sequence[int]) -> Series:
    """An expression's result as one series: a scalar is shown at every timestamp; a list is refused."""
    if isinstance(value, list):
        raise MathError("The expression returns several time series; use SUM, AVG, MIN or MAX to reduce them.")
    if isinstance(value, dict):
        return value
    return {timestamp: value for timestamp in timestamps}


# -- parsing -----------------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    found, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise MathError(f"Unexpected character '{text[position:].lstrip()[:1]}' in expression.")
        found.append(match.group(match.lastindex or 0))
        position = match.end()
    if not found:
        raise MathError("The expression is empty.")
    return found


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.position = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None:
            raise MathError("Unexpected end of expression." if expected is None else f"Expected '{expected}'.")
        if expected is not None and token != expected:
            raise MathError(f"Expected '{expected}' but found '{token}'.")
        self.position += 1
        return token

    def expression(self, binding: int) -> Expression:
        left = self.prefix()
        while (operator := _operator(self.peek())) is not None and _BINDING[operator] > binding:
            self.take()
            right_binding = _BINDING[operator] - (1 if operator == "^" else 0)  # ^ groups to the right
            left = Binary(operator, left, self.expression(right_binding))
        return left

    def prefix(self) -> Expression:
        token = self.take()
        if token == "-":
            return Negate(self.expression(_UNARY_BINDING - 1))
        if token == "(":
            inner = self.expression(0)
            self.take(")")
            return inner
        if token == "[":
            return Array(self.items("]"))
        if token[0] in "\"'":
            return Text(token[1:-1])
        if token[0].isdigit() or token[0] == ".":
            return Number(float(token))
        if token[0].isalpha() or token[0] == "_":
            if self.peek() == "(":
                self.take()
                return Call(token.upper(), self.items(")"))
            return Name(token)
        raise MathError(f"Unexpected '{token}' in expression.")

    def items(self, closing: str) -> tuple[Expression, ...]:
        found: list[Expression] = []
        if self.peek() == closing:
            self.take()
            return ()
        while True:
            found.append(self.expression(0))
            if self.take() == closing:
                return tuple(found)
            if self.tokens[self.position - 1] != ",":
                raise MathError(f"Expected ',' or '{closing}'.")


def _operator(token: str | None) -> str | None:
    if token is None:
        return None
    upper = token.upper()
    return upper if upper in _BINDING else None


# -- evaluation --------------------------------------------------------------------------------------


def _divide(a: float, b: float) -> float:
    return a / b if b != 0 else math.nan


def _power(a: float, b: float) -> float:
    try:
        return float(a ** b) if not (a < 0 and b != int(b)) else math.nan
    except (OverflowError, ZeroDivisionError):
        return math.nan


_OPERATORS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": _divide, "^": _power,
    "==": lambda a, b: float(a == b), "!=": lambda a, b: float(a != b), "<": lambda a, b: float(a < b),
    ">": lambda a, b: float(a > b), "<=": lambda a, b: float(a <= b), ">=": lambda a, b: float(a >= b),
    "AND": lambda a, b: float(bool(a) and bool(b)), "&&": lambda a, b: float(bool(a) and bool(b)),
    "OR": lambda a, b: float(bool(a) or bool(b)), "||": lambda a, b: float(bool(a) or bool(b)),
}


def _combine(left: Value, right: Value, operation: Callable[[float, float], float]) -> Value:
    """`operation` element-wise: scalars with anything, series where both have a value, lists member by member."""
    if isinstance(left, list):
        return [_one_series(_combine(item, right, operation)) for item in left]
    if isinstance(right, list):
        return [_one_series(_combine(left, item, operation)) for item in right]
    if isinstance(left, dict) and isinstance(right, dict):
        return {t: operation(v, right[t]) for t, v in left.items() if t in right}
    if isinstance(left, dict):
        return {t: operation(v, float(right)) for t, v in left.items()}  # type: ignore[arg-type]  # a scalar
    if isinstance(right, dict):
        return {t: operation(left, v) for t, v in right.items()}
    return operation(left, right)


def _one_series(value: Value) -> Series:
    if not isinstance(value, dict):
        raise MathError("Expected a time series.")
    return value


_REDUCTIONS: dict[str, Callable[[list[float]], float]] = {
    "SUM": math.fsum, "AVG": statistics.fmean, "MIN": min, "MAX": max, "STDDEV": statistics.pstdev}


def _reduce(values: list[float], name: str) -> float:
    return _REDUCTIONS[name](values) if values else math.nan


def _aggregate(name: str, value: Value) -> Value:
    if isinstance(value, list):
        stamps = sorted(set().union(*value)) if value else []
        return {t: _reduce([series[t] for series in value if t in series], name) for t in stamps}
    if isinstance(value, dict):
        return _reduce(list(value.values()), name)
    return value


def _fill(value: Value, how: Expression, inputs: Inputs) -> Value:
    if isinstance(value, list):
        return [_one_series(_fill(item, how, inputs)) for item in value]
    if not isinstance(value, dict):
        return value
    if isinstance(how, Name) and how.id.upper() == "REPEAT":
        return _repeat(value, inputs.timestamps)
    if isinstance(how, Name) and how.id.upper() == "LINEAR":
        return _linear(value, inputs.timestamps)
    filler = evaluate(how, inputs)
    if isinstance(filler, list):
        raise MathError("FILL takes a value, REPEAT or LINEAR as its second argument.")
    return {t: value[t] if t in value else (filler.get(t, math.nan) if isinstance(filler, dict) else filler)
            for t in sorted(set(inputs.timestamps) | set(value))}


def _repeat(series: Series, timestamps: Sequence[int]) -> Series:
    filled: Series = {}
    last: float | None = None
    for t in sorted(set(timestamps) | set(series)):
        last = series.get(t, last)
        if last is not None:
            filled[t] = last
    return filled


def _linear(series: Series, timestamps: Sequence[int]) -> Series:
    known = sorted(series)
    filled: Series = {}
    for t in sorted(set(timestamps) | set(series)):
        before = [k for k in known if k <= t]
        after = [k for k in known if k >= t]
        if before and after:
            low, high = before[-1], after[0]
            share = 0.0 if high == low else (t - low) / (high - low)
            filled[t] = series[low] + share * (series[high] - series[low])
    return filled


def _changes(value: Value, per_second: bool) -> Value:
    if isinstance(value, list):
        return [_one_series(_changes(item, per_second)) for item in value]
    if not isinstance(value, dict):
        return 0.0
    stamps = sorted(value)
    return {t: (value[t] - value[p]) / ((t - p) if per_second else 1) for p, t in itertools.pairwise(stamps)}


def _each(value: Value, operation: Callable[[float], float]) -> Value:
    if isinstance(value, list):
        return [{t: operation(v) for t, v in series.items()} for series in value]
    if isinstance(value, dict):
        return {t: operation(v) for t, v in value.items()}
    return operation(value)


def _choose(condition: Value, when_true: Value, when_false: Value | None) -> Value:
    if isinstance(condition, list) or isinstance(when_true, list) or isinstance(when_false, list):
        raise MathError("IF takes a time series or a scalar in each argument.")
    if not isinstance(condition, dict):
        return when_true if condition else (when_false if when_false is not None else math.nan)
    chosen: Series = {}
    for t, test in condition.items():
        branch = when_true if test else when_false
        picked = branch.get(t) if isinstance(branch, dict) else branch
        if picked is not None:
            chosen[t] = picked
    return chosen


def _metrics(args: tuple[Expression, ...], inputs: Inputs) -> Value:
    if len(args) > 1 or (args and not isinstance(args[0], Text)):
        raise MathError("METRICS takes no argument or one string.")
    text = args[0].value if args and isinstance(args[0], Text) else ""
    return [dict(inputs.series[i]) for i in inputs.metric_ids if text in i and i in inputs.series]


_ELEMENTWISE: dict[str, Callable[[float], float]] = {"ABS": abs, "CEIL": math.ceil, "FLOOR": math.floor}
_ARITY = {"SUM": (1, 1), "AVG": (1, 1), "MIN": (1, 1), "MAX": (1, 1), "STDDEV": (1, 1), "FILL": (2, 2),
          "RATE": (1, 1), "DIFF": (1, 1), "ABS": (1, 1), "CEIL": (1, 1), "FLOOR": (1, 1), "IF": (2, 3),
          "METRICS": (0, 1)}


def _call(function: str, args: tuple[Expression, ...], inputs: Inputs) -> Value:
    if function not in _ARITY:
        raise MathError(f"Unknown function: {function}.")
    least, most = _ARITY[function]
    if not least <= len(args) <= most:
        raise MathError(f"Wrong number of arguments for function {function}.")
    if function == "METRICS":
        return _metrics(args, inputs)
    if function == "FILL":
        return _fill(evaluate(args[0], inputs), args[1], inputs)
    values = [evaluate(arg, inputs) for arg in args]
    if function == "IF":
        return _choose(values[0], values[1], values[2] if len(values) > 2 else None)
    if function in ("RATE", "DIFF"):
        return _changes(values[0], per_second=function == "RATE")
    if function in _ELEMENTWISE:
        return _each(values[0], _ELEMENTWISE[function])
    return _aggregate(function, values[0])
