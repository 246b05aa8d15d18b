"""IAM's tags on users, roles and policies: keys are unique regardless of case, at most MAX_TAGS per entity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelbay.services.iam.entities import InvalidInput

MAX_TAGS = 50


def tag_pairs(tags: list[dict[str, str]]) -> list[tuple[str, str]]:
    """A request's Tags as (key, value) pairs; InvalidInput if two keys differ only in case (or not at all)."""
    pairs = [(tag["Key"], tag["Value"]) for tag in tags]
    if len({key.lower() for key, _ in pairs}) < len(pairs):
        raise InvalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    return pairs


def tag_list(tags: Mapping[str, str]) -> list[dict[str, Any]]:
    """Tags as IAM answers them."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]
