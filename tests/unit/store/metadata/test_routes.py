"""The routing tables the leader publishes, on every metadata backend: each change the next version; a reader
gets what changed after the version it has, withdrawals included, in order."""

from __future__ import annotations

import threading

from modelbay.store.metadata import MetadataStore

TABLE = {"variants": [{"name": "a", "weight": 1.0}]}


def test_each_change_is_the_next_version_and_read_after_the_one_seen(store: MetadataStore) -> None:
    assert store.routes.changed_since(0) == []
    first = store.routes.put("one", TABLE)
    second = store.routes.put("two", {"variants": []})
    assert second == first + 1
    assert [(c.endpoint, c.table, c.version) for c in store.routes.changed_since(0)] == [
        ("one", TABLE, first), ("two", {"variants": []}, second)]
    withdrawn = store.routes.put("one", None)
    assert [(c.endpoint, c.table, c.version) for c in store.routes.changed_since(second)] == [
        ("one", None, withdrawn)]
    assert [c.endpoint for c in store.routes.changed_since(0)] == ["two", "one"]  # one row each, latest change
    assert store.routes.changed_since(withdrawn) == []


def test_writers_at_once_get_distinct_versions_and_the_last_write_wins(store: MetadataStore) -> None:
    written: list[tuple[int, str, int]] = []  # (version, endpoint, n)

    def put(n: int) -> None:
        written.append((store.routes.put(f"e{n % 3}", {"n": n}), f"e{n % 3}", n))

    threads = [threading.Thread(target=put, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(version for version, _, _ in written) == list(range(1, 13))
    last = {endpoint: (version, {"n": n}) for version, endpoint, n in sorted(written)}
    assert {c.endpoint: (c.version, c.table) for c in store.routes.changed_since(0)} == last
