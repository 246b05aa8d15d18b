"""The tag repository on every backend."""

from __future__ import annotations

import pytest

from modelbay.store.metadata import MetadataStore
from modelbay.store.metadata.paging import InvalidToken, encode_token
from modelbay.store.metadata.tags import TooManyTags

ARN = "arn:aws:sagemaker:us-east-1:000000000000:training-job/job-1"
OTHER = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/ep-1"


def _all(store: MetadataStore, arn: str) -> list[tuple[str, str]]:
    return store.tags.list(arn, limit=1000).items


def test_tags_list_in_the_order_they_were_added(store: MetadataStore) -> None:
    store.tags.add(ARN, [("zeta", "1"), ("alpha", "2")])
    store.tags.add(ARN, [("mid", "3")])
    assert _all(store, ARN) == [("zeta", "1"), ("alpha", "2"), ("mid", "3")]
    assert _all(store, OTHER) == []


def test_adding_an_existing_key_replaces_its_value_in_place(store: MetadataStore) -> None:
    store.tags.add(ARN, [("a", "1"), ("b", "2")])
    store.tags.add(ARN, [("a", "changed"), ("c", "3")])
    assert _all(store, ARN) == [("a", "changed"), ("b", "2"), ("c", "3")]
    assert store.tags.count(ARN) == 3


def test_a_key_given_twice_takes_the_later_value(store: MetadataStore) -> None:
    store.tags.add(ARN, [("a", "1"), ("a", "2")])
    assert _all(store, ARN) == [("a", "2")]


def test_keys_are_case_sensitive_and_values_keep_unicode(store: MetadataStore) -> None:
    store.tags.add(ARN, [("Env", "prod"), ("env", "Café ünïcode 数据"), ("empty", "")])
    assert _all(store, ARN) == [("Env", "prod"), ("env", "Café ünïcode 数据"), ("empty", "")]


def test_paging_walks_every_tag_once(store: MetadataStore) -> None:
    tags = [(f"k{i}", f"v{i}") for i in range(7)]
    store.tags.add(ARN, tags)
    first = store.tags.list(ARN, limit=3)
    second = store.tags.list(ARN, first.next_token, limit=3)
    third = store.tags.list(ARN, second.next_token, limit=3)
    assert [len(page.items) for page in (first, second, third)] == [3, 3, 1]
    assert first.items + second.items + third.items == tags
    assert first.next_token and second.next_token and third.next_token is None


def test_a_full_last_page_has_no_next_token(store: MetadataStore) -> None:
    store.tags.add(ARN, [("a", "1"), ("b", "2")])
    assert store.tags.list(ARN, limit=2).next_token is None


def test_paging_survives_deletes_between_pages(store: MetadataStore) -> None:
    store.tags.add(ARN, [(f"k{i}", "v") for i in range(6)])
    first = store.tags.list(ARN, limit=3)
    store.tags.delete(ARN, ["k2", "k3"])
    rest = store.tags.list(ARN, first.next_token, limit=3)
    assert [key for key, _ in rest.items] == ["k4", "k5"]


@pytest.mark.parametrize("token", ["garbage!", "", "bm90IGpzb24", encode_token(f"tags {OTHER}", 1),
                                   encode_token(f"tags {ARN}", True), "éé"])
def test_tokens_not_made_for_this_listing_are_refused(store: MetadataStore, token: str) -> None:
    with pytest.raises(InvalidToken):
        store.tags.list(ARN, token)


def test_limit_must_be_positive(store: MetadataStore) -> None:
    with pytest.raises(ValueError):
        store.tags.list(ARN, limit=0)


def test_delete_removes_only_the_given_keys_of_that_resource(store: MetadataStore) -> None:
    store.tags.add(ARN, [("a", "1"), ("b", "2"), ("c", "3")])
    store.tags.add(OTHER, [("a", "1")])
    store.tags.delete(ARN, ["a", "c", "never-there"])
    assert _all(store, ARN) == [("b", "2")]
    assert _all(store, OTHER) == [("a", "1")]


def test_a_deleted_key_added_again_goes_last(store: MetadataStore) -> None:
    store.tags.add(ARN, [("a", "1"), ("b", "2")])
    store.tags.delete(ARN, ["a"])
    store.tags.add(ARN, [("a", "again")])
    assert _all(store, ARN) == [("b", "2"), ("a", "again")]


def test_count(store: MetadataStore) -> None:
    assert store.tags.count(ARN) == 0
    store.tags.add(ARN, [("a", "1"), ("b", "2")])
    store.tags.add(OTHER, [("a", "1")])
    assert store.tags.count(ARN) == 2


def test_an_add_past_the_limit_writes_nothing(store: MetadataStore) -> None:
    store.tags.add(ARN, [(f"k{i}", "v") for i in range(4)], max_tags=5)
    with pytest.raises(TooManyTags) as info:
        store.tags.add(ARN, [("k0", "new"), ("x", "1"), ("y", "2")], max_tags=5)
    assert ARN in str(info.value)
    assert _all(store, ARN) == [(f"k{i}", "v") for i in range(4)]


def test_replacing_values_at_the_limit_is_allowed(store: MetadataStore) -> None:
    store.tags.add(ARN, [(f"k{i}", "v") for i in range(5)], max_tags=5)
    store.tags.add(ARN, [("k0", "new"), ("k4", "new")], max_tags=5)
    assert _all(store, ARN)[0] == ("k0", "new")
    assert store.tags.count(ARN) == 5
