"""What SageMaker's job families (training, transform, and those to come) answer alike."""

from __future__ import annotations

from modelbay.errors import ResourceInUse
from modelbay.store.metadata import RecordExists


def name_in_use(kind: str, err: RecordExists) -> ResourceInUse:
    """SageMaker's answer to a Create*Job naming a job of its `kind` ("training job") that exists already."""
    return ResourceInUse(f"{kind.capitalize()} names must be unique within an AWS account and region, and a {kind} "
                         f"with this name already exists ({err.arn})")
