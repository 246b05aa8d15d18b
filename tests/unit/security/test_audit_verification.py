"""`modelbay audit verify`'s checks: every change to the chain or to a trail's files is found and named."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, update

from modelbay.config import Settings
from modelbay.controllers.trail_delivery import TrailDelivery
from modelbay.platform import Platform, open_platform
from modelbay.security.audit_verification import Finding, verify
from modelbay.security.trail_files import packed, unpacked
from modelbay.store.metadata import SUCCESS, AuditEvent
from modelbay.store.metadata.audit import chain_hash
from modelbay.store.metadata.audit_signatures import CheckpointRow
from modelbay.store.metadata.tables import AuditEventRow

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
BUCKET = "trail-bucket"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A platform with ten events recorded, one a minute from T0 (requests r1 to r10, places 1 to 10)."""
    platform = open_platform(Settings(data_dir=tmp_path))
    platform.metadata.audit.append([_event(f"r{i}", T0 + timedelta(minutes=i - 1)) for i in range(1, 11)])
    yield platform
    platform.metadata.close()


def _event(request_id: str, at: datetime) -> AuditEvent:
    return AuditEvent(event_time=at, request_id=request_id, principal="p", service="sagemaker",
                      operation="CreateModel", outcome=SUCCESS, status_code=200, region="us-east-1")


def _findings(platform: Platform, since: datetime | None = None, until: datetime | None = None) -> list[Finding]:
    return verify(platform.metadata.audit, platform.objects, since, until).findings


def _rows(platform: Platform, *changes: object) -> None:
    with platform.metadata.db.write() as session:
        for change in changes:
            session.execute(change)  # type: ignore[call-overload]


def test_an_untouched_trail_verifies(platform: Platform) -> None:
    TrailDelivery(platform).deliver(T0)
    result = verify(platform.metadata.audit, platform.objects)
    assert result.is_intact and result.checked["Audit event"] == 10 and result.checked["Signed head"] == 1


def test_an_edited_row_is_named_by_its_place_and_request_id(platform: Platform) -> None:
    _rows(platform, update(AuditEventRow).where(AuditEventRow.request_id == "r4").values(outcome="AccessDenied"))
    [finding] = _findings(platform)
    assert finding.kind == "Audit event" and finding.where.startswith("place 4 (request r4,")
    assert "changed" in finding.problem


def test_a_removed_row_is_named_by_its_place(platform: Platform) -> None:
    _rows(platform, delete(AuditEventRow).where(AuditEventRow.request_id.in_(["r5", "r6"])))
    [finding] = _findings(platform)
    assert finding.where == "place 5 to 6" and "removed" in finding.problem and "request r7" in finding.problem


def test_reordered_rows_are_found(platform: Platform) -> None:
    _rows(platform, update(AuditEventRow).where(AuditEventRow.request_id == "r3").values(sequence=-3),
          update(AuditEventRow).where(AuditEventRow.request_id == "r2").values(sequence=3),
          update(AuditEventRow).where(AuditEventRow.request_id == "r3").values(sequence=2))
    # the two moved, and the one after them, whose predecessor's hash is no longer the one it was chained to
    assert [f.where.split(" (")[0] for f in _findings(platform)] == ["place 2", "place 3", "place 4"]


def test_an_edit_whose_later_hashes_were_rewritten_is_found_by_the_signed_head(platform: Platform) -> None:
    TrailDelivery(platform).deliver(T0)  # signs the head, place 10
    _rows(platform, update(AuditEventRow).where(AuditEventRow.request_id == "r8").values(error_message="rewritten"))
    previous = next(iter(platform.metadata.audit.chain(7, 7))).chain_hash or ""
    for chained in list(platform.metadata.audit.chain(8, 10)):  # r8 and every later row given a matching hash
        previous = chain_hash(previous, chained.sequence or 0, chained.event)
        _rows(platform, update(AuditEventRow).where(AuditEventRow.id == chained.row_id).values(chain_hash=previous))
    [finding] = _findings(platform)
    assert finding.where == "place 10 or before" and "rewritten" in finding.problem


def test_rows_removed_from_the_end_are_found_by_the_signed_head(platform: Platform) -> None:
    TrailDelivery(platform).deliver(T0)
    _rows(platform, delete(AuditEventRow).where(AuditEventRow.sequence > 8))
    [finding] = _findings(platform)
    assert finding.where == "place 9 to 10" and "removed from the end" in finding.problem


def test_a_forged_signature_is_found(platform: Platform) -> None:
    TrailDelivery(platform).deliver(T0)
    _rows(platform, update(CheckpointRow).values(signature=b"\x00" * 256))
    [finding] = _findings(platform)
    assert finding.kind == "Signed head" and "signature" in finding.problem


def test_a_row_put_in_outside_the_chain_is_found(platform: Platform) -> None:
    with platform.metadata.db.write() as session:
        session.add(AuditEventRow(event_time=T0, request_id="forged", principal="p", service="s", operation="o",
                                  resources=[], outcome=SUCCESS, status_code=200))
    [finding] = _findings(platform)
    assert "request forged" in finding.where and "not in the chain" in finding.problem


def test_a_range_checks_only_its_events(platform: Platform) -> None:
    _rows(platform, update(AuditEventRow).where(AuditEventRow.request_id == "r2").values(operation="DeleteModel"))
    assert _findings(platform, since=T0 + timedelta(minutes=4)) == []
    assert [f.where.split(" (")[0] for f in _findings(platform, until=T0 + timedelta(minutes=4))] == ["place 2"]


def test_a_removed_or_changed_log_file_and_a_changed_digest_are_named_by_their_s3_uri(platform: Platform) -> None:
    trails = platform.metadata.audit.trails
    platform.objects.create_bucket(BUCKET, "us-east-1")
    trails.create("main", "arn:aws:cloudtrail:us-east-1:000000000000:trail/main", "us-east-1", [], bucket=BUCKET,
                  key_prefix="logs", is_multi_region=False, include_global_events=True, log_file_validation=True)
    start = trails.start_logging("main", 0).start_logging_time or T0
    delivery = TrailDelivery(platform)
    delivery.deliver(start + timedelta(hours=1))  # a log file of the ten events, and a digest listing it
    platform.metadata.audit.append([_event("r11", T0 + timedelta(minutes=20))])
    delivery.deliver(start + timedelta(hours=1, minutes=5))  # a log file no digest lists yet
    assert _findings(platform) == []
    digested, undigested = trails.files("main", "log")
    [digest] = trails.files("main", "digest")
    platform.objects.delete(BUCKET, digested.key)
    platform.objects.delete(BUCKET, undigested.key)
    with platform.objects.open(BUCKET, digest.key) as reader:  # the digest rewritten to list no log file
        document, _ = unpacked(reader.read())
    meta = platform.objects.head(BUCKET, digest.key).meta
    platform.objects.put(BUCKET, digest.key, io.BytesIO(packed(document | {"logFiles": []})[0]), meta)
    found = {(f.kind, f.where): f.problem for f in _findings(platform)}
    assert found == {("Digest file", f"s3://{BUCKET}/{digest.key}"): "INVALID: changed: its content is not the one "
                                                                      "delivered",
                     ("Log file", f"s3://{BUCKET}/{digested.key}"): "INVALID: not found",
                     ("Log file", f"s3://{BUCKET}/{undigested.key}"): "INVALID: not found"}

