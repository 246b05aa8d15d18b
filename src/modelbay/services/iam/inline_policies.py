"""Inline policies, embedded in one user, group or role: Put/Get/List/Delete{User,Group,Role}Policy (the three kinds
alike, made by one function).

As IAM does: putting a policy of a name the entity has replaces it; documents are checked by the policy engine and
within the inline size of the kind (documents.py), and come back URL-encoded.
"""

from __future__ import annotations

from typing import Any

from modelbay.services.base import Context, Handler
from modelbay.services.iam.documents import check_inline, document_wire
from modelbay.services.iam.entities import changed, store_errors
from modelbay.services.iam.pages import page


def _operations(kind: str) -> dict[str, Handler]:
    """The inline-policy operations of users, groups or roles (`kind`), named as IAM names them."""
    title = kind.capitalize()
    member = f"{title}Name"

    def put(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        check_inline(params["PolicyDocument"], kind, params[member])
        with store_errors():
            ctx.metadata.iam_policies.put_inline(kind, params[member], params["PolicyName"], params["PolicyDocument"])
        changed(ctx)
        return {}

    def get(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        with store_errors():
            document = ctx.metadata.iam_policies.inline(kind, params[member], params["PolicyName"])
        return {member: params[member], "PolicyName": params["PolicyName"], "PolicyDocument": document_wire(document)}

    def list_names(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        with store_errors():
            names = ctx.metadata.iam_policies.inline_names(kind, params[member])
        chosen, paging = page(params, names, lambda name: name, f"{kind} {params[member].lower()} inline policies")
        return {"PolicyNames": chosen} | paging

    def delete(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        with store_errors():
            ctx.metadata.iam_policies.delete_inline(kind, params[member], params["PolicyName"])
        changed(ctx)
        return {}

    return {f"Put{title}Policy": put, f"Get{title}Policy": get, f"List{title}Policies": list_names,
            f"Delete{title}Policy": delete}


OPERATIONS: dict[str, Handler] = {**_operations("user"), **_operations("group"), **_operations("role")}
