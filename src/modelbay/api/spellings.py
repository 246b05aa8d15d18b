"""How each API spells the generic errors: the same failure is a ValidationException in
SageMaker, a ValidationError in sagemaker-runtime, STS and IAM, and InvalidArgument in S3."""

from __future__ import annotations

from modelbay.api.protocol import ErrorSpelling

_VALIDATION_ERROR = {"ValidationException": ErrorSpelling("ValidationError")}
# the query APIs' words for the errors of request authentication (security/signature_errors.py)
_QUERY_AUTHENTICATION = {"UnrecognizedClientException": ErrorSpelling("InvalidClientTokenId"),
                         "InvalidSignatureException": ErrorSpelling("SignatureDoesNotMatch"),
                         "IncompleteSignatureException": ErrorSpelling("IncompleteSignature"),
                         "ExpiredTokenException": ErrorSpelling("ExpiredToken"),
                         "AccessDeniedException": ErrorSpelling("AccessDenied")}
_QUERY_API = {**_VALIDATION_ERROR, **_QUERY_AUTHENTICATION, "UnknownOperationException": ErrorSpelling("InvalidAction"),
              "SerializationException": ErrorSpelling("MalformedQueryString")}

SPELLINGS: dict[str, dict[str, ErrorSpelling]] = {
    "logs": {"ValidationException": ErrorSpelling("InvalidParameterException")},
    "ecr": {"ValidationException": ErrorSpelling("InvalidParameterException")},
    "sagemaker-runtime": _VALIDATION_ERROR,
    "sts": _QUERY_API,
    "iam": _QUERY_API,
    "cloudwatch": {**_VALIDATION_ERROR, **_QUERY_AUTHENTICATION,
                   "UnknownOperationException": ErrorSpelling("InvalidAction")},
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
