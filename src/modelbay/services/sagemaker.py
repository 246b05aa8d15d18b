"""The SageMaker control API: the operations of every resource family, in one table."""

from __future__ import annotations

from modelbay.services import endpoint_configs, endpoints, models, tags, training, transform
from modelbay.services.base import Handler

OPERATIONS: dict[str, Handler] = {
    **tags.OPERATIONS,
    **training.OPERATIONS,
    **models.OPERATIONS,
    **endpoint_configs.OPERATIONS,
    **endpoints.OPERATIONS,
    **transform.OPERATIONS,
}
