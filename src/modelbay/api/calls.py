"""The steps every codec takes to turn a request into a Call and a result into a response:
name the operation, read the body within its limit, validate the input, pick the status."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.model import OperationModel, OperationNotFoundError, ServiceModel, Shape
from starlette.requests import Request

from modelbay.api.validation import validate
from modelbay.errors import (
    AwsError,
    RequestTooLarge,
    SerializationError,
    UnknownOperation,
    ValidationError,
    validation_message,
)


def find_operation(service: ServiceModel, name: str) -> OperationModel:
    """The operation `name` of the service; raise UnknownOperation naming it."""
    try:
        return service.operation_model(name)
    except OperationNotFoundError:
        raise UnknownOperation(f"Operation {name} is not supported by {service.service_id}") from None


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, in lower case ('' when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, or RequestTooLarge as soon as it is known to exceed `max_bytes`: from
    Content-Length before reading, else while counting what arrives."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(body)


def checked_input(shape: Shape | None, params: dict[str, Any]) -> dict[str, Any]:
    """`params` when they satisfy the input shape; else ValidationError counting every problem."""
    problems = validate(shape, params) if shape is not None else []
    if problems:
        raise ValidationError(validation_message(problems))
    return params


def json_document(body: bytes) -> Any:
    """The JSON document of a request body; an empty body is an empty object. A string holding a
    lone UTF-16 surrogate (JSON's escapes allow `"\\ud800"`) is no Unicode text: AWS's parsers
    refuse it, and so do we, before it reaches validation, a store or an error message."""
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except ValueError as error:
        raise SerializationError(f"The request body is not valid JSON: {error}") from None
    if not _is_unicode(document):
        raise SerializationError("The request body is not valid JSON: a string holds a lone UTF-16 surrogate, "
                                 "which is not a Unicode character")
    return document


def _is_unicode(document: Any) -> bool:
    """Whether every string (keys too) of a decoded JSON document encodes as UTF-8; iterative, so
    a deeply nested document cannot exhaust the stack here."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if not value.isascii() and _has_surrogate(value):
                return False
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return True


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@contextlib.contextmanager
def reading_input(operation: OperationModel) -> Iterator[None]:
    """Reading an operation's input: its errors name the operation (for the audit trail), and input
    nested deeper than Python's stack is a SerializationError, not a bug."""
    try:
        yield
    except RecursionError:
        raise SerializationError("The request is nested too deeply") from None
    except AwsError as error:
        error.operation = operation.name
        raise


def no_output(operation: OperationModel, output: Mapping[str, Any]) -> None:
    """An operation without an output shape returns nothing; any key is a bug in its service."""
    if output:
        raise KeyError(f"{operation.name} has no output, yet its service returned {', '.join(output)}")


def usual_status(operation: OperationModel, status: int | None) -> int:
    """`status` if given, else the operation's responseCode from the model, else 200."""
    return status if status is not None else int(operation.http.get("responseCode", 200))


def _too_large(max_bytes: int) -> RequestTooLarge:
    return RequestTooLarge(f"The request body exceeds the maximum of {max_bytes} bytes")
