"""Calling IAM's service functions as the API would, with their answers checked against botocore's output shapes."""

from __future__ import annotations

import dataclasses
import json

from modelbay.security.principal import IAM_USER, Principal
from modelbay.services.base import Context
from modelbay.services.iam import OPERATIONS
from tests.unit.services.service_calls import ServiceCalls

TRUST = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": '
         '"sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}')


CALLS = ServiceCalls("iam", OPERATIONS)
call, error = CALLS.call, CALLS.error


def as_user(ctx: Context, name: str) -> Context:
    """The context of a call signed by the existing IAM user `name`."""
    user = ctx.metadata.iam.user(name)
    assert user is not None
    principal = Principal("AKIAEXAMPLE", ctx.settings.account_id, IAM_USER, user.name, user.path, user.user_id)
    return dataclasses.replace(ctx, principal=principal)


def allow(action: str, resource: str = "*", effect: str = "Allow") -> str:
    """A policy document of one statement."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": action,
                                                               "Resource": resource}]})
