"""The change counters: every write transaction raises the counter of each table it changed, once it commits, and
this process's listeners hear of it."""

from __future__ import annotations

import pytest

from modelbay.store.metadata import MetadataStore, open_metadata_store
from modelbay.store.metadata.tables import TagRow

ARN = "arn:aws:sagemaker:us-east-1:000000000000:training-job/job-1"


def _moved(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {family: count - before.get(family, 0) for family, count in after.items() if count != before.get(family)}


def test_each_write_transaction_raises_the_counters_of_the_tables_it_changed_once(store: MetadataStore) -> None:
    before = store.changes.generations()
    store.tags.add(ARN, [("a", "1"), ("b", "2")])  # objects flushed
    store.tags.delete(ARN, ["a"])  # a DELETE statement
    assert _moved(before, store.changes.generations()) == {"tags": 2}


def test_reads_and_rolled_back_writes_raise_nothing_and_tell_no_listener(store: MetadataStore) -> None:
    heard: list[frozenset[str]] = []
    store.changes.add_listener(heard.append)
    before = store.changes.generations()
    store.tags.list(ARN)
    with pytest.raises(RuntimeError), store.db.write() as session:
        session.add(TagRow(resource_arn=ARN, key="a", value="1", position=0))
        session.flush()
        raise RuntimeError("the request failed half-way")
    assert store.tags.count(ARN) == 0
    assert _moved(before, store.changes.generations()) == {}
    assert heard == []


def test_listeners_hear_the_tables_as_the_write_commits_until_removed(store: MetadataStore) -> None:
    heard: list[tuple[frozenset[str], int]] = []
    remove = store.changes.add_listener(lambda tables: heard.append((tables, store.tags.count(ARN))))
    store.tags.add(ARN, [("a", "1")])
    remove()
    store.tags.add(ARN, [("b", "2")])
    assert heard == [(frozenset({"tags"}), 1)]  # committed: the listener reads the tag


def test_another_process_on_the_database_moves_the_counters_it_reads(store: MetadataStore) -> None:
    other = open_metadata_store(store.db.engine.url.render_as_string(hide_password=False))
    try:
        before = store.changes.generations()
        other.tags.add(ARN, [("a", "1")])
        assert _moved(before, store.changes.generations()) == {"tags": 1}
    finally:
        other.close()
