"""IAM users' access keys: `AKIA` and 16 base-32 characters, with a 40-character secret that CreateAccessKey shows
once. The store keeps the secret sealed by the master key (with the key id as context), which the authenticator
unseals to check signatures; it is never stored in the clear nor logged.

As IAM does: a user has at most MAX_KEYS_PER_USER keys (LimitExceeded); without UserName, the operations act on
the calling user's own keys (a caller that is not an IAM user must name one); an Inactive key signs nothing.
"""

from __future__ import annotations

from typing import Any

from modelbay.errors import ValidationError
from modelbay.security.principal import IAM_USER
from modelbay.security.root_key import new_access_key
from modelbay.services.base import Context, Handler
from modelbay.services.iam.entities import changed, no_such, store_errors
from modelbay.services.iam.pages import page
from modelbay.store.metadata.iam import AccessKeyRecord

MAX_KEYS_PER_USER = 2


def create_access_key(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = new_access_key("AKIA")
    sealed = ctx.platform.master_key.seal(key.secret_access_key.encode(), context=key.access_key_id.encode())
    with store_errors():
        record = ctx.metadata.iam.create_access_key(_user_name(ctx, params), key.access_key_id, sealed,
                                                    MAX_KEYS_PER_USER)
    changed(ctx)
    return {"AccessKey": _wire(record) | {"SecretAccessKey": key.secret_access_key}}


def list_access_keys(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = _user_name(ctx, params)
    with store_errors():
        found = ctx.metadata.iam.access_keys(name)
    keys, paging = page(params, found, lambda key: key.access_key_id,
                        f"access keys of {name.lower()}")
    return {"AccessKeyMetadata": [_wire(key) for key in keys]} | paging


def update_access_key(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam.set_access_key_status(_user_name(ctx, params), params["AccessKeyId"], params["Status"])
    changed(ctx)
    return {}


def delete_access_key(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with store_errors():
        ctx.metadata.iam.delete_access_key(_user_name(ctx, params), params["AccessKeyId"])
    changed(ctx)
    return {}


def get_access_key_last_used(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """When and where the key was last used; "N/A" as the service and region of a key never used, as IAM says."""
    key = ctx.metadata.iam.find_access_key(params["AccessKeyId"])
    if key is None:
        raise no_such("access key", params["AccessKeyId"])
    used = {"ServiceName": "N/A", "Region": "N/A"} if key.last_used is None else {
        "LastUsedDate": key.last_used.when, "ServiceName": key.last_used.service, "Region": key.last_used.region}
    return {"UserName": key.user_name, "AccessKeyLastUsed": used}


def _user_name(ctx: Context, params: dict[str, Any]) -> str:
    """The request's UserName, else the calling IAM user's name."""
    name = params.get("UserName")
    if name is not None:
        return str(name)
    if ctx.principal.kind != IAM_USER or ctx.principal.name is None:
        raise ValidationError("Must specify userName when calling with non-User credentials")
    return ctx.principal.name


def _wire(key: AccessKeyRecord) -> dict[str, Any]:
    return {"UserName": key.user_name, "AccessKeyId": key.access_key_id, "Status": key.status,
            "CreateDate": key.created}


OPERATIONS: dict[str, Handler] = {
    "CreateAccessKey": create_access_key, "ListAccessKeys": list_access_keys, "UpdateAccessKey": update_access_key,
    "DeleteAccessKey": delete_access_key, "GetAccessKeyLastUsed": get_access_key_last_used,
}
