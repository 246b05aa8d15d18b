"""Every operation we serve is an operation of its botocore model, with the model's name."""

from __future__ import annotations

import botocore.session
import pytest

from modelbay.services.apis import served_operations


@pytest.mark.parametrize(("service", "operations"), served_operations().items())
def test_operations_exist_in_the_model(service: str, operations: dict[str, object]) -> None:
    model = botocore.session.get_session().get_service_model(service)
    assert set(operations) <= set(model.operation_names)
