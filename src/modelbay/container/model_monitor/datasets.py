"""Datasets as rows of named values: CSV (with or without a header) and JSON (lines or one document).

Every reader yields records, dicts of feature name to raw value (a CSV field's text, a JSON value; None or ""
when missing); a `Table` lines them up. Positional values (CSV without a header, JSON arrays) are named `_c0`,
`_c1`, ... as SageMaker's analyzer names them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelbay.container.model_monitor.job import AnalysisError

Record = dict[str, Any]


@dataclass(frozen=True)
class Table:
    """Records under the union of their feature names, in the order the names were first seen."""

    names: tuple[str, ...]
    records: tuple[Record, ...]

    @classmethod
    def of(cls, records: Iterable[Record]) -> Table:
        kept = tuple(records)
        names = dict.fromkeys(name for record in kept for name in record)
        return cls(tuple(names), kept)

    def column(self, name: str) -> list[Any]:
        """The feature's value in every record (None where a record lacks it)."""
        return [record.get(name) for record in self.records]

    def renamed(self, names: Sequence[str]) -> Table:
        """Positional features `_c<i>` named `names[i]` (those past `names` keep theirs)."""
        mapping = {f"_c{i}": name for i, name in enumerate(names)}
        return Table.of({mapping.get(key, key): value for key, value in record.items()} for record in self.records)


def positional(values: Sequence[Any], offset: int = 0) -> Record:
    """Values without names as a record: `_c<offset>`, `_c<offset + 1>`, ..."""
    return {f"_c{offset + i}": value for i, value in enumerate(values)}


def files_under(source: Path) -> list[Path]:
    """`source` if it is a file, else every file under it in path order (hidden ones left out)."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise AnalysisError(f"dataset_source {str(source)!r} does not exist")
    return sorted(path for path in source.rglob("*")
                  if path.is_file() and not any(part.startswith(".") for part in path.relative_to(source).parts))


def read_dataset(dataset_format: dict[str, Any], source: Path) -> Table:
    """The baseline-style dataset at `source` (csv or json); raise AnalysisError."""
    (kind, options), = dataset_format.items()
    options = options or {}
    records: list[Record] = []
    for path in files_under(source):
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            if kind == "csv":
                records.extend(csv_records(text, header=bool(options.get("header", True))))
            else:
                records.extend(json_records(text, lines=bool(options.get("lines", True))))
        except ValueError as err:
            raise AnalysisError(f"{path.name} is not valid {kind.upper()}: {err}") from err
    return Table.of(records)


def csv_records(text: str, header: bool = False) -> Iterator[Record]:
    """The rows of CSV `text` (blank lines skipped); with `header`, its first row names the columns."""
    rows = (row for row in csv.reader(io.StringIO(text)) if any(field.strip() for field in row))
    names: list[str] = []
    if header:
        first = next(rows, None)
        names = [name.strip() or f"_c{i}" for i, name in enumerate(first or [])]
    for row in rows:
        yield {names[i] if i < len(names) else f"_c{i}": value for i, value in enumerate(row)}


def json_records(text: str, lines: bool = True) -> Iterator[Record]:
    """The records of JSON Lines `text`, or of one JSON document; raise ValueError for malformed JSON."""
    documents = (json.loads(line) for line in text.splitlines() if line.strip()) if lines else [json.loads(text)]
    for document in documents:
        yield from json_value_records(document)


def json_value_records(value: Any) -> Iterator[Record]:
    """Records of one JSON value: an object is one (`{"instances": [...]}` is each instance), an array of arrays or
    objects is one each, an array of scalars or a scalar is one positional record."""
    if isinstance(value, dict) and isinstance(value.get("instances"), list) and len(value) == 1:
        value = value["instances"]
    if isinstance(value, dict):
        yield value
    elif isinstance(value, list) and value and all(isinstance(item, (list, dict)) for item in value):
        for item in value:
            yield from json_value_records(item)
    else:
        yield positional(value if isinstance(value, list) else [value])
