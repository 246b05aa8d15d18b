"""Text in policies that is matched, not just compared: wildcards and policy variables.

- A Glob has wildcards: `*` any run of characters, `?` one character. Matched whole and case-sensitively; an
  ARN glob (ArnLike) keeps a wildcard in the first five colon-separated parts (arn, partition, service, region,
  account) within its part, and lets it span anything in the resource part.
- A policy variable, `${aws:username}` or `${aws:PrincipalTag/team, 'default'}`, is replaced by the request's value
  of that condition key (documents of Version 2012-10-17 only; older ones read `${...}` literally). The value is
  literal text, never a wildcard; `${*}`, `${?}` and `${$}` write those characters. A variable whose key the request
  lacks (or holds several values for) and that has no default leaves the text without a value: it matches nothing,
  as IAM treats an element it cannot resolve.

A pattern is compiled once, when its document is parsed; one with variables is compiled per resolved text, cached.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from modelbay.security.request_context import RequestContext, as_text

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_KEY_AND_DEFAULT = re.compile(r"\s*([^\s,']+)\s*(?:,\s*'([^']*)'\s*)?")
_ESCAPES = frozenset("*?$")  # ${*}, ${?}, ${$}
_ARN_PREFIX_PARTS = 5  # arn:partition:service:region:account: before the resource part

Piece = tuple[str, bool]  # text, and whether its * and ? are wildcards


@dataclass(frozen=True)
class _Variable:
    key: str  # lowercase: condition keys are case-insensitive
    default: str | None


class Template:
    """A string of a policy that may hold variables, resolved against a request's context."""

    __slots__ = ("_parts", "constant", "fixed")

    def __init__(self, text: str, *, variables: bool) -> None:
        self._parts = _parse(text) if variables and "${" in text else ((text, True),)
        pieces = tuple(part for part in self._parts if isinstance(part, tuple))
        # without variables (the common case) the pieces and the text are read once, here
        self.constant: tuple[Piece, ...] | None = pieces if len(pieces) == len(self._parts) else None
        self.fixed: str | None = None if self.constant is None else "".join(text for text, _ in pieces)

    def pieces(self, context: RequestContext) -> tuple[Piece, ...] | None:
        """The text with each variable replaced by its value; None if a variable has no value."""
        pieces: list[Piece] = []
        for part in self._parts:
            if isinstance(part, tuple):
                pieces.append(part)
                continue
            value = _value(part, context)
            if value is None:
                return None
            pieces.append((value, False))
        return tuple(pieces)

    def resolve(self, context: RequestContext) -> str | None:
        """pieces() as one string."""
        if self.fixed is not None:
            return self.fixed
        pieces = self.pieces(context)
        return None if pieces is None else "".join(text for text, _ in pieces)


class Glob:
    """A pattern with `*` and `?` wildcards, perhaps holding policy variables; case-sensitive (actions, which are
    not, are matched in lowercase)."""

    __slots__ = ("_arn", "_everything", "_literal", "_regex", "_template", "text")

    def __init__(self, text: str, *, variables: bool = False, arn: bool = False) -> None:
        self.text = text
        self._arn = arn
        self._everything = text == "*"
        self._template = Template(text, variables=variables)
        constant = self._template.constant
        self._regex = None if constant is None else _compile(constant, arn)
        # most patterns are a text, or a text and a final `*`: compared as such, without the regex
        self._literal = None if constant is None or arn else _literal(constant)

    def matches(self, value: str, context: RequestContext) -> bool:
        if self._everything:
            return True
        if self._literal is not None:
            text, is_prefix = self._literal
            return value.startswith(text) if is_prefix else value == text
        regex = self._regex
        if regex is None:
            pieces = self._template.pieces(context)
            if pieces is None:
                return False
            regex = _compile(pieces, self._arn)
        return regex.fullmatch(value) is not None


def _literal(pieces: tuple[Piece, ...]) -> tuple[str, bool] | None:
    """(text, whether a prefix) for a pattern that is a text, or a text and a final `*`; None for any other."""
    if len(pieces) != 1:
        return None
    text, wild = pieces[0]
    if not wild:
        return text, False
    stem = text.removesuffix("*")
    if "*" in stem or "?" in stem:
        return None
    return stem, stem != text


def _parse(text: str) -> tuple[Piece | _Variable, ...]:
    parts: list[Piece | _Variable] = []
    at = 0
    for found in _VARIABLE.finditer(text):
        parts.append((text[at:found.start()], True))
        parts.append(_variable(found))
        at = found.end()
    parts.append((text[at:], True))
    return tuple(part for part in parts if not (isinstance(part, tuple) and not part[0]))


def _variable(found: re.Match[str]) -> Piece | _Variable:
    inner = found.group(1)
    if inner in _ESCAPES:
        return inner, False
    named = _KEY_AND_DEFAULT.fullmatch(inner)
    if named is None:  # not a variable IAM knows: the text as written
        return found.group(0), True
    return _Variable(named.group(1).lower(), named.group(2))


def _value(variable: _Variable, context: RequestContext) -> str | None:
    values = context.get(variable.key)
    if values is None or len(values) != 1:  # a multivalued key cannot be a variable
        return variable.default
    return as_text(values[0])


@functools.lru_cache(maxsize=4096)
def _compile(pieces: tuple[Piece, ...], arn: bool) -> re.Pattern[str]:
    source: list[str] = []
    colons = 0
    for text, wild in pieces:
        for char in text:
            if wild and char in "*?":
                within_part = arn and colons < _ARN_PREFIX_PARTS
                if char == "*":
                    source.append("[^:]*" if within_part else ".*")
                else:
                    source.append("[^:]" if within_part else ".")
            else:
                source.append(re.escape(char))
                colons += char == ":"
    return re.compile("".join(source), re.DOTALL)
