"""CloudTrail's delivery: log files in CloudTrail's layout and format, signed digests chaining them, checkpoints."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.controllers.trail_delivery import TrailDelivery
from modelbay.platform import Platform, open_platform
from modelbay.security.audit_signing import checkpoint_statement, is_signed
from modelbay.security.trail_files import digest_statement, unpacked
from modelbay.store.metadata import SUCCESS, AuditEvent

T0 = datetime(2026, 12, 6, 10, 15, 0, tzinfo=UTC)
ACCOUNT = Settings().account_id
BUCKET = "trail-bucket"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    platform = open_platform(Settings(data_dir=tmp_path))
    platform.objects.create_bucket(BUCKET, "us-east-1")
    yield platform
    platform.metadata.close()


def _record(platform: Platform, *request_ids: str, region: str = "us-east-1", service: str = "sagemaker") -> None:
    platform.metadata.audit.append([AuditEvent(event_time=T0, request_id=request_id, principal="p", service=service,
                                               operation="CreateModel", outcome=SUCCESS, status_code=200,
                                               region=region) for request_id in request_ids])


def _trail(platform: Platform, name: str = "main", **settings: object) -> datetime:
    """A logging trail; when it started logging (its first digest period's start)."""
    trails = platform.metadata.audit.trails
    defaults = {"bucket": BUCKET, "key_prefix": None, "is_multi_region": False, "include_global_events": True,
                "log_file_validation": True}
    trails.create(name, f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{name}", "us-east-1", [],
                  **(defaults | settings))
    head = platform.metadata.audit.head()
    started = trails.start_logging(name, head[0] if head else 0).start_logging_time
    assert started is not None
    return started


def _objects(platform: Platform, prefix: str) -> list[str]:
    return [info.key for info in platform.objects.list(BUCKET, prefix).objects]


def test_a_pass_delivers_the_new_events_as_a_gzipped_log_file_in_cloudtrails_layout(platform: Platform) -> None:
    _record(platform, "before")
    now = _trail(platform) + timedelta(minutes=5)
    _record(platform, "one", "two")
    _record(platform, "elsewhere", region="eu-west-1")
    TrailDelivery(platform).deliver(now)
    [key] = _objects(platform, "AWSLogs/")
    assert key.startswith(f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{now:%Y/%m/%d}/{ACCOUNT}_CloudTrail_us-east-1_"
                          f"{now:%Y%m%dT%H%MZ}_") and key.endswith(".json.gz")
    with platform.objects.open(BUCKET, key) as reader:
        records = json.loads(gzip.decompress(reader.read()))["Records"]
    assert [r["requestID"] for r in records] == ["one", "two"]  # not before logging, not another region's
    TrailDelivery(platform).deliver(now + timedelta(minutes=5))
    assert len(_objects(platform, "AWSLogs/")) == 1  # nothing new: nothing delivered
    assert platform.metadata.audit.trails.get("main").latest_delivery_time == now  # type: ignore[union-attr]


def test_a_multi_region_trail_delivers_a_log_file_per_region(platform: Platform) -> None:
    now = _trail(platform, is_multi_region=True, log_file_validation=False) + timedelta(hours=2)
    _record(platform, "here")
    _record(platform, "there", region="eu-west-1")
    TrailDelivery(platform).deliver(now)
    regions = sorted(key.split("/")[3] for key in _objects(platform, "AWSLogs/"))
    assert regions == ["eu-west-1", "us-east-1"]


def test_digests_come_hourly_signed_and_chained_listing_each_log_file(platform: Platform) -> None:
    start = _trail(platform)
    _record(platform, "one")
    delivery = TrailDelivery(platform)
    delivery.deliver(start + timedelta(minutes=5))
    assert _objects(platform, f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/") == []  # not an hour yet
    delivery.deliver(start + timedelta(hours=1))
    _record(platform, "two")
    delivery.deliver(start + timedelta(hours=2))
    first, second = platform.metadata.audit.trails.files("main", "digest")
    [public_key] = platform.metadata.audit.signatures.public_keys()
    documents = []
    for digest in (first, second):
        with platform.objects.open(BUCKET, digest.key) as reader:
            document, sha256 = unpacked(reader.read())
        signature = platform.objects.head(BUCKET, digest.key).meta.metadata["signature"]
        assert is_signed(public_key.public_key, digest_statement(document, sha256), bytes.fromhex(signature))
        assert digest.key.endswith(f"_CloudTrail-Digest_us-east-1_main_us-east-1_{digest.delivered_at:%Y%m%dT%H%M%SZ}"
                                   ".json.gz")
        documents.append(document)
    log_files = platform.metadata.audit.trails.files("main", "log")
    assert [f["s3Object"] for f in documents[0]["logFiles"]] == [log_files[0].key]
    assert [f["s3Object"] for f in documents[1]["logFiles"]] == [log_files[1].key]
    assert documents[0]["previousDigestSignature"] is None
    assert documents[1]["previousDigestSignature"] == first.signature
    assert documents[1]["previousDigestHashValue"] == first.sha256


def test_every_pass_signs_the_chains_head(platform: Platform) -> None:
    _record(platform, "one", "two")
    TrailDelivery(platform).deliver(T0)
    checkpoint = platform.metadata.audit.signatures.last_checkpoint()
    assert checkpoint is not None and (checkpoint.sequence, checkpoint.chain_hash) == platform.metadata.audit.head()
    [key] = platform.metadata.audit.signatures.public_keys()
    statement = checkpoint_statement(checkpoint.sequence, checkpoint.chain_hash, checkpoint.signed_at)
    assert is_signed(key.public_key, statement, checkpoint.signature)
    assert not is_signed(key.public_key, statement + b"!", checkpoint.signature)


def test_a_missing_bucket_is_the_trails_delivery_error(platform: Platform) -> None:
    now = _trail(platform)
    platform.objects.delete_bucket(BUCKET)
    _record(platform, "one")
    TrailDelivery(platform).deliver(now)
    trail = platform.metadata.audit.trails.get("main")
    assert trail is not None and (trail.latest_delivery_error or "").startswith("NoSuchBucket")
    assert trail.delivered_sequence == 0  # delivered once the bucket is back
