"""CloudTrail's delivery: each logging trail's new events, written to its bucket as log files, and every hour a
signed digest file per region listing them; at every pass, the audit chain's head is signed (a checkpoint).

A pass (deliver) is idempotent and restart-safe: what a trail has delivered is recorded with it (its place in the
chain, its digest period), and a pass that another server's overtook removes the files it wrote and records nothing.
The chain's signing uses the database's audit key pair through security/ (the master key unseals it).
"""

from __future__ import annotations

import io
import logging
import uuid
from datetime import datetime, timedelta

from modelbay.platform import Platform
from modelbay.security.audit_signing import SIGNATURE_ALGORITHM, AuditSigner
from modelbay.security.trail_files import (
    CONTENT_ENCODING,
    CONTENT_TYPE,
    SIGNATURE_ALGORITHM_META,
    SIGNATURE_META,
    digest_document,
    digest_key,
    digest_statement,
    log_file_key,
    packed,
)
from modelbay.store.metadata.audit import AuditEvent, cloudtrail_record
from modelbay.store.metadata.trails import DIGEST, LOG, Trail, TrailFile
from modelbay.store.objects.base import ObjectMeta, ObjectStoreError

log = logging.getLogger(__name__)

DELIVERY_INTERVAL_S = 300.0  # CloudTrail delivers log files about every 5 minutes
DIGEST_INTERVAL = timedelta(hours=1)  # and a digest file every hour
_BATCH = 1000  # events a log file holds at most


class TrailDelivery:
    """Delivers the trails of the platform's metadata store (every trail of the server: CloudTrail is served from the
    home region, and the audit events of every region are there)."""

    def __init__(self, platform: Platform, digest_interval: timedelta = DIGEST_INTERVAL) -> None:
        self._audit = platform.metadata.audit
        self._trails = platform.metadata.audit.trails
        self._objects = platform.objects
        self._account = platform.settings.account_id
        self._signer = AuditSigner(self._audit.signatures, platform.master_key)
        self._digest_interval = digest_interval

    def deliver(self, now: datetime) -> None:
        """One pass: sign the chain's head, then deliver each logging trail's events, and its digests when due.
        A trail that cannot be delivered to records why (GetTrailStatus' LatestDeliveryError); the others go on."""
        self._signer.checkpoint(self._audit, now)
        for trail in self._trails.logging():
            try:
                self._deliver_log_files(trail, now)
                if trail.log_file_validation and _is_due(trail, now, self._digest_interval):
                    self._deliver_digests(trail, now)
            except ObjectStoreError as error:
                self._trails.record_delivery_error(trail.name, f"{error.code}: {error}", now)
            except Exception as error:
                log.exception("delivering trail %s failed", trail.name)
                self._trails.record_delivery_error(trail.name, f"InternalError: {error}", now)

    def _deliver_log_files(self, trail: Trail, now: datetime) -> None:
        """A log file per region of the events after the trail's place, _BATCH events at a time."""
        since = trail.delivered_sequence
        while chained := self._audit.after(since, _BATCH):
            by_region: dict[str, list[AuditEvent]] = {}
            for event in (c.event for c in chained if trail.delivers(c.event.region, c.event.service)):
                by_region.setdefault(event.region or trail.home_region, []).append(event)
            files = [self._put_log_file(trail, region, events, now) for region, events in sorted(by_region.items())]
            through = chained[-1].sequence or since
            if not self._trails.record_log_files(trail.name, since, through, files, now):
                self._withdraw(files)  # another server delivered these events first
                return
            since = through

    def _put_log_file(self, trail: Trail, region: str, events: list[AuditEvent], now: datetime) -> TrailFile:
        body, sha256 = packed({"Records": [cloudtrail_record(event) for event in events]})
        key = log_file_key(trail.key_prefix, self._account, region, now, uuid.uuid4().hex[:16])
        self._objects.put(trail.bucket, key, io.BytesIO(body), _meta())
        times = [event.event_time for event in events]
        return TrailFile(LOG, region, trail.bucket, key, sha256, now, min(times), max(times))

    def _deliver_digests(self, trail: Trail, now: datetime) -> None:
        """A digest file per region of the log files delivered since the last digest, chained to that region's."""
        start = trail.digest_start_time or now
        log_files = self._trails.undigested(trail.name)
        previous = {digest.region: digest for digest in self._trails.files(trail.name, DIGEST)}  # the last of each
        regions = sorted({trail.home_region, *previous, *(file.region for file in log_files)})
        digests = [self._put_digest(trail, region, start, now, previous.get(region),
                                    [file for file in log_files if file.region == region]) for region in regions]
        if not self._trails.record_digest(trail.name, start, digests, log_files, now):
            self._withdraw(digests)

    def _put_digest(self, trail: Trail, region: str, start: datetime, now: datetime, previous: TrailFile | None,
                    log_files: list[TrailFile]) -> TrailFile:
        key = digest_key(trail.key_prefix, self._account, region, trail.name, trail.home_region, now)
        document = digest_document(account=self._account, start=start, end=now, bucket=trail.bucket, key=key,
                                   fingerprint=self._signer.key.fingerprint, previous=previous, log_files=log_files)
        body, sha256 = packed(document)
        signature = self._signer.sign(digest_statement(document, sha256)).hex()
        meta = _meta({SIGNATURE_META: signature, SIGNATURE_ALGORITHM_META: SIGNATURE_ALGORITHM})
        self._objects.put(trail.bucket, key, io.BytesIO(body), meta)
        oldest = min((file.oldest_event_time for file in log_files if file.oldest_event_time), default=None)
        newest = max((file.newest_event_time for file in log_files if file.newest_event_time), default=None)
        return TrailFile(DIGEST, region, trail.bucket, key, sha256, now, oldest, newest, signature)

    def _withdraw(self, files: list[TrailFile]) -> None:
        for file in files:
            self._objects.delete(file.bucket, file.key)


def _is_due(trail: Trail, now: datetime, interval: timedelta) -> bool:
    return trail.digest_start_time is not None and now - trail.digest_start_time >= interval


def _meta(metadata: dict[str, str] | None = None) -> ObjectMeta:
    return ObjectMeta(content_type=CONTENT_TYPE, metadata=metadata or {}, headers={"ContentEncoding": CONTENT_ENCODING})
