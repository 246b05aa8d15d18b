"""Whether the audit trail is as it was written: the events' hash chain, its signed heads, and the log and digest
files each trail delivered, as `aws cloudtrail validate-logs` checks a trail's files.

Each problem found names where it is: the event's place in the chain and its request id, or the file's S3 URI.
- an event changed, or moved to another place: its record no longer hashes, with its predecessor's hash, to its hash;
- an event removed: a place of the chain is missing (or, from the end, a signed head names a place past the last);
- events changed and every later hash rewritten to match: a signed head's hash differs from the chain's;
- a row put in outside the chain; a signature that does not verify;
- a log or digest file removed, changed (its SHA-256 is not the one delivered), or a digest that does not chain to
  the previous one of its region.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelbay.security.audit_signing import checkpoint_statement, is_signed
from modelbay.security.trail_files import SIGNATURE_META, digest_statement, unpacked
from modelbay.store.metadata.audit import GENESIS_HASH, AuditRepository, ChainedEvent, chain_hash
from modelbay.store.metadata.audit_signatures import Checkpoint
from modelbay.store.metadata.trails import DIGEST, LOG, Trail, TrailFile
from modelbay.store.objects.base import ObjectStore, ObjectStoreError

EVENT, CHECKPOINT, LOG_FILE, DIGEST_FILE = "Audit event", "Signed head", "Log file", "Digest file"
KINDS = (EVENT, CHECKPOINT, LOG_FILE, DIGEST_FILE)
_MOST_UNCHAINED = 100  # rows outside the chain named one by one


@dataclass(frozen=True)
class Finding:
    kind: str  # EVENT, CHECKPOINT, LOG_FILE or DIGEST_FILE
    where: str  # "place 42 (request 1f…, 2026-12-06T10:00:00Z CreateModel)", "s3://bucket/key"
    problem: str


@dataclass
class Verification:
    """What verify found wrong, and how many of each kind it checked."""

    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    @property
    def is_intact(self) -> bool:
        return not self.findings

    def found(self, kind: str, where: str, problem: str) -> None:
        self.findings.append(Finding(kind, where, problem))


def verify(audit: AuditRepository, objects: ObjectStore, since: datetime | None = None,
           until: datetime | None = None) -> Verification:
    """Check the events with since <= event_time < until, the signed heads among them, and the files of every trail
    that hold events of that time."""
    result = Verification()
    public_keys = {key.fingerprint: key.public_key for key in audit.signatures.public_keys()}
    _verify_chain(audit, public_keys, since, until, result)
    for trail in audit.trails.list():
        _TrailCheck(trail, audit, objects, public_keys, result).run(since, until)
    return result


def _verify_chain(audit: AuditRepository, public_keys: Mapping[str, bytes], since: datetime | None,
                  until: datetime | None, result: Verification) -> None:
    places = audit.places(since, until)
    first, last = places or (1, 0)
    seen = _walk(audit, first, last, result)
    open_ended = until is None
    _check_heads(audit.signatures.checkpoints(first, None if open_ended else last), seen, last, public_keys, result)
    if audit.head() is not None:  # before the chain begins, the rows recorded earlier wait for the first append
        for row in audit.unchained(_MOST_UNCHAINED):
            result.found(EVENT, f"row {row.row_id} ({_described(row)})",
                         "INVALID: not in the chain: put in the database other than by modelbay's audit trail")


def _walk(audit: AuditRepository, first: int, last: int, result: Verification) -> dict[int, str]:
    """Check each event from place `first` to `last` against its predecessor's hash; the hashes read, by place."""
    previous: str | None = GENESIS_HASH
    if first > 1:
        before = next(iter(audit.chain(first - 1, first - 1)), None)
        previous = None if before is None else before.chain_hash
    expected, seen = first, dict[int, str]()
    for chained in audit.chain(first, last):
        place = chained.sequence or 0
        result.checked[EVENT] += 1
        if place != expected or previous is None:  # the places before it (or its predecessor) are gone
            gap = expected if place != expected else place - 1
            missing = f"{gap}" if gap == place - 1 else f"{gap} to {place - 1}"
            result.found(EVENT, f"place {missing}", f"INVALID: removed: the chain goes on at place {place} "
                                                    f"({_described(chained)})")
        elif chain_hash(previous, place, chained.event) != chained.chain_hash:
            result.found(EVENT, f"place {place} ({_described(chained)})",
                         "INVALID: changed, or moved (it or the event before it): its record and the previous "
                         "event's hash do not hash to its chain hash")
        previous, expected = chained.chain_hash, place + 1
        seen[place] = chained.chain_hash or ""
    return seen


def _check_heads(checkpoints: Iterable[Checkpoint], seen: Mapping[int, str], last: int,
                 public_keys: Mapping[str, bytes], result: Verification) -> None:
    """Each signed head must verify, and name a place that still has the hash signed."""
    for checkpoint in checkpoints:
        result.checked[CHECKPOINT] += 1
        where = f"place {checkpoint.sequence} signed at {checkpoint.signed_at.isoformat()}"
        statement = checkpoint_statement(checkpoint.sequence, checkpoint.chain_hash, checkpoint.signed_at)
        key = public_keys.get(checkpoint.fingerprint)
        if key is None or not is_signed(key, statement, checkpoint.signature):
            result.found(CHECKPOINT, where, "INVALID: signature verification failed")
        elif checkpoint.sequence > last:
            result.found(EVENT, f"place {last + 1} to {checkpoint.sequence}",
                         f"INVALID: removed from the end of the chain (signed as its head at "
                         f"{checkpoint.signed_at.isoformat()})")
        elif checkpoint.sequence in seen and seen[checkpoint.sequence] != checkpoint.chain_hash:
            result.found(EVENT, f"place {checkpoint.sequence} or before",
                         "INVALID: changed, and the chain's hashes rewritten to match: the head signed at "
                         f"{checkpoint.signed_at.isoformat()} had another hash")


class _TrailCheck:
    """One trail's delivered files: each digest file's signature and chain, and every log file's content."""

    def __init__(self, trail: Trail, audit: AuditRepository, objects: ObjectStore, public_keys: Mapping[str, bytes],
                 result: Verification) -> None:
        self.trail, self.audit, self.objects, self.public_keys, self.result = trail, audit, objects, public_keys, result

    def run(self, since: datetime | None, until: datetime | None) -> None:
        previous: dict[str, TrailFile] = {}
        listed: set[str] = set()
        for digest in self.audit.trails.files(self.trail.name, DIGEST):
            if _in_period(digest, since, until):
                listed |= self._check_digest(digest, previous.get(digest.region))
            previous[digest.region] = digest
        for log_file in self.audit.trails.files(self.trail.name, LOG):
            if log_file.key not in listed and _in_period(log_file, since, until):
                self._check_log_file(log_file.bucket, log_file.key, log_file.sha256)

    def _check_digest(self, digest: TrailFile, previous: TrailFile | None) -> set[str]:
        """Check a digest file and the log files it lists; their keys."""
        self.result.checked[DIGEST_FILE] += 1
        where = f"s3://{digest.bucket}/{digest.key}"
        try:
            document, sha256 = unpacked(self._read(digest.bucket, digest.key))
            signature = self.objects.head(digest.bucket, digest.key).meta.metadata.get(SIGNATURE_META, "")
        except (ObjectStoreError, ValueError) as error:
            self.result.found(DIGEST_FILE, where, f"INVALID: {_unreadable(error)}")
            return set()
        problem = self._digest_problem(document, sha256, signature, digest, previous)
        if problem:
            self.result.found(DIGEST_FILE, where, f"INVALID: {problem}")
        listed = document.get("logFiles") or []
        for entry in listed:
            self._check_log_file(entry.get("s3Bucket", ""), entry.get("s3Object", ""), entry.get("hashValue", ""))
        return {entry.get("s3Object", "") for entry in listed}

    def _digest_problem(self, document: dict[str, Any], sha256: str, signature: str, digest: TrailFile,
                        previous: TrailFile | None) -> str | None:
        key = self.public_keys.get(document.get("digestPublicKeyFingerprint", ""))
        if sha256 != digest.sha256:
            return "changed: its content is not the one delivered"
        if (document.get("digestS3Bucket"), document.get("digestS3Object")) != (digest.bucket, digest.key):
            return "has been moved from its original location"
        if key is None or not is_signed(key, digest_statement(document, sha256), bytes.fromhex(signature or "")):
            return "signature verification failed"
        expected = (previous.sha256, previous.signature) if previous else (None, None)
        if (document.get("previousDigestHashValue"), document.get("previousDigestSignature")) != expected:
            return "does not chain to the previous digest file of its region"
        return None

    def _check_log_file(self, bucket: str, key: str, sha256: str) -> None:
        self.result.checked[LOG_FILE] += 1
        try:
            _, found = unpacked(self._read(bucket, key))
        except (ObjectStoreError, ValueError) as error:
            self.result.found(LOG_FILE, f"s3://{bucket}/{key}", f"INVALID: {_unreadable(error)}")
            return
        if found != sha256:
            self.result.found(LOG_FILE, f"s3://{bucket}/{key}", "INVALID: hash value doesn't match")

    def _read(self, bucket: str, key: str) -> bytes:
        with self.objects.open(bucket, key) as reader:
            return reader.read()


def _in_period(file: TrailFile, since: datetime | None, until: datetime | None) -> bool:
    """Whether a file may hold events with since <= event_time < until (a digest: delivered since)."""
    newest = file.newest_event_time or file.delivered_at
    oldest = file.oldest_event_time or file.delivered_at
    return (since is None or newest >= since) and (until is None or oldest < until)


def _unreadable(error: Exception) -> str:
    if isinstance(error, ObjectStoreError):
        return "not found" if error.code in ("NoSuchKey", "NoSuchBucket") else f"cannot be read ({error.code})"
    return f"invalid format ({error})"


def _described(chained: ChainedEvent) -> str:
    event = chained.event
    return f"request {event.request_id}, {event.event_time.isoformat()} {event.operation or '-'}"
