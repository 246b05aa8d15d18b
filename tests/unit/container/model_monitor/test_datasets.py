"""Datasets and captured data read into tables of named features."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from modelbay.container.model_monitor.capture import read_capture
from modelbay.container.model_monitor.datasets import Table, read_dataset
from modelbay.container.model_monitor.job import AnalysisError, Window, parse_time


def captured(data: str, encoding: str = "CSV", content_type: str = "text/csv", when: str = "2026-12-05T21:00:00Z",
             output: str | None = None) -> str:
    """One captured record as the endpoint writes it."""
    capture = {"endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": data,
                                 "encoding": encoding}}
    if output is not None:
        capture["endpointOutput"] = {"observedContentType": "text/csv", "mode": "OUTPUT", "data": output,
                                     "encoding": "CSV"}
    return json.dumps({"captureData": capture, "eventMetadata": {"eventId": "e", "inferenceTime": when},
                       "eventVersion": "0"})


def test_csv_with_a_header_names_its_columns_and_blank_fields_are_missing(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("age,city\n30,Paris\n,Rome\n\n41,\n")
    table = read_dataset({"csv": {"header": True}}, tmp_path)
    assert table.names == ("age", "city")
    assert table.column("age") == ["30", "", "41"] and table.column("city") == ["Paris", "Rome", ""]


def test_csv_without_a_header_names_columns_by_position_across_files(tmp_path: Path) -> None:
    (tmp_path / "part-1.csv").write_text("1,2\n3,4\n")
    (tmp_path / "part-2.csv").write_text("5,6,7\n")
    table = read_dataset({"csv": {"header": False}}, tmp_path)
    assert table.names == ("_c0", "_c1", "_c2")
    assert table.column("_c2") == [None, None, "7"]


def test_json_lines_and_a_json_document(tmp_path: Path) -> None:
    (tmp_path / "rows.jsonl").write_text('{"x": 1, "y": "a"}\n{"x": 2.5, "z": true}\n')
    table = read_dataset({"json": {"lines": True}}, tmp_path)
    assert table.names == ("x", "y", "z") and table.column("x") == [1, 2.5]
    (tmp_path / "rows.jsonl").write_text('[{"x": 1}, {"x": 2}]')
    assert read_dataset({"json": {"lines": False}}, tmp_path).column("x") == [1, 2]


def test_a_missing_source_and_malformed_json_are_analysis_errors(tmp_path: Path) -> None:
    with pytest.raises(AnalysisError, match="does not exist"):
        read_dataset({"csv": {}}, tmp_path / "nowhere")
    (tmp_path / "bad.json").write_text("{not json\n")
    with pytest.raises(AnalysisError, match="bad.json is not valid JSON"):
        read_dataset({"json": {"lines": True}}, tmp_path)


def test_captured_csv_rows_in_the_window_are_read_from_every_hour_folder(tmp_path: Path) -> None:
    hour = tmp_path / "endpoint" / "AllTraffic" / "2026" / "12" / "05" / "21"
    hour.mkdir(parents=True)
    (hour / "a.jsonl").write_text("\n".join([captured("1,2\n3,4"), captured("9,9", when="2026-12-05T19:00:00Z")]))
    (hour / "b.jsonl").write_text(captured(base64.b64encode(b"5,6").decode(), encoding="BASE64") + "\n")
    window = Window(parse_time("2026-12-05T20:00:00Z"), parse_time("2026-12-05T22:00:00Z"))
    table = read_capture({}, tmp_path, window)
    assert table.names == ("_c0", "_c1") and table.column("_c0") == ["1", "3", "5"]


def test_captured_json_and_the_output_index_join_side_by_side(tmp_path: Path) -> None:
    lines = [captured('{"instances": [[1, 2], [3, 4]]}', encoding="JSON", content_type="application/json",
                      output="0.1\n0.9"),
             captured('{"a": 1}', encoding="JSON", content_type="application/json")]
    (tmp_path / "c.jsonl").write_text("\n".join(lines))
    table = read_capture({"captureIndexNames": ["endpointInput", "endpointOutput"]}, tmp_path, Window())
    assert table.records == ({"_c0": 1, "_c1": 2, "_c2": "0.1"}, {"_c0": 3, "_c1": 4, "_c2": "0.9"}, {"a": 1})


def test_a_preprocessor_makes_the_rows(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text(captured("1,2") + "\n" + captured("skip") + "\n")

    def preprocess(record: object) -> object:
        data = record.endpoint_input.data  # type: ignore[attr-defined]  # the record SageMaker's scripts receive
        return [] if data == "skip" else {"total": sum(map(int, data.split(",")))}
    assert read_capture({}, tmp_path, Window(), preprocess).records == ({"total": 3},)


def test_positional_features_take_the_baselines_names() -> None:
    table = Table.of([{"_c0": "1", "_c1": "2", "_c2": "3"}]).renamed(["age", "height"])
    assert table.names == ("age", "height", "_c2")
