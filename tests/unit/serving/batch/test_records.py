"""Batch transform's records: splitting, batching, DataProcessing (filters and joins) and assembling."""

from __future__ import annotations

import io
import json

import pytest

from modelbay.serving.batch.records import (
    Batch,
    DataProcessing,
    Record,
    RecordError,
    batch_output,
    batches,
    read_records,
)

URI = "s3://in/data.csv"
PLAIN = DataProcessing("$", "$", "None", "text/csv", None)


def records(data: bytes, split_type: str = "Line") -> list[Record]:
    return list(read_records(io.BytesIO(data), split_type))


def payloads(data: bytes, strategy: str, processing: DataProcessing = PLAIN, mb: int = 6) -> list[bytes]:
    return [batch.payload for batch in batches(records(data), processing, strategy, mb, URI)]


def test_line_splitting_numbers_lines_and_skips_blank_ones() -> None:
    assert records(b"a,1\r\n\nb,2\n  \nc,3") == [Record(1, b"a,1"), Record(3, b"b,2"), Record(5, b"c,3")]


def test_split_type_none_is_the_whole_object() -> None:
    assert records(b"a\nb\n", "None") == [Record(0, b"a\nb\n")]


def test_single_record_sends_one_record_per_request() -> None:
    assert payloads(b"a\nb\nc\n", "SingleRecord") == [b"a", b"b", b"c"]


def test_multi_record_joins_records_with_newlines_up_to_the_payload_limit() -> None:
    row = b"x" * (400 * 1024)  # five of them (and their newlines) fit in 2 MB, six do not
    found = payloads(b"\n".join([row] * 12), "MultiRecord", mb=2)
    assert [payload.count(b"\n") + 1 for payload in found] == [5, 5, 2]
    assert all(len(payload) <= 2 * 1024 * 1024 for payload in found)


def test_a_record_over_the_limit_fails_naming_object_and_line() -> None:
    with pytest.raises(RecordError, match=r"s3://in/data.csv, line 2 has 1048577 bytes, more than MaxPayloadInMB"):
        payloads(b"ok\n" + b"x" * (1024 * 1024 + 1), "MultiRecord", mb=1)


def test_max_payload_0_sets_no_limit() -> None:
    assert payloads(b"x" * (2 * 1024 * 1024), "SingleRecord", mb=0) == [b"x" * (2 * 1024 * 1024)]


def test_input_filter_on_csv_treats_the_row_as_an_array() -> None:
    processing = DataProcessing("$[1:]", "$", "None", "text/csv", None)
    assert payloads(b"id1,5.1,3.5\nid2,\"a,b\",2\n", "MultiRecord", processing) == [b"5.1,3.5\n\"a,b\",2"]


def test_input_filter_on_json() -> None:
    processing = DataProcessing("$.features", "$", "None", "application/jsonlines", None)
    assert payloads(b'{"id": 1, "features": [1, 2]}\n', "SingleRecord", processing) == [b"[1,2]"]


def test_an_input_filter_that_does_not_fit_fails_naming_the_line() -> None:
    processing = DataProcessing("$[5]", "$", "None", "text/csv", None)
    with pytest.raises(RecordError, match=r"data.csv, line 1: InputFilter '\$\[5\]' cannot be applied: index 5"):
        payloads(b"a,b\n", "SingleRecord", processing)


def output(processing: DataProcessing, lines: list[bytes], answer: bytes, assemble_with: str = "Line",
           answer_type: str | None = None) -> bytes:
    batch = Batch(tuple(Record(n, line) for n, line in enumerate(lines, start=1)), b"")
    return batch_output(batch, answer, answer_type, processing, assemble_with, URI)


def test_without_processing_an_answer_is_written_as_it_is_assembled_by_line_or_not() -> None:
    assert output(PLAIN, [b"1", b"2"], b"a\nb") == b"a\nb\n"
    assert output(PLAIN, [b"1", b"2"], b"a\nb\n") == b"a\nb\n"
    assert output(PLAIN, [b"1", b"2"], b"[1, 2]", assemble_with="None") == b"[1, 2]"


def test_join_source_input_with_csv_appends_the_output_columns() -> None:
    processing = DataProcessing("$", "$", "Input", "text/csv", "text/csv")
    assert output(processing, [b"id1,5.1", b"id2,4.9"], b"0,0.9\n1,0.1\n") == b"id1,5.1,0,0.9\nid2,4.9,1,0.1\n"


def test_join_and_output_filter_keep_the_id_and_the_prediction() -> None:
    processing = DataProcessing("$[1:]", "$[0,-1]", "Input", "text/csv", "text/csv")
    assert output(processing, [b"id1,5.1,3.5", b"id2,4.9,3.0"], b"setosa\nversicolor\n") == (
        b"id1,setosa\nid2,versicolor\n")


def test_a_json_array_answer_for_several_records_is_one_element_each() -> None:
    processing = DataProcessing("$", "$", "Input", "text/csv", "application/json")
    assert output(processing, [b"a,1", b"b,2"], b"[0, 1]") == b"a,1,0\nb,2,1\n"


def test_join_with_a_json_object_adds_sagemaker_output() -> None:
    processing = DataProcessing("$.features", "$['id','SageMakerOutput']", "Input", "application/json",
                                "application/json")
    written = output(processing, [b'{"id": "a", "features": [[1, 2]]}'], b"[2]")
    assert json.loads(written) == {"id": "a", "SageMakerOutput": [2]}


def test_join_with_a_json_value_that_is_no_object_wraps_both() -> None:
    processing = DataProcessing("$", "$", "Input", "application/json", "application/json")
    assert json.loads(output(processing, [b"[1, 2]"], b"0.5")) == {"SageMakerInput": [1, 2], "SageMakerOutput": 0.5}


def test_output_filter_without_a_join_filters_the_output() -> None:
    processing = DataProcessing("$", "$.label", "None", "application/json", None)
    answer = b'{"label": "cat", "score": 0.9}'
    assert output(processing, [b"{}"], answer, answer_type="application/json") == b'"cat"\n'


def test_the_formats_are_sniffed_when_no_content_type_says() -> None:
    processing = DataProcessing("$", "$[0,-1]", "Input", None, None)
    assert output(processing, [b"a,1,2"], b"7") == b"a,7\n"


def test_a_joined_multi_record_answer_needs_one_line_per_record() -> None:
    processing = DataProcessing("$", "$", "Input", "text/csv", "text/csv")
    with pytest.raises(RecordError, match=r"data.csv, lines 1-3: the model answered 2 lines for 3 records"):
        output(processing, [b"a", b"b", b"c"], b"1\n2\n")


def test_an_output_filter_that_does_not_fit_fails_naming_the_line() -> None:
    processing = DataProcessing("$", "$[9]", "Input", "text/csv", "text/csv")
    with pytest.raises(RecordError, match=r"data.csv, line 1: the output cannot be joined or filtered"):
        output(processing, [b"a", b"b"], b"1\n2\n")
