"""FailureReasons within SageMaker's limit, for every family's controller (training, transform, endpoints, ...).

A reason too long keeps the head that names the cause and the program's last error lines
(lengths.fit); ExitMessage and VariantStatus's StatusMessage have the same limit.
"""

from __future__ import annotations

from modelbay.lengths import fit

MAX_REASON_CHARS = 1024  # FailureReason's maximum in SageMaker's model


def fit_reason(reason: str) -> str:
    """`reason` itself, or its head and last lines in MAX_REASON_CHARS."""
    return fit(reason, MAX_REASON_CHARS)
