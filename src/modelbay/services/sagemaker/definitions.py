"""What models and endpoint configs share as SageMaker resources: immutable, named, described by their request.

Each kind's Create/Describe/List/Delete differ only in names and in what CreateX checks, so
one DefinitionKind per kind holds the names and does the rest, in SageMaker's words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.base import Context, Handler
from modelbay.services.listing import list_page
from modelbay.services.sagemaker.tags import creation_tags, store_tags
from modelbay.store.metadata import Definition, DefinitionRepository, MetadataStore, RecordExists


@dataclass(frozen=True)
class DefinitionKind:
    """One kind: `noun` as SageMaker's messages say it, `arn_kind` as its ARNs do, `member` as its wire members do."""

    noun: str  # "endpoint configuration"
    arn_kind: str  # "endpoint-config"
    member: str  # "EndpointConfig": EndpointConfigName, EndpointConfigArn
    plural: str  # "EndpointConfigs": ListEndpointConfigs and its answer's key
    repository: Callable[[MetadataStore], DefinitionRepository[Any]]

    def operations(self, create: Handler) -> dict[str, Handler]:
        """Create<member> (the kind's own), Describe<member>, List<plural> and Delete<member>."""
        return {f"Create{self.member}": create, f"Describe{self.member}": self.describe,
                f"List{self.plural}": self.list, f"Delete{self.member}": self.delete}

    def arn(self, ctx: Context, name: str) -> str:
        return ctx.arn("sagemaker", f"{self.arn_kind}/{name.lower()}")

    def not_found(self, ctx: Context, name: str) -> ValidationError:
        return ValidationError(f'Could not find {self.noun} "{self.arn(ctx, name)}".')

    def get(self, ctx: Context, name: str) -> Definition:
        """The one named so; ValidationException (SageMaker's "Could not find ...") if there is none."""
        found: Definition | None = self.repository(ctx.metadata).get(name)
        if found is None:
            raise self.not_found(ctx, name)
        return found

    def create(self, ctx: Context, params: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        """Store `request` (checked by the caller) and the request's Tags; answer with the ARN."""
        name: str = params[f"{self.member}Name"]
        arn = self.arn(ctx, name)
        tags = creation_tags(params)
        try:
            self.repository(ctx.metadata).create(name, arn, request)
        except RecordExists as err:
            raise ValidationError(f'Cannot create already existing {self.noun} "{err.arn}".') from err
        store_tags(ctx, arn, tags)
        return {f"{self.member}Arn": arn}

    def describe(self, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        """The request it was created with, its name, ARN and CreationTime."""
        found = self.get(ctx, params[f"{self.member}Name"])
        return self._summary(found) | found.request

    def list(self, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        return list_page(params, self.repository(ctx.metadata).list, self.plural, self._summary)

    def delete(self, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        """Delete it and its tags; endpoints using it keep running (they hold a copy)."""
        name = params[f"{self.member}Name"]
        if self.repository(ctx.metadata).delete(name) is None:
            raise self.not_found(ctx, name)
        return {}

    def _summary(self, found: Definition) -> dict[str, Any]:
        return {f"{self.member}Name": found.name, f"{self.member}Arn": found.arn, "CreationTime": found.creation_time}
