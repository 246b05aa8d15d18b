"""Errors of a query-compatible service (`awsQueryCompatible` in its model: CloudWatch) in its JSON and CBOR protocols.

Such a service's clients may have spoken query before, and their error codes must not change with the protocol:
AWS names the model's error shape in `__type` and says the query protocol's code and fault in
`x-amzn-query-error: <code>;<Sender|Receiver>`, which botocore turns into the error's code.
"""

from __future__ import annotations

from botocore.model import ServiceModel

from modelbay.errors import AwsError

HEADER = "x-amzn-query-error"


class QueryCompatibility:
    """How one service words an error's type and headers; for a service that is not query-compatible, as is."""

    def __init__(self, service: ServiceModel) -> None:
        self.enabled = "awsQueryCompatible" in service.metadata
        self.error_types = _error_types(service) if self.enabled else {}

    def error_type(self, code: str) -> str:
        """`__type`: the model's error shape of the code (ValidationError is ValidationException)."""
        return self.error_types.get(code, code)

    def headers(self, code: str, error: AwsError) -> dict[str, str]:
        return {HEADER: f"{code};{'Sender' if error.sender_fault else 'Receiver'}"} if self.enabled else {}


def _error_types(service: ServiceModel) -> dict[str, str]:
    """The error shape of each code in the model; of several shapes with one code (DashboardNotFoundError and
    ResourceNotFound), the one named as the code."""
    types: dict[str, str] = {}
    for shape in service.error_shapes:
        code = str(shape.error_code)
        if types.get(code) != code:
            types[code] = shape.name
    return types
