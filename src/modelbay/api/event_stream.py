"""AWS event streams (application/vnd.amazon.eventstream): a response whose payload member is an
`eventstream` union, sent as a series of binary messages while the service produces them.

Each message is a prelude (total length, headers length, CRC-32 of those 8 bytes), string headers
(`:message-type`, `:event-type` or `:exception-type`, `:content-type`), the payload and a CRC-32 of
all that precedes it, as botocore's `eventstream.py` reads them. A service gives the payload
member as an async iterator of events (`{"PayloadPart": {"Bytes": b"..."}}`); an AwsError it raises
while iterating ends the stream with that exception when the union models it (SageMaker's
ModelStreamError), and anything else with the union's catch-all failure (InternalStreamFailure) or,
for a union without one, an `error` message. The status and headers are sent by then: a stream
reports its failures in itself.
"""

from __future__ import annotations

import json
import logging
import struct
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from botocore.model import Shape, StructureShape
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from modelbay.api.jsonvalues import write_json
from modelbay.errors import AwsError

MEDIA_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7  # the header value type of a string
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")
_CATCH_ALL = "InternalStreamFailure"  # SageMaker's member for a failure it cannot say more about
_CATCH_ALL_MESSAGE = ("The stream processing failed because of an unknown error, exception or failure. "
                      "Try your request again.")

log = logging.getLogger(__name__)


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event stream message with string headers."""
    head = b"".join(_header(name, value) for name, value in headers.items())
    prelude = _PRELUDE.pack(_PRELUDE.size + _CRC.size + len(head) + len(payload) + _CRC.size, len(head))
    message = prelude + _CRC.pack(zlib.crc32(prelude)) + head + payload
    return message + _CRC.pack(zlib.crc32(message))


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
    return struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", _STRING, len(raw_value)) + raw_value


def encode_event(stream: StructureShape, event: Mapping[str, Any]) -> bytes:
    """An event (`{member: value}`, one member of the union) as a message: its `eventpayload` member
    as the payload (a blob as it is, a string as UTF-8, a structure as JSON), else its members as JSON.
    Raise KeyError for a name that is not an event of the union."""
    [(name, value)] = event.items()
    shape = stream.members[name]
    if not shape.serialization.get("event"):
        raise KeyError(f"{name} is not an event of {stream.name}")
    content_type, payload = _event_payload(shape, value)
    return encode_message({":message-type": "event", ":event-type": name, ":content-type": content_type}, payload)


def _event_payload(shape: StructureShape, value: Mapping[str, Any]) -> tuple[str, bytes]:
    for name, member in shape.members.items():
        if member.serialization.get("eventpayload"):
            return _payload(member, value.get(name))
    return "application/json", json.dumps(write_json(shape, value)).encode("utf-8")


def _payload(member: Shape, value: Any) -> tuple[str, bytes]:
    if member.type_name == "blob":
        return "application/octet-stream", bytes(value or b"")
    if member.type_name == "string":
        return "text/plain", (value or "").encode("utf-8")
    return "application/json", json.dumps(write_json(member, value or {})).encode("utf-8")


def encode_failure(stream: StructureShape, error: AwsError | None) -> bytes:
    """The message that ends a stream which failed: the error as the union's exception member of that
    name, else as its catch-all (None: a failure that is no AwsError), else as an `error` message."""
    code = error.code if error is not None else _CATCH_ALL
    shape = stream.members.get(code)
    if shape is None or not shape.metadata.get("exception"):
        code, shape = _CATCH_ALL, stream.members.get(_CATCH_ALL)
    message = error.message if error is not None and code == error.code else _CATCH_ALL_MESSAGE
    if shape is None:
        return encode_message({":message-type": "error", ":error-code": "InternalFailure",
                               ":error-message": message}, b"")
    fields = {key: value for key, value in (error.fields if error is not None else {}).items() if key in shape.members}
    body = write_json(shape, {"Message": message, **fields})
    return encode_message({":message-type": "exception", ":exception-type": code,
                           ":content-type": "application/json"}, json.dumps(body).encode("utf-8"))


class EventStreamResponse(StreamingResponse):
    """A response whose body is the events of `events`, encoded as the union `stream` says, sent as
    they come (on the event loop: the iterator must not block). The iterator is closed once the
    response ends, whether it was sent whole or the client went away."""

    def __init__(self, stream: StructureShape, events: AsyncIterator[Mapping[str, Any]], status: int,
                 headers: Mapping[str, str]) -> None:
        self.events = events
        super().__init__(_messages(stream, events), status, dict(headers), media_type=MEDIA_TYPE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.events, "aclose", None)
            if close is not None:
                await close()


async def _messages(stream: StructureShape, events: AsyncIterator[Mapping[str, Any]]) -> AsyncIterator[bytes]:
    try:
        async for event in events:
            yield encode_event(stream, event)
    except AwsError as error:
        yield encode_failure(stream, error)
    except Exception:  # a bug: the client still learns that the stream failed
        log.exception("an event stream of %s failed", stream.name)
        yield encode_failure(stream, None)
