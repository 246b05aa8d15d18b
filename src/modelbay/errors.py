"""AWS errors as values: services raise them, the API's codecs turn them into each protocol's shape.

They live at the top of the package because every layer raises them and only the API layer
renders them; a code names the error as the AWS service would, a status is its HTTP status.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AwsError(Exception):
    """An error the client is told about. `fields` become extra members of the error body."""

    code: ClassVar[str] = "InternalFailure"
    status: ClassVar[int] = 400
    sender_fault: ClassVar[bool] = True
    operation: str | None = None  # set once the operation is known, for the audit trail

    def __init__(self, message: str, **fields: Any) -> None:
        message = encodable(message)
        super().__init__(message)
        self.message = message
        self.fields = {name: encodable(value) if isinstance(value, str) else value for name, value in fields.items()}


def encodable(text: str) -> str:
    """`text` with every character UTF-8 cannot encode (a lone surrogate quoted from the input)
    written as its escape, `\\ud800`: an error must always be renderable, whatever it quotes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def aws_error(code: str, status: int = 400) -> type[AwsError]:
    """Make an error class for one AWS error code (used for tables of S3 codes and the like)."""
    return type(code, (AwsError,), {"code": code, "status": status, "sender_fault": status < 500})


class ValidationError(AwsError):
    """Input that breaks the model's or the service's rules. Codecs spell it per service."""

    code = "ValidationException"


class SerializationError(AwsError):
    """A body that cannot be read as the protocol says (bad JSON or XML, wrong types)."""

    code = "SerializationException"


class UnknownOperation(AwsError):
    code = "UnknownOperationException"


class NotImplementedYet(AwsError):
    """An operation of the service model that modelbay does not implement yet."""

    code = "NotImplemented"
    status = 501


class UnsupportedMediaType(AwsError):
    code = "UnsupportedMediaTypeException"
    status = 415


class RequestTooLarge(AwsError):
    code = "RequestEntityTooLargeException"
    status = 413


class ResourceNotFound(AwsError):
    code = "ResourceNotFound"


class ResourceInUse(AwsError):
    code = "ResourceInUse"


class ResourceLimitExceeded(AwsError):
    code = "ResourceLimitExceeded"


class AccessDenied(AwsError):
    code = "AccessDeniedException"
    status = 403


class InvalidSignature(AwsError):
    """The request's signature, or its credential scope, is not one AWS accepts."""

    code = "InvalidSignatureException"
    status = 403


class InternalFailure(AwsError):
    code = "InternalFailure"
    status = 500
    sender_fault = False


class ServiceUnavailable(AwsError):
    code = "ServiceUnavailable"
    status = 503
    sender_fault = False


def validation_message(problems: list[str]) -> str:
    """AWS's wording: '2 validation errors detected: <one>; <two>'."""
    noun = "error" if len(problems) == 1 else "errors"
    return f"{len(problems)} validation {noun} detected: " + "; ".join(problems)
