"""Condition operators: the tests of a statement's Condition element, as IAM documents them.

A Condition element is `{operator: {key: value or [values]}}`. Every key under every operator must match (AND); a
key matches when the request's value matches any of the policy's values (OR); a negated operator (StringNotEquals,
NotIpAddress, ArnNotLike, ...) matches when it matches none of them (NOR). Key names are case-insensitive.

- A key the request lacks: the operator does not match and a negated one does; with `...IfExists` any operator
  matches; `Null` tests exactly this (`true`: the key is absent, `false`: present).
- A multivalued key (a list of values): without a set operator, the key matches when any of its values matches
  (a negated operator: when none does). `ForAnyValue:` asks that at least one value pass the operator's test, and
  fails for a missing or empty set; `ForAllValues:` that every value pass it, and holds for a missing or empty set.
- Values are compared per family: strings (exactly, ignoring case, or with `*` and `?` wildcards), numbers, dates
  (ISO 8601 or epoch seconds), booleans, base-64 binaries (as written), IP addresses against CIDR ranges (v4 and
  v6), ARNs (ArnEquals and ArnLike alike: each colon-separated part matched alone, with wildcards). Policy
  variables are read in string and ARN values.

A policy's values are read once, when its document is parsed (`parse_condition`); matching reads only the request.
"""

from __future__ import annotations

import functools
import ipaddress
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from modelbay.security.policy_patterns import Glob, Template
from modelbay.security.request_context import RequestContext, Scalar, as_text

FOR_ANY_VALUE = "ForAnyValue"
FOR_ALL_VALUES = "ForAllValues"
_IF_EXISTS = "IfExists"
_NULL = "Null"
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_EPOCH_SECONDS = re.compile(r"-?\d+")

_T = TypeVar("_T")


class UnknownOperator(ValueError):
    """An operator IAM does not have."""


class InvalidConditionValue(ValueError):
    """A policy value its operator cannot read: a date, number, address or boolean that is none."""


class _Values(Protocol):
    """A policy's values for one key under one operator."""

    def match_any(self, value: Scalar, context: RequestContext) -> bool:
        """Whether one of the request's values matches any of the policy's values."""


@dataclass(frozen=True)
class Condition:
    """One key under one operator: `"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}`."""

    operator: str  # as written: "ForAnyValue:StringEqualsIfExists"
    key: str  # lowercase
    values: _Values | None  # None for Null
    negated: bool = False
    quantifier: str | None = None  # FOR_ANY_VALUE, FOR_ALL_VALUES or None
    if_exists: bool = False
    null_expects_absent: frozenset[bool] = frozenset()  # Null's values: True for "true"

    def matches(self, context: RequestContext) -> bool:
        found = context.get(self.key)
        if self.values is None:
            return (found is None) in self.null_expects_absent
        if found is None:
            if self.if_exists or self.quantifier == FOR_ALL_VALUES:
                return True
            return False if self.quantifier == FOR_ANY_VALUE else self.negated
        match_any, negated = self.values.match_any, self.negated
        if self.quantifier is None:  # one value, or any of several
            for value in found:
                if match_any(value, context):
                    return not negated
            return negated
        if self.quantifier == FOR_ALL_VALUES:
            return all(match_any(value, context) != negated for value in found)
        return any(match_any(value, context) != negated for value in found)  # ForAnyValue


def parse_condition(operator_name: str, key: str, values: tuple[str, ...], *, variables: bool) -> Condition:
    """Compile one key of a Condition element; `variables`: whether policy variables are read (Version 2012-10-17).
    Raise UnknownOperator or InvalidConditionValue."""
    quantifier, base = _split_quantifier(operator_name)
    if_exists = base.endswith(_IF_EXISTS) and base != _IF_EXISTS
    if if_exists:
        base = base.removesuffix(_IF_EXISTS)
    if base == _NULL:
        if quantifier or if_exists:
            raise UnknownOperator(operator_name)
        return Condition(operator_name, key.lower(), None, null_expects_absent=_null_values(values))
    family = _OPERATORS.get(base)
    if family is None:
        raise UnknownOperator(operator_name)
    compile_values, negated = family
    return Condition(operator_name, key.lower(), compile_values(values, variables), negated, quantifier, if_exists)


def _split_quantifier(name: str) -> tuple[str | None, str]:
    quantifier, colon, base = name.partition(":")
    if not colon:
        return None, name
    if quantifier not in (FOR_ANY_VALUE, FOR_ALL_VALUES):
        raise UnknownOperator(name)
    return quantifier, base


def _null_values(values: tuple[str, ...]) -> frozenset[bool]:
    return frozenset(value == "true" for value in _true_or_false(values))


class _Strings:
    """StringEquals, StringEqualsIgnoreCase (folded), BinaryEquals: the request's text equals a policy value."""

    def __init__(self, templates: tuple[Template, ...], fold: bool) -> None:
        self._fold = fold
        self._fixed = frozenset(self._folded(t.fixed) for t in templates if t.fixed is not None)
        self._resolved = tuple(t for t in templates if t.fixed is None)

    def _folded(self, text: str) -> str:
        return text.lower() if self._fold else text

    def match_any(self, value: Scalar, context: RequestContext) -> bool:
        text = self._folded(as_text(value))
        if text in self._fixed:
            return True
        for template in self._resolved:
            resolved = template.resolve(context)
            if resolved is not None and self._folded(resolved) == text:
                return True
        return False


class _Globs:
    """StringLike and the ARN operators: the request's text matches a pattern."""

    def __init__(self, globs: tuple[Glob, ...]) -> None:
        self._globs = globs

    def match_any(self, value: Scalar, context: RequestContext) -> bool:
        text = as_text(value)
        return any(glob.matches(text, context) for glob in self._globs)


class _Ordered(Generic[_T]):
    """Numbers and dates: the request's value compares to a policy value as the operator says."""

    def __init__(self, values: tuple[_T, ...], compare: Callable[[_T, _T], bool],
                 read: Callable[[Scalar], _T | None]) -> None:
        self._values, self._compare, self._read = values, compare, read

    def match_any(self, value: Scalar, context: RequestContext) -> bool:
        read = self._read(value)
        return read is not None and any(self._compare(read, policy_value) for policy_value in self._values)


class _Networks:
    """IpAddress: the request's address is in a policy range."""

    def __init__(self, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> None:
        # (version, network address, netmask) as integers: testing an address is two integer operations
        self._ranges = tuple((n.version, int(n.network_address), int(n.netmask)) for n in networks)

    def match_any(self, value: Scalar, context: RequestContext) -> bool:
        address = _address(as_text(value))
        if address is None:
            return False
        version, number = address
        return any(version == v and number & mask == network for v, network, mask in self._ranges)


@functools.lru_cache(maxsize=1024)  # callers' addresses repeat, and reading one costs more than testing it
def _address(text: str) -> tuple[int, int] | None:
    """An address's version and number."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return address.version, int(address)


def _read_number(value: Scalar) -> float | None:
    if isinstance(value, bool | datetime):
        return None
    if isinstance(value, int | float):
        return float(value)
    return float(value) if _NUMBER.fullmatch(value.strip()) else None


def _read_date(value: Scalar) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        text = value.strip()
        if _EPOCH_SECONDS.fullmatch(text):
            return datetime.fromtimestamp(int(text), UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_all(values: tuple[str, ...], read: Callable[[Scalar], _T | None], what: str) -> tuple[_T, ...]:
    read_values: list[_T] = []
    for value in values:
        read_value = read(value)
        if read_value is None:
            raise InvalidConditionValue(f"not {what}: {value!r}")
        read_values.append(read_value)
    return tuple(read_values)


def _true_or_false(values: tuple[str, ...]) -> tuple[str, ...]:
    lowered = tuple(value.lower() for value in values)
    if any(value not in ("true", "false") for value in lowered):
        raise InvalidConditionValue(f"not true or false: {values}")
    return lowered


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as error:
        raise InvalidConditionValue(f"not an IP address or CIDR range: {value!r}") from error


_Compile = Callable[[tuple[str, ...], bool], _Values]


def _strings(fold: bool) -> _Compile:
    return lambda values, variables: _Strings(tuple(Template(v, variables=variables) for v in values), fold)


def _globs(arn: bool) -> _Compile:
    return lambda values, variables: _Globs(tuple(Glob(v, variables=variables, arn=arn) for v in values))


def _numbers(compare: Callable[[float, float], bool]) -> _Compile:
    return lambda values, _: _Ordered(_read_all(values, _read_number, "a number"), compare, _read_number)


def _dates(compare: Callable[[datetime, datetime], bool]) -> _Compile:
    return lambda values, _: _Ordered(_read_all(values, _read_date, "a date"), compare, _read_date)


def _booleans(values: tuple[str, ...], variables: bool) -> _Values:
    return _Strings(tuple(Template(value, variables=False) for value in _true_or_false(values)), fold=True)


def _binaries(values: tuple[str, ...], variables: bool) -> _Values:
    return _Strings(tuple(Template(value, variables=False) for value in values), fold=False)


def _networks(values: tuple[str, ...], variables: bool) -> _Values:
    return _Networks(tuple(_network(value) for value in values))


# operator → (how its values compile, whether it is negated)
_OPERATORS: dict[str, tuple[_Compile, bool]] = {
    "StringEquals": (_strings(fold=False), False),
    "StringNotEquals": (_strings(fold=False), True),
    "StringEqualsIgnoreCase": (_strings(fold=True), False),
    "StringNotEqualsIgnoreCase": (_strings(fold=True), True),
    "StringLike": (_globs(arn=False), False),
    "StringNotLike": (_globs(arn=False), True),
    "NumericEquals": (_numbers(operator.eq), False),
    "NumericNotEquals": (_numbers(operator.eq), True),
    "NumericLessThan": (_numbers(operator.lt), False),
    "NumericLessThanEquals": (_numbers(operator.le), False),
    "NumericGreaterThan": (_numbers(operator.gt), False),
    "NumericGreaterThanEquals": (_numbers(operator.ge), False),
    "DateEquals": (_dates(operator.eq), False),
    "DateNotEquals": (_dates(operator.eq), True),
    "DateLessThan": (_dates(operator.lt), False),
    "DateLessThanEquals": (_dates(operator.le), False),
    "DateGreaterThan": (_dates(operator.gt), False),
    "DateGreaterThanEquals": (_dates(operator.ge), False),
    "Bool": (_booleans, False),
    "BinaryEquals": (_binaries, False),
    "IpAddress": (_networks, False),
    "NotIpAddress": (_networks, True),
    "ArnEquals": (_globs(arn=True), False),
    "ArnLike": (_globs(arn=True), False),
    "ArnNotEquals": (_globs(arn=True), True),
    "ArnNotLike": (_globs(arn=True), True),
}
