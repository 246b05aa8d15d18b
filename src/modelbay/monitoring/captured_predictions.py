"""An endpoint's predictions as data capture wrote them to S3, read back for A/B verdicts.

Capture writes `<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/*.jsonl`, a record a line:
`{"captureData": {"endpointInput": {...}, "endpointOutput": {"observedContentType": ..., "mode": "OUTPUT",
"data": ..., "encoding": "CSV" | "JSON" | "BASE64"}}, "eventMetadata": {"eventId": ..., "inferenceId": ...,
"inferenceTime": "2026-12-05T21:00:00Z"}, "eventVersion": "0"}`.

A prediction is the output's first value: CSV's first field of its first line, JSON's value (the first element of
a list, list within list), BASE64's bytes read as the observed content type says (JSON if it names json, else CSV).
A value that reads as a finite number is a number; otherwise it is the text. Records without an InferenceId cannot
be joined with labels and are skipped, as are lines that are not such records.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from modelbay.store.objects.base import NoSuchBucket, ObjectStore
from modelbay.store.objects.uris import S3Location, parse_uri

__all__ = ["MAX_RECORDS", "Prediction", "number_of", "predictions", "value_of"]

MAX_RECORDS = 100_000  # per variant and report: the first ones since the window's start
_PAGE = 1000

Value = float | str


@dataclass(frozen=True)
class Prediction:
    inference_id: str
    time: datetime
    value: Value | None  # None: the output holds no value this module can read


def predictions(objects: ObjectStore, destination: str, endpoint: str, variant: str, start: datetime,
                end: datetime) -> Iterator[Prediction]:
    """The variant's captured predictions with an InferenceId made in [start, end), in the order of their files (at
    most MAX_RECORDS). Nothing when the destination's bucket does not exist."""
    location = parse_uri(destination)
    if not isinstance(location, S3Location):
        return
    prefix = "/".join(part for part in (location.key.strip("/"), endpoint, variant) if part) + "/"
    count = 0
    for key in _keys(objects, location.bucket, prefix, start - timedelta(hours=1)):
        with objects.open(location.bucket, key) as reader:
            lines = reader.read().decode("utf-8", "replace").splitlines()
        for line in lines:
            found = _prediction(line)
            if found is not None and start <= found.time < end:
                yield found
                count += 1
                if count >= MAX_RECORDS:
                    return


def _keys(objects: ObjectStore, bucket: str, prefix: str, since: datetime) -> Iterator[str]:
    """The keys of the hour directories from `since`'s on (keys sort as their hours do)."""
    after = prefix + since.strftime("%Y/%m/%d/%H")
    try:
        while True:
            page = objects.list(bucket, prefix=prefix, start_after=after, max_keys=_PAGE)
            yield from (found.key for found in page.objects if found.key.endswith(".jsonl"))
            if not page.is_truncated or page.next_marker is None:
                return
            after = page.next_marker
    except NoSuchBucket:
        return


def _prediction(line: str) -> Prediction | None:
    try:
        record = json.loads(line)
        metadata, output = record["eventMetadata"], record["captureData"]["endpointOutput"]
        inference_id, time = metadata.get("inferenceId"), datetime.fromisoformat(metadata["inferenceTime"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(inference_id, str) or not inference_id or time.tzinfo is None:
        return None
    return Prediction(inference_id, time, value_of(output))


def value_of(output: Any) -> Value | None:
    """The prediction in a captured endpointOutput (see the module's docstring)."""
    if not isinstance(output, dict) or not isinstance(output.get("data"), str):
        return None
    data, encoding = output["data"], str(output.get("encoding", "CSV")).upper()
    is_json = encoding == "JSON"
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None
        is_json = "json" in str(output.get("observedContentType", "")).lower()
    return _json_value(data) if is_json else _csv_value(data)


def _json_value(text: str) -> Value | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    while isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    return _typed(str(value)) if isinstance(value, str) else number_of(value)


def _csv_value(text: str) -> Value | None:
    lines = text.strip().splitlines()
    return _typed(lines[0].split(",")[0].strip().strip('"')) if lines else None


def _typed(text: str) -> Value | None:
    if not text:
        return None
    number = number_of(text)
    return text if number is None else number


def number_of(value: object) -> float | None:
    """`value` as a finite number, if it is one or a text that reads as one (never a boolean)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]  # anything float() refuses is not a number
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
