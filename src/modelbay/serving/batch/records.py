"""Batch transform's records: input objects split into records, records into requests, answers into output.

SplitType None makes a whole object one record; Line makes each non-blank line one, numbered
from 1 (failures name the object and the line). BatchStrategy SingleRecord sends one record per
request; MultiRecord joins records with newlines up to MaxPayloadInMB. A record larger than
MaxPayloadInMB fails the job. AssembleWith Line ends each request's output (each record's, when
records are joined or filtered) with a newline; None writes the answers as they are.

DataProcessing, as SageMaker documents it (batch-transform-data-processing.html): InputFilter
selects what of each record the model gets; JoinSource Input joins the input record as read
(before InputFilter) with the model's output for it: for JSON, the output becomes the input
object's member `SageMakerOutput` (or, when the input is no object, the record is
`{"SageMakerInput": …, "SageMakerOutput": …}`); for CSV, the input's fields are followed by the
output's. OutputFilter selects what of the joined record (of the output, without a join) is
written. A CSV record is filtered as the JSON array of its fields (as strings). Records are JSON or
CSV by the ContentType (output by Accept, else the answer's Content-Type); without one that says,
a record that parses as JSON is JSON. To join or filter the output of a request that carried
several records, the answer must hold one line per record (or be one JSON array with one element
per record, as the framework containers answer `application/json`).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from modelbay.serving.batch.jsonpath import JsonPathError, parse

_READ_BYTES = 1024 * 1024


class RecordError(Exception):
    """A record the job cannot process; the message (naming the object and the line) is the FailureReason."""


@dataclass(frozen=True)
class Record:
    """One record as read; `line` is its line number in the object, 0 for a whole object (SplitType None)."""

    line: int
    data: bytes


@dataclass(frozen=True)
class Batch:
    """One request: the records it carries (as read) and the payload the model gets (filtered, one per line)."""

    records: tuple[Record, ...]
    payload: bytes

    @property
    def where(self) -> str:
        return _where(self.records)


def _where(records: tuple[Record, ...]) -> str:
    """Which lines of the object the records are, as failures name them ("" for a whole object)."""
    first, last = records[0].line, records[-1].line
    if first == 0:
        return ""
    return f", line {first}" if first == last else f", lines {first}-{last}"


def read_records(stream: BinaryIO, split_type: str) -> Iterator[Record]:
    """The records of one object, read as they are needed."""
    if split_type == "None":
        yield Record(0, stream.read())
        return
    for number, line in enumerate(_lines(stream), start=1):
        data = line.rstrip(b"\r")
        if data.strip():
            yield Record(number, data)


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    rest = b""
    while chunk := stream.read(_READ_BYTES):
        *whole, rest = (rest + chunk).split(b"\n")
        yield from whole
    if rest:
        yield rest


class _Format(Protocol):
    def load(self, data: bytes) -> Any: ...

    def dump(self, value: Any) -> bytes: ...


class _Json:
    def load(self, data: bytes) -> Any:
        return json.loads(data)

    def dump(self, value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


class _Csv:
    def load(self, data: bytes) -> Any:
        return next(csv.reader([data.decode()]), [])

    def dump(self, value: Any) -> bytes:
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(value if isinstance(value, list) else [value])
        return out.getvalue().encode()


JSON, CSV = _Json(), _Csv()


def _format_of(content_type: str | None) -> _Format | None:
    """JSON or CSV as the content type says; None when it says neither."""
    kind = (content_type or "").lower()
    return JSON if "json" in kind else CSV if "csv" in kind else None


def _sniffed(data: bytes) -> _Format:
    try:
        json.loads(data)
    except ValueError:
        return CSV
    return JSON


class DataProcessing:
    """A job's DataProcessing (its InputFilter and OutputFilter JSONPaths, its JoinSource) over its ContentType and
    Accept."""

    def __init__(self, input_filter: str, output_filter: str, join_source: str, content_type: str | None,
                 accept: str | None) -> None:
        self.input_filter = parse(input_filter)
        self.output_filter = parse(output_filter)
        self.is_joined = join_source == "Input"
        self.input_format = _format_of(content_type)
        self.accept = accept

    @property
    def is_per_record(self) -> bool:
        """Whether each record's own output is needed (to join or filter it)."""
        return self.is_joined or bool(self.output_filter.steps)

    def model_input(self, record: Record) -> bytes:
        """What the model gets of the record (InputFilter applied)."""
        if not self.input_filter.steps:
            return record.data
        form = self.input_format or _sniffed(record.data)
        return form.dump(self.input_filter.select(form.load(record.data)))

    def output(self, record: Record, answer: bytes, answer_type: str | None) -> bytes:
        """What is written for the record: the model's answer for it, joined and filtered as asked."""
        if not self.is_per_record:
            return answer
        answer_format = _format_of(self.accept) or _format_of(answer_type) or _sniffed(answer)
        output = answer_format.load(answer)
        if not self.is_joined:
            return answer_format.dump(self.output_filter.select(output))
        input_format = self.input_format or _sniffed(record.data)
        joined = _joined(input_format, input_format.load(record.data), output)
        return input_format.dump(self.output_filter.select(joined))


def _joined(input_format: _Format, record: Any, output: Any) -> Any:
    if input_format is CSV:
        return [*record, *(output if isinstance(output, list) else [output])]
    if isinstance(record, dict):
        return record | {"SageMakerOutput": output}
    return {"SageMakerInput": record, "SageMakerOutput": output}


def batches(records: Iterable[Record], processing: DataProcessing, strategy: str, max_payload_mb: int,
            object_uri: str) -> Iterator[Batch]:
    """The requests for one object's records, in order. Raise RecordError for a record that cannot be
    filtered or is larger than MaxPayloadInMB (0: no limit, as SageMaker allows for whole objects)."""
    limit = max_payload_mb * 1024 * 1024 or sys.maxsize
    records_in: list[Record] = []
    parts: list[bytes] = []
    size = 0
    for record in records:
        part = _checked(record, processing, limit, max_payload_mb, object_uri)
        if parts and (strategy == "SingleRecord" or size + 1 + len(part) > limit):
            yield Batch(tuple(records_in), b"\n".join(parts))
            records_in, parts, size = [], [], 0
        size += len(part) + (1 if parts else 0)
        records_in.append(record)
        parts.append(part)
    if parts:
        yield Batch(tuple(records_in), b"\n".join(parts))


def _checked(record: Record, processing: DataProcessing, limit: int, max_payload_mb: int, object_uri: str) -> bytes:
    where = _where((record,))
    try:
        part = processing.model_input(record)
    except (JsonPathError, ValueError) as err:
        raise RecordError(f"ClientError: {object_uri}{where}: InputFilter "
                          f"{processing.input_filter.expression!r} cannot be applied: {err}") from err
    if len(part) > limit:
        raise RecordError(f"ClientError: Too much data for max payload size: {object_uri}{where} has {len(part)} "
                          f"bytes, more than MaxPayloadInMB ({max_payload_mb} MB)")
    return part


def batch_output(batch: Batch, answer: bytes, answer_type: str | None, processing: DataProcessing,
                 assemble_with: str, object_uri: str) -> bytes:
    """What the object's output gets for one request's answer. Raise RecordError when the answer cannot
    be matched to the records, joined or filtered."""
    if not processing.is_per_record:
        return _assembled(answer, assemble_with)
    outputs = _per_record(batch, answer, object_uri)
    written = []
    for record, output in zip(batch.records, outputs, strict=True):
        try:
            written.append(_assembled(processing.output(record, output, answer_type), assemble_with))
        except (JsonPathError, ValueError) as err:
            where = _where((record,))
            raise RecordError(f"ClientError: {object_uri}{where}: the output cannot be joined or filtered "
                              f"(OutputFilter {processing.output_filter.expression!r}): {err}") from err
    return b"".join(written)


def _per_record(batch: Batch, answer: bytes, object_uri: str) -> list[bytes]:
    """The answer split into one output per record of the batch."""
    count = len(batch.records)
    if count == 1:
        return [answer.rstrip(b"\r\n")]
    lines = [line.rstrip(b"\r") for line in answer.split(b"\n") if line.strip()]
    if len(lines) == 1 and (elements := _json_array(lines[0])) is not None and len(elements) == count:
        return [JSON.dump(element) for element in elements]
    if len(lines) != count:
        raise RecordError(f"ClientError: {object_uri}{batch.where}: the model answered {len(lines)} lines for "
                          f"{count} records; to join or filter its output, it must answer one line per record")
    return lines


def _json_array(line: bytes) -> list[Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def _assembled(output: bytes, assemble_with: str) -> bytes:
    if assemble_with == "Line" and not output.endswith(b"\n"):
        return output + b"\n"
    return output
