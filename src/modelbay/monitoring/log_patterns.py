"""CloudWatch Logs filter patterns for unstructured text, compiled into a predicate on a message.

Supported, as CloudWatch Logs reads them (case-sensitive, a term matches anywhere in the message):
  ``ERROR Exception``   every term must appear
  ``"Out of memory"``   a quoted phrase is one term
  ``?ERROR ?WARN``      at least one of the ``?`` terms must appear (with the plain terms, if any)
  ``ERROR -Retrying``   a ``-`` term must not appear
  ``""`` or empty       every message matches
Not supported (rejected with InvalidParameterException): JSON patterns ``{ $.x = 1 }``,
space-delimited patterns ``[ip, user, ...]`` and regular expressions ``%...%``.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

Matcher = Callable[[str], bool]
_UNSUPPORTED = {"{": "JSON", "[": "space-delimited", "%": "regular-expression"}


class PatternError(ValueError):
    """A filter pattern this module does not support or cannot parse; the message says which and why."""


@dataclass(frozen=True)
class _Terms:
    required: tuple[str, ...]
    any_of: tuple[str, ...]
    excluded: tuple[str, ...]

    def __call__(self, message: str) -> bool:
        return (all(term in message for term in self.required)
                and (not self.any_of or any(term in message for term in self.any_of))
                and not any(term in message for term in self.excluded))


def compile_pattern(pattern: str) -> Matcher:
    """A predicate telling whether a message matches `pattern`.

    Raises PatternError for a pattern this module does not support or cannot parse (an unbalanced quote).
    """
    stripped = pattern.strip()
    if stripped[:1] in _UNSUPPORTED:
        raise PatternError(f"{_UNSUPPORTED[stripped[0]]} filter patterns are not supported by "
                           f"modelbay yet: {pattern!r}. Use terms, quoted phrases, ?any or -not.")
    try:
        words = shlex.split(stripped, posix=True)
    except ValueError as error:
        raise PatternError(f"Invalid filter pattern {pattern!r}: {error}.") from None
    required = [w for w in words if w[:1] not in ("?", "-") and w]
    return _Terms(tuple(required), _prefixed(words, "?"), _prefixed(words, "-"))


def _prefixed(words: list[str], mark: str) -> tuple[str, ...]:
    return tuple(w[1:] for w in words if w.startswith(mark) and len(w) > 1)
