"""One API call as the audit trail records it: CloudTrail's fields, secrets redacted.

requestParameters are the validated params, responseElements the output of a call that changed something (null
for reads and failures, as CloudTrail shows them). In both, a member whose botocore shape is `sensitive`, or whose
name is one of _SECRET_MEMBERS, reads HIDDEN_DUE_TO_SECURITY_REASONS, as in CloudTrail; blobs and streams (S3's
Body) are left out, and times are ISO 8601 text, so that every value is JSON's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.exceptions import DataNotFoundError
from botocore.model import OperationModel, OperationNotFoundError, ServiceModel, Shape

from modelbay.security.audit import SUCCESS, AuditEvent
from modelbay.security.principal import ANONYMOUS, ASSUMED_ROLE, IAM_USER, ROOT, Principal

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
# Secrets whatever their shape says (a model may lack the trait); AuthenticationCode1, 2, ... by prefix.
_SECRET_MEMBERS = frozenset({"SecretAccessKey", "SessionToken", "Password", "NewPassword", "OldPassword", "Plaintext",
                             "TokenCode", "PrivateKey", "SecretString", "SecretBinary"})
_SECRET_PREFIXES = ("AuthenticationCode",)
# What names an operation that only reads (CloudTrail's readOnly)
_READ_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "Search", "Query", "BatchGet", "BatchDescribe",
                  "Select")
_RESOURCE_MEMBERS = {"Bucket": "Bucket", "Key": "Object"}  # S3's, besides the members named *Name and *Arn
# CloudFormation's namespace of a service, where its service id is not it
_NAMESPACES = {"SageMaker Runtime": "SageMaker", "SageMaker Metrics": "SageMaker", "CloudWatch Logs": "Logs"}
_DROPPED = object()  # a value CloudTrail leaves out


def audit_event(*, event_time: datetime, request_id: str, principal: Principal, service: str, operation: str,
                params: Mapping[str, Any] | None, output: Mapping[str, Any] | None, error_code: str | None,
                error_message: str | None, status: int, source_ip: str | None, user_agent: str | None, region: str,
                access_key_id: str | None, operation_model: OperationModel | None = None) -> AuditEvent:
    """The AuditEvent of one call (`error_code` None: it succeeded). `operation_model`, if the caller has it, saves
    loading the service's botocore model (the first call of each service loads it otherwise)."""
    model = operation_model or _operation_model(service, operation)
    read_only = is_read_only(operation)
    resources = _resources(service, params or {})
    is_change = error_code is None and not read_only
    return AuditEvent(
        event_time=event_time, request_id=request_id, principal=principal.arn, service=service, operation=operation,
        outcome=error_code or SUCCESS, status_code=status, resources=tuple(name for name, _ in resources),
        source_ip=source_ip, error_message=error_message, region=region, event_source=event_source(service),
        user_identity=user_identity(principal, access_key_id), username=username(principal),
        access_key_id=access_key_id, account_id=principal.account_id, user_agent=user_agent, read_only=read_only,
        request_parameters=_redacted_members(params, model.input_shape if model else None),
        response_elements=_redacted_members(output, model.output_shape if model else None) if is_change else None,
        resource_types=tuple(kind for _, kind in resources))


def is_read_only(operation: str) -> bool:
    return operation.startswith(_READ_PREFIXES)


def event_source(service: str) -> str | None:
    """CloudTrail's eventSource: the service's signing name (sagemaker.amazonaws.com for SageMaker's runtime too);
    None for a call of no service modelbay knows."""
    model = _service_model(service) if service else None
    if model is None:
        return None
    return f"{model.metadata.get('signingName') or model.endpoint_prefix}.amazonaws.com"


def user_identity(principal: Principal, access_key_id: str | None) -> dict[str, Any]:
    """CloudTrail's userIdentity of the caller."""
    if principal.kind == ANONYMOUS:
        return {"type": "AWSAccount", "principalId": "", "accountId": "anonymous"}
    identity: dict[str, Any] = {"type": principal.kind, "principalId": principal.user_id, "arn": principal.arn,
                                "accountId": principal.account_id}
    if access_key_id:
        identity["accessKeyId"] = access_key_id
    if principal.kind == IAM_USER:
        identity["userName"] = principal.name
    attributes = {"mfaAuthenticated": str(principal.mfa_authenticated_at is not None).lower()}
    if principal.mfa_authenticated_at is not None:
        attributes["creationDate"] = principal.mfa_authenticated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if principal.kind == ASSUMED_ROLE:
        identity["sessionContext"] = {"sessionIssuer": {
            "type": "Role", "principalId": principal.unique_id, "arn": principal.role_arn,
            "accountId": principal.account_id, "userName": principal.name}, "attributes": attributes}
    elif principal.mfa_authenticated_at is not None:
        identity["sessionContext"] = {"attributes": attributes}
    return identity


def username(principal: Principal) -> str | None:
    """LookupEvents' Username: root, the IAM user's name, or the role session's name."""
    if principal.kind == ROOT:
        return "root"
    if principal.kind == ASSUMED_ROLE:
        return principal.session_name
    return principal.name


def _resources(service: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The names and ARNs a call is about, each with its CloudTrail type (AWS::SageMaker::Endpoint)."""
    model = _service_model(service)
    namespace = "" if model is None else _NAMESPACES.get(model.service_id, model.service_id.replace(" ", ""))
    found = []
    for member, value in params.items():
        stem = _RESOURCE_MEMBERS.get(member) or member.removesuffix("Name").removesuffix("Arn")
        if isinstance(value, str) and stem != member:
            found.append((value, f"AWS::{namespace}::{stem}"))
    return found


def _redacted_members(value: Mapping[str, Any] | None, shape: Shape | None) -> dict[str, Any] | None:
    if value is None:
        return None
    redacted = _redacted(value, shape)
    return redacted if isinstance(redacted, dict) else None


def _redacted(value: Any, shape: Shape | None) -> Any:
    """`value` with its secrets hidden and what JSON cannot hold dropped (_DROPPED for itself)."""
    if shape is not None and shape.metadata.get("sensitive"):
        return HIDDEN
    if shape is not None and shape.type_name == "blob":
        return _DROPPED
    if isinstance(value, Mapping):
        return _redacted_mapping(value, shape)
    if isinstance(value, list | tuple):
        item_shape = getattr(shape, "member", None)
        return [item for item in (_redacted(v, item_shape) for v in value) if item is not _DROPPED]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return _DROPPED  # bytes, streams


def _redacted_mapping(value: Mapping[str, Any], shape: Shape | None) -> dict[str, Any]:
    members = getattr(shape, "members", None)
    values_shape = getattr(shape, "value", None)  # a map's
    redacted = {}
    for name, item in value.items():
        if name in _SECRET_MEMBERS or str(name).startswith(_SECRET_PREFIXES):
            redacted[name] = HIDDEN
            continue
        kept = _redacted(item, members.get(name) if members is not None else values_shape)
        if kept is not _DROPPED:
            redacted[name] = kept
    return redacted


@cache
def _service_model(service: str) -> ServiceModel | None:
    try:
        return _session().get_service_model(service)
    except DataNotFoundError:
        return None


def _operation_model(service: str, operation: str) -> OperationModel | None:
    model = _service_model(service)
    try:
        return None if model is None else model.operation_model(operation)
    except OperationNotFoundError:
        return None


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()
