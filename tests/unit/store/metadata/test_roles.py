"""The role table on every metadata backend: 64-character names and listing under an ARN prefix (IAM paths)."""

from __future__ import annotations

import pytest

from modelbay.store.metadata import ListFilter, MetadataStore, RecordExists

ARN = "arn:aws:iam::000000000000:role"


def test_a_role_name_may_have_64_characters(store: MetadataStore) -> None:
    name = "r" * 64
    assert store.roles.create(name, f"{ARN}/{name}", {"RoleId": "AROA1"}).name == name
    assert store.roles.get(name) is not None


def test_listing_under_an_arn_prefix(store: MetadataStore) -> None:
    for path, name in (("/", "b"), ("/team/", "a"), ("/team/", "c"), ("/teammate/", "d"), ("/%/", "e")):
        store.roles.create(name, f"{ARN}{path}{name}", {})
    team = store.roles.list(ListFilter(arn_prefix=f"{ARN}/team/"), sort_by="Name", ascending=True, limit=10)
    assert [role.name for role in team.items] == ["a", "c"]
    literal = store.roles.list(ListFilter(arn_prefix=f"{ARN}/%/"), sort_by="Name", ascending=True, limit=10)
    assert [role.name for role in literal.items] == ["e"]  # a wildcard in a path is a character, not a pattern


def test_a_name_is_taken_once(store: MetadataStore) -> None:
    store.roles.create("x", f"{ARN}/x", {})
    with pytest.raises(RecordExists):
        store.roles.create("x", f"{ARN}/other/x", {})
