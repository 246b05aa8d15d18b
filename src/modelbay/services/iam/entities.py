"""What IAM's operations share: IAM's errors and their messages, unique ids, ARNs, and the store's refusals in IAM's
words.

Every write to users, groups, memberships, keys, policies, attachments or roles ends with `changed(ctx)`, which
tells the authenticator's and the authorizer's caches (Platform.iam_changes) that what they hold may be stale.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager

from modelbay.errors import AwsError, aws_error
from modelbay.services.base import Context
from modelbay.store.metadata.iam import EntityInUse, IamEntityNotFound, LimitReached

NoSuchEntity = aws_error("NoSuchEntity", 404)
EntityAlreadyExists = aws_error("EntityAlreadyExists", 409)
DeleteConflict = aws_error("DeleteConflict", 409)
LimitExceeded = aws_error("LimitExceeded", 409)
MalformedPolicyDocument = aws_error("MalformedPolicyDocument")
InvalidInput = aws_error("InvalidInput")
UnmodifiableEntity = aws_error("UnmodifiableEntity")

ID_ALPHABET = string.ascii_uppercase + "234567"  # IAM's unique ids and access key ids are base 32

# What DeleteUser, DeleteGroup, DeleteRole, DeletePolicy and DeletePolicyVersion answer when the entity still has...
_CONFLICTS = {
    "access keys": "Cannot delete entity, must delete access keys first.",
    "inline policies": "Cannot delete entity, must delete policies first.",
    "attached policies": "Cannot delete entity, must detach all policies first.",
    "groups": "Cannot delete entity, must remove users from group first.",  # AWS's words for a user in a group too
    "members": "Cannot delete entity, must remove users from group first.",
    "attachments": "Cannot delete a policy attached to entities.",
    "permissions boundaries": "Cannot delete a policy attached to entities as a permissions boundary.",
    "versions": "This policy has more than one version. Before you delete a policy, you must delete the policy's "
                "versions. The default version is deleted with the policy.",
    "default version": "Cannot delete the default version of a policy.",
}


def new_id(prefix: str, length: int = 17) -> str:
    """`prefix` and `length` random base-32 characters: AIDA… (users), AGPA… (groups), ANPA… (policies)."""
    return prefix + "".join(secrets.choice(ID_ALPHABET) for _ in range(length))


def arn(ctx: Context, kind: str, path: str, name: str) -> str:
    """arn:aws:iam::<account>:<kind><path><name>, as IAM writes a user's, a group's, a role's or a policy's."""
    return f"arn:aws:iam::{ctx.settings.account_id}:{kind}{path}{name}"


def changed(ctx: Context) -> None:
    """Tell the caches built from IAM (authentication, authorization) that IAM changed."""
    ctx.platform.iam_changes.bump()


def no_such(kind: str, name: str) -> AwsError:
    """IAM's NoSuchEntity for a `kind` as the store names it (IamEntityNotFound)."""
    if kind == "access key":
        return NoSuchEntity(f"The Access Key with id {name} cannot be found.")
    if kind in ("policy", "attachment"):
        return NoSuchEntity(f"Policy {name} was not found.")
    if kind == "policy version":
        return NoSuchEntity(f"Policy version {name} does not exist or is not attachable.")
    if kind == "membership":
        return NoSuchEntity(f"The user with name {name} is not a member of the group.")
    return NoSuchEntity(f"The {kind} with name {name} cannot be found.")


@contextmanager
def store_errors() -> Iterator[None]:
    """Within it, the IAM store's refusals are IAM's errors: NoSuchEntity, DeleteConflict, LimitExceeded."""
    try:
        yield
    except IamEntityNotFound as err:
        raise no_such(err.kind, err.name) from None
    except EntityInUse as err:
        raise DeleteConflict(_CONFLICTS[err.what]) from None
    except LimitReached as err:
        if err.what == "VersionsPerPolicy":
            raise LimitExceeded(f"A managed policy can have up to {err.limit} versions. Before you create a new "
                                "version, you must delete an existing version.") from None
        raise LimitExceeded(f"Cannot exceed quota for {err.what}: {err.limit}") from None
