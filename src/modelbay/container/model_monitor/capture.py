"""An endpoint's captured data as records: SageMaker's capture files, one JSON record a line.

A captured record is `{"captureData": {"endpointInput": {"observedContentType", "mode", "data", "encoding"},
"endpointOutput": {...}}, "eventMetadata": {"eventId", "inferenceId", "inferenceTime"}, "eventVersion"}`, its
`data` encoded as CSV, JSON or BASE64. The payloads of the index names asked for (`captureIndexNames`, the input
by default) are decoded as their content type says and joined side by side: a CSV payload of several lines is as
many rows. A record preprocessor script turns each captured record into rows its own way.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from modelbay.container.model_monitor.datasets import (
    Record,
    Table,
    csv_records,
    files_under,
    json_value_records,
    positional,
)
from modelbay.container.model_monitor.job import AnalysisError, Window, parse_time

DEFAULT_INDEX_NAMES = ("endpointInput",)
Preprocessor = Callable[[Any], Any]


def read_capture(options: dict[str, Any] | None, source: Path, window: Window,
                 preprocessor: Preprocessor | None = None) -> Table:
    """The rows of every captured record under `source` whose inference time is in `window`."""
    index_names = tuple((options or {}).get("captureIndexNames") or DEFAULT_INDEX_NAMES)
    records: list[Record] = []
    for path in files_under(source):
        for line_number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                captured = json.loads(line)
            except ValueError as err:
                raise AnalysisError(f"{path.name} line {line_number} is not a captured record: {err}") from err
            if isinstance(captured, dict) and _in_window(captured, window):
                records.extend(preprocessed(captured, preprocessor) if preprocessor is not None
                               else captured_rows(captured, index_names))
    return Table.of(records)


def captured_rows(captured: dict[str, Any], index_names: tuple[str, ...]) -> list[Record]:
    """The rows of one captured record: each index's payload decoded, joined side by side (row i of each)."""
    payloads = [list(payload_records((captured.get("captureData") or {}).get(name) or {})) for name in index_names]
    payloads = [rows for rows in payloads if rows]
    if not payloads:
        return []
    joined = []
    for parts in itertools.zip_longest(*payloads, fillvalue={}):  # a payload of fewer rows: missing values
        row: Record = {}
        for part in parts:  # a positional part continues the numbering of the parts before it
            row |= positional(list(part.values()), len(row)) if _is_positional(part) else part
        joined.append(row)
    return joined


def payload_records(payload: dict[str, Any]) -> Iterator[Record]:
    """The records of one captured payload (`endpointInput` or `endpointOutput`); none when it cannot be read."""
    text = decoded(payload)
    if text is None:
        return
    content_type = str(payload.get("observedContentType") or "").lower()
    if "csv" in content_type or (str(payload.get("encoding")).upper() == "CSV" and "json" not in content_type):
        yield from csv_records(text)
        return
    try:
        values = ([json.loads(line) for line in text.splitlines() if line.strip()] if "jsonlines" in content_type
                  else [json.loads(text)])
    except ValueError:
        yield positional([text])  # neither CSV nor JSON: one opaque value
        return
    for value in values:
        yield from json_value_records(value)


def decoded(payload: dict[str, Any]) -> str | None:
    """A payload's data as text (BASE64 decoded); None when absent or not text."""
    data = payload.get("data")
    if not isinstance(data, str):
        return None
    if str(payload.get("encoding")).upper() != "BASE64":
        return data
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def preprocessed(captured: dict[str, Any], preprocessor: Preprocessor) -> list[Record]:
    """The rows `preprocessor` makes of a captured record, given as SageMaker gives it (attributes
    endpoint_input, endpoint_output with data, encoding, observed_content_type, mode; event_metadata)."""
    rows = preprocessor(inference_record(captured))
    if rows is None:
        return []
    if isinstance(rows, dict):
        return [rows]
    if isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
        return list(rows)
    return [positional(rows if isinstance(rows, (list, tuple)) else [rows])]


def inference_record(captured: dict[str, Any]) -> SimpleNamespace:
    """A captured record as a preprocessor script receives it."""
    data = captured.get("captureData") or {}

    def payload(name: str) -> SimpleNamespace | None:
        given = data.get(name)
        return None if given is None else SimpleNamespace(
            data=given.get("data"), encoding=given.get("encoding"), mode=given.get("mode"),
            observed_content_type=given.get("observedContentType"))
    meta = captured.get("eventMetadata") or {}
    return SimpleNamespace(endpoint_input=payload("endpointInput"), endpoint_output=payload("endpointOutput"),
                           event_metadata=SimpleNamespace(event_id=meta.get("eventId"),
                                                          inference_id=meta.get("inferenceId"),
                                                          inference_time=meta.get("inferenceTime")),
                           event_version=captured.get("eventVersion"))


def _is_positional(record: Record) -> bool:
    return all(key.startswith("_c") and key[2:].isdigit() for key in record)


def _in_window(captured: dict[str, Any], window: Window) -> bool:
    """Whether the record's inferenceTime is in the window (a record without a readable time is kept)."""
    when = (captured.get("eventMetadata") or {}).get("inferenceTime")
    try:
        return window.holds(parse_time(when)) if isinstance(when, str) else True
    except ValueError:
        return True
