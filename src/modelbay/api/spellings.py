"""How each API spells the generic errors: the same failure is a ValidationException in
SageMaker, a ValidationError in sagemaker-runtime and STS, and InvalidArgument in S3."""

from __future__ import annotations

from modelbay.api.protocol import ErrorSpelling

_VALIDATION_ERROR = {"ValidationException": ErrorSpelling("ValidationError")}

SPELLINGS: dict[str, dict[str, ErrorSpelling]] = {
    "logs": {"ValidationException": ErrorSpelling("InvalidParameterException")},
    "ecr": {"ValidationException": ErrorSpelling("InvalidParameterException")},
    "sagemaker-runtime": _VALIDATION_ERROR,
    "sts": {**_VALIDATION_ERROR, "UnknownOperationException": ErrorSpelling("InvalidAction"),
            "SerializationException": ErrorSpelling("MalformedQueryString")},
    "s3": {
        "ValidationException": ErrorSpelling("InvalidArgument"),
        "UnknownOperationException": ErrorSpelling("MethodNotAllowed", 405),
        "SerializationException": ErrorSpelling("InvalidArgument"),
        "RequestEntityTooLargeException": ErrorSpelling("EntityTooLarge", 400),
        "UnsupportedMediaTypeException": ErrorSpelling("InvalidRequest", 400),
        "IncompleteSignatureException": ErrorSpelling("AuthorizationHeaderMalformed", 400),
        "AccessDeniedException": ErrorSpelling("AccessDenied"),
        "InternalFailure": ErrorSpelling("InternalError"),
    },
}
