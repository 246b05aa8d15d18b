"""CloudWatch Logs (botocore `logs`, AWS JSON 1.1, Logs_20140328) over the platform's LogStore.

Groups, streams, PutLogEvents, GetLogEvents and FilterLogEvents as the SageMaker Python SDK and
the AWS CLI use them. Tokens are opaque to clients:
  GetLogEvents     ``f/<timestamp>/<seq>`` reads events after that key, ``b/<timestamp>/<seq>``
                   events before it; a read that finds nothing hands back the token it was given,
                   which is how clients tail a stream.
  FilterLogEvents  ``<timestamp>/<seq>/<stream>``: the last event returned.
  Describe*        the offset of the next item.
Not done: retention, KMS, tags, metric filters, subscriptions, Insights, and rejecting PutLogEvents
events that are too old or too new (they are all stored).
"""

from __future__ import annotations

import bisect
import re
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any, TypeVar

from modelbay.errors import ValidationError, aws_error
from modelbay.monitoring.log_patterns import PatternError, compile_pattern
from modelbay.monitoring.logs import (
    Key,
    LogEvent,
    LogGroup,
    LogGroupExists,
    LogGroupNotFound,
    LogStream,
    LogStreamExists,
    LogStreamNotFound,
    StreamMatch,
    order_of,
)
from modelbay.services.base import Context, Handler

DEFAULT_EVENTS_LIMIT = 10_000
DEFAULT_DESCRIBE_LIMIT = 50
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
_EVENTS_TOKEN = re.compile(r"([fb])/(\d{1,20})/(\d{1,20})")
_FILTER_TOKEN = re.compile(r"(\d{1,20})/(\d{1,20})/(.+)", re.DOTALL)
_GROUP_ARN = re.compile(r"arn:aws[a-z-]*:logs:[^:]*:[^:]*:log-group:([^:]+)(?::\*)?")
T = TypeVar("T")
ResourceNotFoundException = aws_error("ResourceNotFoundException")
ResourceAlreadyExistsException = aws_error("ResourceAlreadyExistsException")


def create_log_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Create an empty group; ResourceAlreadyExistsException if it exists (tags, KMS ignored)."""
    ctx.platform.logs.create_group(params["logGroupName"])
    return {}


def delete_log_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete a group and everything in it; ResourceNotFoundException if absent."""
    ctx.platform.logs.delete_group(params["logGroupName"])
    return {}


def describe_log_groups(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of groups by name, filtered by logGroupNamePrefix or logGroupNamePattern."""
    prefix, pattern = params.get("logGroupNamePrefix", ""), params.get("logGroupNamePattern", "")
    if prefix and pattern:
        raise ValidationError("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
    groups = [g for g in ctx.platform.logs.groups(prefix) if pattern.lower() in g.name.lower()]
    page, token = _page(groups, params, DEFAULT_DESCRIBE_LIMIT)
    return _with_token({"logGroups": [_group_wire(ctx, g) for g in page]}, "nextToken", token)


def create_log_stream(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    ctx.platform.logs.create_stream(params["logGroupName"], params["logStreamName"])
    return {}


def describe_log_streams(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of a group's streams by name or by last event time, ascending unless descending."""
    group = _group_name(params)
    prefix, by_time = params.get("logStreamNamePrefix", ""), params.get("orderBy") == "LastEventTime"
    if prefix and by_time:
        raise ValidationError("Cannot order by LastEventTime with a logStreamNamePrefix.")
    streams = ctx.platform.logs.streams(group, prefix)
    if by_time:
        streams.sort(key=lambda s: (-1 if s.last_event_timestamp is None else s.last_event_timestamp, s.name))
    if params.get("descending", False):
        streams.reverse()
    page, token = _page(streams, params, DEFAULT_DESCRIBE_LIMIT)
    return _with_token({"logStreams": [_stream_wire(ctx, group, s) for s in page]}, "nextToken", token)


def put_log_events(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Store a batch of events, which must be in chronological order and span at most 24 hours.

    The sequence token is ignored, as AWS now does; nextSequenceToken is still given."""
    events = [(e["timestamp"], e["message"]) for e in params["logEvents"]]
    stamps = [timestamp for timestamp, _ in events]
    if stamps != sorted(stamps):
        raise ValidationError("Log events in a single PutLogEvents request must be in chronological order.")
    if stamps[-1] - stamps[0] > MAX_BATCH_SPAN_MS:
        raise ValidationError("The batch of log events in a single PutLogEvents request cannot span "
                              "more than 24 hours.")
    count = ctx.platform.logs.put(params["logGroupName"], params["logStreamName"], events)
    return {"nextSequenceToken": _sequence_token(count)}


def get_log_events(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A page of one stream's events in [startTime, endTime), oldest first, with both tokens.

    Without nextToken the page is the window's first `limit` events when startFromHead, else its
    last ones (AWS's default)."""
    events = ctx.platform.logs.read(_group_name(params), params["logStreamName"],
                                     params.get("startTime"), params.get("endTime"))
    limit = params.get("limit", DEFAULT_EVENTS_LIMIT)
    token = params.get("nextToken")
    if token is None:
        page = events[:limit] if params.get("startFromHead", False) else events[-limit:]
        position = (params.get("startTime") or 0, 0)  # before every event of the window
        forward, backward = f"f/{_key_text(position)}", f"b/{_key_text(position)}"
    else:
        page, forward, backward = _page_from_token(events, limit, token)
    if page:
        forward, backward = f"f/{_key_text(page[-1].key)}", f"b/{_key_text(page[0].key)}"
    return {"events": [_event_wire(e) for e in page], "nextForwardToken": forward, "nextBackwardToken": backward}


def filter_log_events(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Matching events of a group's streams, by time then stream, with eventId and logStreamName;
    nextToken when `limit` cut the result short. searchedLogStreams is empty, as AWS now gives it."""
    group, store = _group_name(params), ctx.platform.logs
    names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
    if names is not None and prefix is not None:
        raise ValidationError("logStreamNames and logStreamNamePrefix are mutually exclusive.")
    streams = names if names is not None else [s.name for s in store.streams(group, prefix or "")]
    hits = store.search(group, streams, compile_pattern(params.get("filterPattern", "")),
                        params.get("startTime"), params.get("endTime"), _filter_position(params.get("nextToken")))
    limit = params.get("limit", DEFAULT_EVENTS_LIMIT)
    page = list(islice(hits, limit + 1))
    output = {"events": [_filtered_wire(hit) for hit in page[:limit]], "searchedLogStreams": []}
    return _with_token(output, "nextToken", _filter_token(page[limit - 1]) if len(page) > limit else None)


# -- reading positions ---------------------------------------------------------------------------

def _page_from_token(events: list[LogEvent], limit: int, token: str) -> tuple[list[LogEvent], str, str]:
    """The page a GetLogEvents token names, and the tokens to give back if the page is empty."""
    match = _EVENTS_TOKEN.fullmatch(token)
    if match is None:
        raise ValidationError("The specified nextToken is invalid.")
    direction, position = match[1], (int(match[2]), int(match[3]))
    keys = [e.key for e in events]
    if direction == "f":
        start = bisect.bisect_right(keys, position)
        return events[start:start + limit], token, f"b/{_key_text((position[0], position[1] + 1))}"
    end = bisect.bisect_left(keys, position)
    return events[max(0, end - limit):end], f"f/{_key_text((position[0], max(position[1] - 1, 0)))}", token


def _key_text(key: Key) -> str:
    return f"{key[0]:020d}/{key[1]:020d}"


def _filter_token(hit: StreamMatch) -> str:
    timestamp, stream, seq = order_of(hit)
    return f"{timestamp}/{seq}/{stream}"


def _filter_position(token: str | None) -> tuple[int, str, int] | None:
    if token is None:
        return None
    match = _FILTER_TOKEN.fullmatch(token)
    if match is None:
        raise ValidationError("The specified nextToken is invalid.")
    return (int(match[1]), match[3], int(match[2]))


def _page(items: Sequence[T], params: dict[str, Any], default_limit: int) -> tuple[Sequence[T], str | None]:
    """The slice of a Describe* listing that nextToken (an offset) and limit select."""
    token = params.get("nextToken", "0")
    if not token.isdigit():
        raise ValidationError("The specified nextToken is invalid.")
    start, limit = int(token), params.get("limit", default_limit)
    return items[start:start + limit], (str(start + limit) if start + limit < len(items) else None)


def _group_name(params: dict[str, Any]) -> str:
    """logGroupName or logGroupIdentifier (a name or an ARN), exactly one of them."""
    name, identifier = params.get("logGroupName"), params.get("logGroupIdentifier")
    if (name is None) == (identifier is None):
        raise ValidationError("Exactly one of logGroupName and logGroupIdentifier must be given.")
    if name is not None:
        return str(name)
    arn = _GROUP_ARN.fullmatch(str(identifier))
    return arn[1] if arn else str(identifier)


# -- wire shapes ---------------------------------------------------------------------------------

def _with_token(output: dict[str, Any], member: str, token: str | None) -> dict[str, Any]:
    return output if token is None else {**output, member: token}


def _sequence_token(count: int) -> str:
    return f"{count:056d}"


def _group_wire(ctx: Context, group: LogGroup) -> dict[str, Any]:
    arn = ctx.arn("logs", f"log-group:{group.name}")
    return {"logGroupName": group.name, "creationTime": group.creation_time, "metricFilterCount": 0,
            "arn": arn + ":*", "logGroupArn": arn, "storedBytes": group.stored_bytes, "logGroupClass": "STANDARD"}


def _stream_wire(ctx: Context, group: str, stream: LogStream) -> dict[str, Any]:
    """storedBytes is always 0 for streams, as AWS reports it since 2019."""
    wire: dict[str, Any] = {
        "logStreamName": stream.name, "creationTime": stream.creation_time, "storedBytes": 0,
        "arn": ctx.arn("logs", f"log-group:{group}:log-stream:{stream.name}"),
        "uploadSequenceToken": _sequence_token(stream.appended)}
    if stream.last_event_timestamp is not None:
        wire.update(firstEventTimestamp=stream.first_event_timestamp, lastEventTimestamp=stream.last_event_timestamp,
                    lastIngestionTime=stream.last_ingestion_time)
    return wire


def _event_wire(event: LogEvent) -> dict[str, Any]:
    return {"timestamp": event.timestamp, "message": event.message, "ingestionTime": event.ingestion_time}


def _filtered_wire(hit: StreamMatch) -> dict[str, Any]:
    event_id = f"{hit.event.timestamp:020d}{zlib.crc32(hit.stream.encode()):010d}{hit.event.seq:020d}"
    return {"logStreamName": hit.stream, "eventId": event_id, **_event_wire(hit.event)}


@contextmanager
def _in_logs_words() -> Iterator[None]:
    """The log store's errors as CloudWatch Logs words them (ValidationError is InvalidParameterException)."""
    try:
        yield
    except PatternError as err:
        raise ValidationError(str(err)) from err
    except LogGroupNotFound as err:
        raise ResourceNotFoundException("The specified log group does not exist.") from err
    except LogStreamNotFound as err:
        raise ResourceNotFoundException("The specified log stream does not exist.") from err
    except LogGroupExists as err:
        raise ResourceAlreadyExistsException("The specified log group already exists") from err
    except LogStreamExists as err:
        raise ResourceAlreadyExistsException("The specified log stream already exists") from err


def _speaking_logs(handler: Handler) -> Handler:
    def handle(ctx: Context, params: dict[str, Any]) -> Any:
        with _in_logs_words():
            return handler(ctx, params)
    return handle


OPERATIONS: dict[str, Handler] = {name: _speaking_logs(handler) for name, handler in {
    "CreateLogGroup": create_log_group, "DeleteLogGroup": delete_log_group,
    "DescribeLogGroups": describe_log_groups, "CreateLogStream": create_log_stream,
    "DescribeLogStreams": describe_log_streams, "PutLogEvents": put_log_events,
    "GetLogEvents": get_log_events, "FilterLogEvents": filter_log_events,
}.items()}
