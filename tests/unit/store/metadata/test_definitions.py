"""The model and endpoint-config repositories on every metadata backend: create once, get, list, delete."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelbay.store.metadata import (
    Definition,
    DefinitionRepository,
    EndpointConfig,
    ListFilter,
    MetadataStore,
    Model,
    RecordExists,
)
from tests.helpers import T0

KINDS = {"model": ("models", Model), "endpoint-config": ("endpoint_configs", EndpointConfig)}


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def repository(store: MetadataStore, kind: str) -> DefinitionRepository[Definition]:
    repository: DefinitionRepository[Definition] = getattr(store, KINDS[kind][0])
    return repository


def _arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:000000000000:{kind}/{name.lower()}"


def _create(repository: DefinitionRepository[Definition], kind: str, name: str) -> Definition:
    return repository.create(name, _arn(kind, name), {"Echo": name})


def _names(repository: DefinitionRepository[Definition], **kwargs: object) -> list[str]:
    return [found.name for found in repository.list(**kwargs).items]  # type: ignore[arg-type]  # keywords of list()


def test_create_then_get(repository: DefinitionRepository[Definition], kind: str) -> None:
    created = _create(repository, kind, "Thing-1")
    assert created == repository.get("Thing-1")
    assert (created.name, created.arn, created.request, created.creation_time) == (
        "Thing-1", _arn(kind, "thing-1"), {"Echo": "Thing-1"}, T0 + timedelta(seconds=1))
    assert isinstance(created, KINDS[kind][1])
    assert repository.get("thing-1") is None


def test_a_name_or_arn_is_taken_once(repository: DefinitionRepository[Definition], kind: str) -> None:
    _create(repository, kind, "a")
    for name in ("a", "A"):  # the second differs only in case, so its ARN is the same
        with pytest.raises(RecordExists) as caught:
            _create(repository, kind, name)
        assert caught.value.arn == _arn(kind, "a")
    assert _names(repository) == ["a"]


def test_delete_removes_it_and_its_tags_only(store: MetadataStore, repository: DefinitionRepository[Definition],
                                             kind: str) -> None:
    for name in ("a", "b"):
        _create(repository, kind, name)
        store.tags.add(_arn(kind, name), [("k", name)])
    deleted = repository.delete("a")
    assert deleted is not None and deleted.name == "a"
    assert (repository.get("a"), repository.delete("a")) == (None, None)
    assert store.tags.list(_arn(kind, "a")).items == []
    assert store.tags.list(_arn(kind, "b")).items == [("k", "b")]
    assert _create(repository, kind, "a").name == "a"  # the name is free again


def test_list_filters_sorts_and_pages(repository: DefinitionRepository[Definition], kind: str) -> None:
    for name in ("b-x", "a-x", "c-y"):  # created at t+1 .. t+3
        _create(repository, kind, name)
    t = [T0 + timedelta(seconds=i) for i in range(4)]
    assert _names(repository) == ["c-y", "a-x", "b-x"]
    assert _names(repository, sort_by="Name", ascending=True) == ["a-x", "b-x", "c-y"]
    assert _names(repository, filters=ListFilter(name_contains="-X")) == ["a-x", "b-x"]
    assert _names(repository, filters=ListFilter(created_after=t[1], created_before=t[3])) == ["a-x"]
    first = repository.list(sort_by="Name", ascending=False, limit=2)
    assert [found.name for found in first.items] == ["c-y", "b-x"] and first.next_token is not None
    rest = repository.list(sort_by="Name", ascending=False, after_token=first.next_token, limit=2)
    assert ([found.name for found in rest.items], rest.next_token) == (["a-x"], None)


def test_model_containers_and_config_variants(store: MetadataStore) -> None:
    primary = {"Image": "modelbay/sklearn"}
    pipeline = [{"Image": "one"}, {"Image": "two"}]
    assert store.models.create("m1", "arn:1", {"PrimaryContainer": primary}).containers == [primary]
    assert store.models.create("m2", "arn:2", {"Containers": pipeline}).containers == pipeline
    variants = [{"VariantName": "v", "ModelName": "m1"}]
    assert store.endpoint_configs.create("c", "arn:3", {"ProductionVariants": variants}).production_variants == variants
