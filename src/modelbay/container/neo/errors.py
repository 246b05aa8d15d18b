"""The compiler program's one error: a compilation that cannot succeed, and why."""

from __future__ import annotations


class CompilationError(Exception):
    """A compilation job's failure; str() is the FailureReason a user reads."""
