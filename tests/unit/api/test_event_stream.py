"""Event stream messages as botocore's own decoder reads them: lengths, CRCs, headers and payloads."""

from __future__ import annotations

import json

from botocore.eventstream import EventStreamBuffer

from modelbay.api.event_stream import encode_event, encode_failure, encode_message
from modelbay.errors import AwsError, ValidationError
from tests.unit.api.codec_harness import service_model

STREAM = service_model("sagemaker-runtime").operation_model("InvokeEndpointWithResponseStream").output_shape.members[
    "Body"]


class ModelStreamError(AwsError):
    code = "ModelStreamError"
    status = 400


def decoded(data: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


def test_messages_decode_with_their_headers_and_payload_whole() -> None:
    data = encode_message({":message-type": "event", "é": "ü" * 300}, b"\x00" * 70_000) + encode_message({}, b"")
    assert decoded(data) == [({":message-type": "event", "é": "ü" * 300}, b"\x00" * 70_000), ({}, b"")]


def test_a_payload_part_is_its_bytes_as_octets() -> None:
    [(headers, payload)] = decoded(encode_event(STREAM, {"PayloadPart": {"Bytes": b"token"}}))
    assert headers == {":message-type": "event", ":event-type": "PayloadPart",
                       ":content-type": "application/octet-stream"}
    assert payload == b"token"


def test_a_modeled_error_keeps_its_fields_and_any_other_becomes_the_catch_all() -> None:
    [(headers, payload)] = decoded(encode_failure(STREAM, ModelStreamError("late", ErrorCode="StreamBroken")))
    assert (headers[":message-type"], headers[":exception-type"]) == ("exception", "ModelStreamError")
    assert json.loads(payload) == {"Message": "late", "ErrorCode": "StreamBroken"}
    for error in (ValidationError("not a stream error"), None):
        [(headers, payload)] = decoded(encode_failure(STREAM, error))
        assert headers[":exception-type"] == "InternalStreamFailure"
        assert "not a stream error" not in json.loads(payload)["Message"]
