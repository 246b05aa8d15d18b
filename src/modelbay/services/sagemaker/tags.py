"""SageMaker's tag operations: AddTags, ListTags and DeleteTags on any SageMaker resource ARN.

Tags are stored by ARN; whether the resource exists is not checked, so a resource's tags can be
written while it is being created.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from modelbay.errors import ResourceLimitExceeded, ValidationError
from modelbay.services.base import Context, Handler
from modelbay.services.listing import reading_tokens
from modelbay.store.metadata import Tag
from modelbay.store.metadata.tags import TooManyTags

MAX_TAGS_PER_RESOURCE = 50
DEFAULT_MAX_RESULTS = 50
RESERVED_KEY_PREFIX = "aws:"  # AWS's own tags; reserved in any letter case
_RESOURCE_ARN = re.compile(r"arn:aws:sagemaker:[a-z0-9-]+:[0-9]{12}:[a-z][a-z0-9-]*/.+")


def add_tags(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Add tags to a resource, overwriting the values of keys it has; answer with the tags given.

    Raises ResourceLimitExceeded if the resource would have more than 50 tags.
    """
    arn = _resource_arn(params)
    tags = [(tag["Key"], tag["Value"]) for tag in params["Tags"]]
    check_not_reserved(key for key, _ in tags)
    _add(ctx, arn, tags)
    return {"Tags": _wire(tags)}


def list_tags(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of a resource's tags in the order they were added; NextToken when more follow."""
    arn = _resource_arn(params)
    with reading_tokens():
        page = ctx.metadata.tags.list(arn, params.get("NextToken") or None,
                                      params.get("MaxResults", DEFAULT_MAX_RESULTS))
    output: dict[str, Any] = {"Tags": _wire(page.items)}
    if page.next_token is not None:
        output["NextToken"] = page.next_token
    return output


def delete_tags(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Remove the tags with the given keys; keys the resource does not have are ignored."""
    arn = _resource_arn(params)
    check_not_reserved(params["TagKeys"])
    ctx.metadata.tags.delete(arn, params["TagKeys"])
    return {}


def _resource_arn(params: dict[str, Any]) -> str:
    arn: str = params["ResourceArn"]
    if not _RESOURCE_ARN.fullmatch(arn):
        raise ValidationError(f"Invalid ResourceArn {arn!r}: a SageMaker resource ARN looks like "
                              "arn:aws:sagemaker:<region>:<12-digit account>:<resource-type>/<name>.")
    return arn


def check_not_reserved(keys: Iterable[str]) -> None:
    """Raise ValidationError if a key starts with "aws:" in any letter case."""
    for key in keys:
        if key.lower().startswith(RESERVED_KEY_PREFIX):
            raise ValidationError(f"Tag key {key!r} is not allowed: keys starting with "
                                  f"{RESERVED_KEY_PREFIX!r} are reserved for AWS use.")


def creation_tags(params: dict[str, Any]) -> list[Tag]:
    """The Tags of a Create* request as pairs; ValidationError for a reserved key (check before creating)."""
    tags = [(tag["Key"], tag["Value"]) for tag in params.get("Tags", [])]
    check_not_reserved(key for key, _ in tags)
    return tags


def store_tags(ctx: Context, arn: str, tags: list[Tag]) -> None:
    """Give a resource just created the tags of its Create* request."""
    if tags:
        _add(ctx, arn, tags)


def _add(ctx: Context, arn: str, tags: list[Tag]) -> None:
    try:
        ctx.metadata.tags.add(arn, tags, max_tags=MAX_TAGS_PER_RESOURCE)
    except TooManyTags as err:
        raise ResourceLimitExceeded(f"The resource {arn} would have {err.total} tags; a resource can have at most "
                                    f"{err.max_tags}.") from err


def _wire(tags: Iterable[Tag]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags]


OPERATIONS: dict[str, Handler] = {"AddTags": add_tags, "ListTags": list_tags, "DeleteTags": delete_tags}
