"""A service's functions called as the API calls them, in unit tests: each answer checked against botocore's output
shape (an operation without one must answer {}), each refusal read as (code, status, message)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.errors import AwsError
from modelbay.services.base import Context, Handler


class ServiceCalls:
    def __init__(self, service_name: str, operations: Mapping[str, Handler]) -> None:
        self._model = botocore.session.get_session().get_service_model(service_name)
        self._operations = operations

    def call(self, ctx: Context, operation: str, **params: Any) -> Any:
        """The operation's answer, which must match its output shape."""
        output = self._operations[operation](ctx, params)
        shape = self._model.operation_model(operation).output_shape
        if shape is None:
            assert output == {}
        else:
            report = ParamValidator().validate(output, shape)
            assert not report.has_errors(), report.generate_report()
        return output

    def error(self, ctx: Context, operation: str, **params: Any) -> tuple[str, int, str]:
        """The code, status and message of the error the operation raises."""
        with pytest.raises(AwsError) as info:
            self._operations[operation](ctx, params)
        return info.value.code, info.value.status, info.value.message
