"""CloudTrail's files as its bucket holds them: log files of records, and the signed digest files that chain them.

Layout (after the trail's S3KeyPrefix, if any):
  AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<account>_CloudTrail_<region>_<yyyymmddThhmmZ>_<unique>.json.gz
  AWSLogs/<account>/CloudTrail-Digest/<region>/<yyyy>/<mm>/<dd>/
      <account>_CloudTrail-Digest_<region>_<trail>_<home region>_<yyyymmddThhmmssZ>.json.gz
A log file is `{"Records": [...]}` gzipped; a digest file lists the log files of its period with the SHA-256 of each
one's uncompressed content, and the previous digest's hash and signature; its own signature (hex) and algorithm are
the object's metadata `signature` and `signature-algorithm`, over digest_statement(...), as CloudTrail signs them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from modelbay.security.audit_signing import SIGNATURE_ALGORITHM
from modelbay.store.metadata.trails import TrailFile

HASH_ALGORITHM = "SHA-256"
SIGNATURE_META = "signature"
SIGNATURE_ALGORITHM_META = "signature-algorithm"
CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "gzip"


def log_file_key(prefix: str | None, account: str, region: str, at: datetime, unique: str) -> str:
    folder = _folder(prefix, account, "CloudTrail", region, at)
    return f"{folder}{account}_CloudTrail_{region}_{at.astimezone(UTC):%Y%m%dT%H%MZ}_{unique}.json.gz"


def digest_key(prefix: str | None, account: str, region: str, trail: str, home_region: str, end: datetime) -> str:
    folder = _folder(prefix, account, "CloudTrail-Digest", region, end)
    moment = end.astimezone(UTC)
    return f"{folder}{account}_CloudTrail-Digest_{region}_{trail}_{home_region}_{moment:%Y%m%dT%H%M%SZ}.json.gz"


def packed(document: dict[str, Any]) -> tuple[bytes, str]:
    """A file's document gzipped, and the SHA-256 (hex) of its uncompressed content."""
    raw = json.dumps(document, separators=(",", ":")).encode()
    return gzip.compress(raw, mtime=0), hashlib.sha256(raw).hexdigest()


def unpacked(data: bytes) -> tuple[dict[str, Any], str]:
    """A delivered file's document and the SHA-256 (hex) of its uncompressed content; ValueError if unreadable."""
    try:
        raw = gzip.decompress(data)
        document = json.loads(raw)
    except (OSError, EOFError, ValueError) as error:
        raise ValueError(f"not a gzipped JSON document: {error}") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document, hashlib.sha256(raw).hexdigest()


def digest_document(*, account: str, start: datetime, end: datetime, bucket: str, key: str, fingerprint: str,
                    previous: TrailFile | None, log_files: Sequence[TrailFile]) -> dict[str, Any]:
    """The digest of the log files delivered from `start` to `end`, chained to the `previous` digest file."""
    oldest = [file.oldest_event_time for file in log_files if file.oldest_event_time is not None]
    newest = [file.newest_event_time for file in log_files if file.newest_event_time is not None]
    return {
        "awsAccountId": account, "digestStartTime": zulu(start), "digestEndTime": zulu(end),
        "digestS3Bucket": bucket, "digestS3Object": key, "digestPublicKeyFingerprint": fingerprint,
        "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
        "newestEventTime": zulu(max(newest, default=None)), "oldestEventTime": zulu(min(oldest, default=None)),
        "previousDigestS3Bucket": previous.bucket if previous else None,
        "previousDigestS3Object": previous.key if previous else None,
        "previousDigestHashValue": previous.sha256 if previous else None,
        "previousDigestHashAlgorithm": HASH_ALGORITHM if previous else None,
        "previousDigestSignature": previous.signature if previous else None,
        "logFiles": [{"s3Bucket": file.bucket, "s3Object": file.key, "hashValue": file.sha256,
                      "hashAlgorithm": HASH_ALGORITHM, "oldestEventTime": zulu(file.oldest_event_time),
                      "newestEventTime": zulu(file.newest_event_time)} for file in log_files],
    }


def digest_statement(document: dict[str, Any], sha256: str) -> bytes:
    """What a digest file's signature covers (CloudTrail's string to sign): its end time, where it is, the
    SHA-256 of its uncompressed content and the previous digest's signature ('null' for the first)."""
    previous = document.get("previousDigestSignature") or "null"
    return (f"{document['digestEndTime']}\n{document['digestS3Bucket']}/{document['digestS3Object']}\n"
            f"{sha256}\n{previous}").encode()


def zulu(moment: datetime | None) -> str | None:
    """CloudTrail's time: UTC to the second, with Z."""
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _folder(prefix: str | None, account: str, kind: str, region: str, at: datetime) -> str:
    start = f"{prefix.strip('/')}/" if prefix else ""
    return f"{start}AWSLogs/{account}/{kind}/{region}/{at.astimezone(UTC):%Y/%m/%d}/"
