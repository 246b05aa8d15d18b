"""The SageMaker control API: the operations of every resource family, in one table."""

from __future__ import annotations

from modelbay.services import tags, training
from modelbay.services.base import Handler

OPERATIONS: dict[str, Handler] = {
    **tags.OPERATIONS,
    **training.OPERATIONS,
}
