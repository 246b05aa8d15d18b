"""CloudTrail's trails and the files they delivered, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelbay.store.metadata import MetadataStore
from modelbay.store.metadata.records import RecordExists, RecordNotFound
from modelbay.store.metadata.trails import DIGEST, LOG, TrailFile

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
SETTINGS = {"bucket": "b", "key_prefix": None, "is_multi_region": False, "include_global_events": True,
            "log_file_validation": True}


def _log(key: str) -> TrailFile:
    return TrailFile(LOG, "us-east-1", "b", key, "0" * 64, T0, T0, T0)


def test_a_trail_is_created_once_and_found_by_name_or_arn(store: MetadataStore) -> None:
    trails = store.audit.trails
    created = trails.create("main", "arn:aws:cloudtrail:us-east-1:1:trail/main", "us-east-1", [], **SETTINGS)
    assert trails.get(created.arn) == trails.get("main") == created and not created.is_logging
    with pytest.raises(RecordExists):
        trails.create("main", "arn:aws:cloudtrail:us-east-1:1:trail/main", "us-east-1", [], **SETTINGS)
    with pytest.raises(RecordNotFound):
        trails.update("absent", bucket="c")


def test_delivery_moves_on_by_compare_and_set_only(store: MetadataStore) -> None:
    trails = store.audit.trails
    trails.create("main", "arn:t", "us-east-1", [], **SETTINGS)
    started = trails.start_logging("main", 7)
    assert started.delivered_sequence == 7 and started.digest_start_time is not None
    assert trails.start_logging("main", 9).delivered_sequence == 7  # logging already: nothing changes
    assert trails.record_log_files("main", 7, 12, [_log("one")], T0)
    assert not trails.record_log_files("main", 7, 13, [_log("twice")], T0)  # another delivery moved it on
    assert [f.key for f in trails.undigested("main")] == ["one"]
    period = started.digest_start_time
    digest = TrailFile(DIGEST, "us-east-1", "b", "digest", "1" * 64, T0, signature="ab")
    assert trails.record_digest("main", period, [digest], trails.undigested("main"), T0 + timedelta(hours=1))
    assert not trails.record_digest("main", period, [digest], [], T0 + timedelta(hours=2))
    assert trails.undigested("main") == [] and trails.files("main", DIGEST) == [digest]
    trails.delete("main")
    assert trails.files("main", LOG) == [] and trails.list() == []
