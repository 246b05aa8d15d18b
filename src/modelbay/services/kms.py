"""AWS KMS (botocore `kms`, AWS JSON 1.1, TrentService) over the region's key ring (security/kms_keys.py).

Symmetric encryption keys only (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT, Origin AWS_KMS, single-Region):
their life (Enabled, Disabled, PendingDeletion until the deletion date, then gone), aliases, key policies (kept and
answered; enforcing them is the authorizer's), automatic and on-demand rotation, encryption with encryption contexts,
data keys, grants (recorded and listed; the authorizer honours their operations) and tags. Every operation accepts a
key id, key ARN, alias name or alias ARN where KMS does. Not done: asymmetric and HMAC keys, imported material,
custom key stores, multi-Region keys, Nitro enclave recipients, ListRetirableGrants, grant constraints' enforcement.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from modelbay.errors import ValidationError, aws_error, validation_message
from modelbay.security.kms_keys import (
    AWS_MANAGED,
    DEFAULT_ROTATION_DAYS,
    MATERIAL_BYTES,
    DisabledException,
    KeyRing,
    KMSInvalidStateException,
    NotFoundException,
    material_id,
)
from modelbay.services.base import Context, Handler, present
from modelbay.store.metadata.kms import AWS, DISABLED, ENABLED, PENDING_DELETION, Alias, AliasNotFound, Grant, KmsKey
from modelbay.store.metadata.paging import InvalidToken
from modelbay.store.metadata.records import RecordExists, StatusConflict
from modelbay.store.metadata.tags import TooManyTags

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
DEFAULT_POLICY_NAME = "default"
MAX_TAGS = 50
DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}
_RESERVED_ALIAS_PREFIX = "alias/aws/"
_ALIAS_DOCS = "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"

AlreadyExistsException = aws_error("AlreadyExistsException")
DryRunOperationException = aws_error("DryRunOperationException", 412)
InvalidGrantIdException = aws_error("InvalidGrantIdException")
InvalidGrantTokenException = aws_error("InvalidGrantTokenException")
InvalidKeyUsageException = aws_error("InvalidKeyUsageException")
InvalidMarkerException = aws_error("InvalidMarkerException")
MalformedPolicyDocumentException = aws_error("MalformedPolicyDocumentException")
NotAuthorizedException = aws_error("NotAuthorizedException")
TagException = aws_error("TagException")
UnsupportedOperationException = aws_error("UnsupportedOperationException")


# Keys

def create_key(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A symmetric encryption key, Enabled, with the default key policy unless one is given."""
    _check_creatable(params)
    policy = params.get("Policy")
    if policy is not None:
        _check_policy(policy)
    tags = _tags(params.get("Tags") or [])
    key = ctx.platform.kms.create_key(params.get("Description", ""), policy)
    if tags:
        ctx.metadata.tags.add(key.arn, tags)
    return {"KeyMetadata": _metadata(ctx.platform.kms, key)}


def describe_key(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    keys = ctx.platform.kms
    return {"KeyMetadata": _metadata(keys, keys.find(params["KeyId"]))}


def list_keys(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    ctx.metadata.kms.delete_due()
    with _markers():
        page = ctx.metadata.kms.keys(params.get("Marker"), params.get("Limit", 100))
    return {"Keys": [{"KeyId": key.key_id, "KeyArn": key.arn} for key in page.items]} | _more(page.next_token)


def update_key_description(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = _not_pending_deletion(ctx.platform.kms.find(params["KeyId"]))
    ctx.metadata.kms.set_description(key.key_id, params["Description"])
    return {}


def enable_key(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = _customer_managed(ctx.platform.kms.find(params["KeyId"]))
    _move(ctx, key, ENABLED, (ENABLED, DISABLED))
    return {}


def disable_key(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = _customer_managed(ctx.platform.kms.find(params["KeyId"]))
    _move(ctx, key, DISABLED, (ENABLED, DISABLED))
    return {}


def schedule_key_deletion(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """PendingDeletion for PendingWindowInDays (7 to 30, 30 unless given); the key is deleted when the date comes."""
    key = _customer_managed(ctx.platform.kms.find(params["KeyId"]))
    days = params.get("PendingWindowInDays", 30)
    for problem, wrong in (("greater than or equal to 7", days < 7), ("less than or equal to 30", days > 30)):
        if wrong:
            raise ValidationError(validation_message([
                f"Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value "
                f"{problem}"]))
    deletion_date = ctx.metadata.kms.clock() + timedelta(days=days)
    _move(ctx, key, PENDING_DELETION, (ENABLED, DISABLED), deletion_date=deletion_date, pending_window_days=days)
    return {"KeyId": key.arn, "DeletionDate": deletion_date, "KeyState": PENDING_DELETION,
            "PendingWindowInDays": days}


def cancel_key_deletion(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Back from PendingDeletion to Disabled, as KMS leaves it."""
    key = ctx.platform.kms.find(params["KeyId"])
    try:
        ctx.metadata.kms.move(key.key_id, DISABLED, (PENDING_DELETION,))
    except StatusConflict:
        raise KMSInvalidStateException(f"{key.arn} is not pending deletion.") from None
    return {"KeyId": key.arn}


# Rotation

def enable_key_rotation(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = _enabled(_customer_managed(ctx.platform.kms.find(params["KeyId"])))
    ctx.metadata.kms.set_rotation(key.key_id, params.get("RotationPeriodInDays", DEFAULT_ROTATION_DAYS))
    return {}


def disable_key_rotation(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = _enabled(_customer_managed(ctx.platform.kms.find(params["KeyId"])))
    ctx.metadata.kms.set_rotation(key.key_id, None)
    return {}


def get_key_rotation_status(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = ctx.platform.kms.find(params["KeyId"])
    return {"KeyRotationEnabled": key.rotation_period_days is not None, "KeyId": key.arn} | present(
        RotationPeriodInDays=key.rotation_period_days, NextRotationDate=key.next_rotation)


def rotate_key_on_demand(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    keys = ctx.platform.kms
    key = _customer_managed(keys.usable(params["KeyId"]))
    keys.rotate_now(key)
    return {"KeyId": key.key_id}


def list_key_rotations(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The key's rotations (or, with ALL_KEY_MATERIAL, every version of its material), oldest first."""
    key = ctx.platform.kms.find(params["KeyId"])
    first = 1 if params.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL" else 2
    with _markers():
        page = ctx.metadata.kms.materials(key.key_id, params.get("Marker"), params.get("Limit", 100), first)
    rotations = [{
        "KeyId": key.key_id, "KeyMaterialId": material_id(key.key_id, material.version),
        "KeyMaterialState": "CURRENT" if material.version == key.material_version else "NON_CURRENT",
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "RotationDate": material.rotation_date,
    } | present(RotationType=material.rotation_type) for material in page.items]
    return {"Rotations": rotations} | _more(page.next_token)


# Cryptography

def encrypt(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    keys = ctx.platform.kms
    key = keys.usable(params["KeyId"])
    _symmetric(params.get("EncryptionAlgorithm"))
    _dry_run(params)
    encrypted = keys.encrypt_under(key, params["Plaintext"], params.get("EncryptionContext"))
    return {"CiphertextBlob": encrypted.ciphertext_blob, "KeyId": encrypted.key.arn,
            "EncryptionAlgorithm": SYMMETRIC_DEFAULT}


def decrypt(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Decrypt with the key and material version the blob names (KeyId, if given, must name that key)."""
    _no_recipient(params)
    _symmetric(params.get("EncryptionAlgorithm"))
    decrypted = ctx.platform.kms.decrypt(_ciphertext(params), params.get("EncryptionContext"), params.get("KeyId"))
    _dry_run(params)
    return {"KeyId": decrypted.key.arn, "Plaintext": decrypted.plaintext, "EncryptionAlgorithm": SYMMETRIC_DEFAULT,
            "KeyMaterialId": material_id(decrypted.key.key_id, decrypted.version)}


def re_encrypt(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Decrypt under the blob's key (SourceKeyId, if given, must be it) and encrypt under DestinationKeyId."""
    keys = ctx.platform.kms
    _symmetric(params.get("SourceEncryptionAlgorithm"))
    _symmetric(params.get("DestinationEncryptionAlgorithm"))
    source = keys.decrypt(_ciphertext(params), params.get("SourceEncryptionContext"), params.get("SourceKeyId"))
    destination = keys.usable(params["DestinationKeyId"])
    _dry_run(params)
    encrypted = keys.encrypt_under(destination, source.plaintext, params.get("DestinationEncryptionContext"))
    return {"CiphertextBlob": encrypted.ciphertext_blob, "SourceKeyId": source.key.arn, "KeyId": encrypted.key.arn,
            "SourceEncryptionAlgorithm": SYMMETRIC_DEFAULT, "DestinationEncryptionAlgorithm": SYMMETRIC_DEFAULT,
            "SourceKeyMaterialId": material_id(source.key.key_id, source.version),
            "DestinationKeyMaterialId": material_id(encrypted.key.key_id, encrypted.version)}


def generate_data_key(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """A random data key (KeySpec or NumberOfBytes long) in the clear and encrypted under the KMS key."""
    _no_recipient(params)
    encrypted = _new_data_key(ctx, params)
    return {"CiphertextBlob": encrypted["CiphertextBlob"], "Plaintext": encrypted["Plaintext"],
            "KeyId": encrypted["KeyId"], "KeyMaterialId": encrypted["KeyMaterialId"]}


def generate_data_key_without_plaintext(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    encrypted = _new_data_key(ctx, params)
    return {"CiphertextBlob": encrypted["CiphertextBlob"], "KeyId": encrypted["KeyId"],
            "KeyMaterialId": encrypted["KeyMaterialId"]}


def generate_random(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    _no_recipient(params)
    if params.get("CustomKeyStoreId"):
        raise UnsupportedOperationException("modelbay has no custom key stores.")
    if "NumberOfBytes" not in params:
        raise ValidationError("NumberOfBytes is required.")
    return {"Plaintext": os.urandom(params["NumberOfBytes"])}


# Aliases

def create_alias(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = _alias_name(params["AliasName"])
    key = _alias_target(ctx.platform.kms, params["TargetKeyId"])
    try:
        ctx.metadata.kms.create_alias(name, key.key_id)
    except RecordExists:
        raise AlreadyExistsException(f"An alias with the name {ctx.platform.kms.alias_arn(name)} already "
                                     "exists") from None
    return {}


def update_alias(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = _alias_name(params["AliasName"])
    key = _alias_target(ctx.platform.kms, params["TargetKeyId"])
    with _alias_found(ctx.platform.kms, name):
        ctx.metadata.kms.retarget_alias(name, key.key_id)
    return {}


def delete_alias(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = _alias_name(params["AliasName"])
    with _alias_found(ctx.platform.kms, name):
        ctx.metadata.kms.delete_alias(name)
    return {}


def list_aliases(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The aliases (of KeyId, if given) in creation order, then the AWS managed keys' aliases not made yet."""
    keys = ctx.platform.kms
    key_id = keys.find(params["KeyId"]).key_id if "KeyId" in params else None
    with _markers():
        page = ctx.metadata.kms.aliases(key_id, params.get("Marker"), params.get("Limit", 100))
    aliases = [_alias_entry(keys, alias) for alias in page.items]
    if key_id is None and page.next_token is None:
        aliases += [{"AliasName": name, "AliasArn": keys.alias_arn(name)} for name in AWS_MANAGED
                    if ctx.metadata.kms.alias(name) is None]
    return {"Aliases": aliases} | _more(page.next_token)


# Key policies

def get_key_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = ctx.platform.kms.find(params["KeyId"])
    return {"Policy": key.policy, "PolicyName": _policy_name(params)}


def put_key_policy(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = _not_pending_deletion(_customer_managed(ctx.platform.kms.find(params["KeyId"])))
    _policy_name(params)
    _check_policy(params["Policy"])
    ctx.metadata.kms.set_policy(key.key_id, params["Policy"])
    return {}


def list_key_policies(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    ctx.platform.kms.find(params["KeyId"])
    return {"PolicyNames": [DEFAULT_POLICY_NAME], "Truncated": False}


# Grants

def create_grant(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Record a grant (the same grant asked for again answers the one recorded, as KMS does)."""
    key = _enabled(ctx.platform.kms.find(params["KeyId"]))
    grantee = params.get("GranteePrincipal") or params.get("GranteeServicePrincipal")
    if grantee is None:
        raise ValidationError("A grant needs a GranteePrincipal.")
    _dry_run(params)
    name, retiring = params.get("Name"), params.get("RetiringPrincipal")
    operations, constraints = list(params["Operations"]), params.get("Constraints")
    for grant in ctx.metadata.kms.grants(key.key_id, grantee=grantee, limit=1000).items:
        if (grant.name, grant.retiring, grant.operations, grant.constraints) == (name, retiring, operations,
                                                                                 constraints):
            return {"GrantToken": grant.token, "GrantId": grant.grant_id}
    grant = ctx.metadata.kms.create_grant(key.key_id, grantee, operations, name=name, retiring=retiring,
                                          constraints=constraints, issuing_account=ctx.platform.kms.account_id)
    return {"GrantToken": grant.token, "GrantId": grant.grant_id}


def list_grants(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    keys = ctx.platform.kms
    key = keys.find(params["KeyId"])
    with _markers():
        page = ctx.metadata.kms.grants(key.key_id, grant_id=params.get("GrantId"),
                                       grantee=params.get("GranteePrincipal") or params.get("GranteeServicePrincipal"),
                                       after_token=params.get("Marker"), limit=params.get("Limit", 50))
    return {"Grants": [_grant_entry(key, grant) for grant in page.items]} | _more(page.next_token)


def retire_grant(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Delete a grant named by its token, or by KeyId and GrantId."""
    if "GrantToken" in params:
        grant = ctx.metadata.kms.grant_by_token(params["GrantToken"])
        if grant is None:
            raise InvalidGrantTokenException("Invalid grant token.")
        key_id, grant_id = grant.key_id, grant.grant_id
    elif "KeyId" in params and "GrantId" in params:
        key_id, grant_id = ctx.platform.kms.find(params["KeyId"]).key_id, params["GrantId"]
    else:
        raise ValidationError("Either GrantToken, or KeyId and GrantId, must be given.")
    _dry_run(params)
    _delete_grant(ctx, key_id, grant_id)
    return {}


def revoke_grant(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = ctx.platform.kms.find(params["KeyId"])
    _dry_run(params)
    _delete_grant(ctx, key.key_id, params["GrantId"])
    return {}


# Tags

def tag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = _not_pending_deletion(ctx.platform.kms.find(params["KeyId"]))
    try:
        ctx.metadata.tags.add(key.arn, _tags(params["Tags"]), max_tags=MAX_TAGS)
    except TooManyTags:
        raise TagException(f"A KMS key can have at most {MAX_TAGS} tags.") from None
    return {}


def untag_resource(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = _not_pending_deletion(ctx.platform.kms.find(params["KeyId"]))
    ctx.metadata.tags.delete(key.arn, params["TagKeys"])
    return {}


def list_resource_tags(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    key = ctx.platform.kms.find(params["KeyId"])
    with _markers():
        page = ctx.metadata.tags.list(key.arn, params.get("Marker"), params.get("Limit", 50))
    return {"Tags": [{"TagKey": k, "TagValue": v} for k, v in page.items]} | _more(page.next_token)


# What the operations share

def _metadata(keys: KeyRing, key: KmsKey) -> dict[str, Any]:
    """KeyMetadata, as DescribeKey and CreateKey answer it."""
    return {
        "AWSAccountId": keys.account_id, "KeyId": key.key_id, "Arn": key.arn, "CreationDate": key.creation_date,
        "Enabled": key.state == ENABLED, "Description": key.description, "KeyUsage": ENCRYPT_DECRYPT,
        "KeyState": key.state, "Origin": "AWS_KMS", "KeyManager": key.key_manager,
        "CustomerMasterKeySpec": SYMMETRIC_DEFAULT, "KeySpec": SYMMETRIC_DEFAULT,
        "EncryptionAlgorithms": [SYMMETRIC_DEFAULT], "MultiRegion": False,
        "CurrentKeyMaterialId": material_id(key.key_id, key.material_version),
    } | present(DeletionDate=key.deletion_date, PendingDeletionWindowInDays=key.pending_window_days)


def _check_creatable(params: dict[str, Any]) -> None:
    """Refuse what modelbay's keys are not: anything but a symmetric encryption key made by KMS in one region."""
    spec = params.get("KeySpec") or params.get("CustomerMasterKeySpec") or SYMMETRIC_DEFAULT
    if spec != SYMMETRIC_DEFAULT:
        raise UnsupportedOperationException(f"KeySpec {spec} is not supported: modelbay makes {SYMMETRIC_DEFAULT} "
                                            "(symmetric encryption) keys only.")
    usage = params.get("KeyUsage", ENCRYPT_DECRYPT)
    if usage != ENCRYPT_DECRYPT:
        raise ValidationError(f"KeyUsage {usage} is not compatible with KeySpec {SYMMETRIC_DEFAULT}")
    origin = params.get("Origin", "AWS_KMS")
    if origin != "AWS_KMS" or params.get("CustomKeyStoreId") or params.get("XksKeyId"):
        raise UnsupportedOperationException(f"Origin {origin} and custom key stores are not supported: modelbay "
                                            "makes the key material itself (AWS_KMS).")
    if params.get("MultiRegion"):
        raise UnsupportedOperationException("Multi-Region keys are not supported by modelbay.")


def _check_policy(text: str) -> None:
    """A key policy must be a JSON policy document whose statements each have an Effect, a Principal and actions."""
    try:
        policy = json.loads(text)
    except ValueError:
        raise MalformedPolicyDocumentException("The key policy is not valid JSON.") from None
    statements = policy.get("Statement") if isinstance(policy, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements or not all(isinstance(s, dict) for s in statements):
        raise MalformedPolicyDocumentException("Policy is missing required element - Statement")
    for statement in statements:
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise MalformedPolicyDocumentException("Policy contains a statement with an invalid Effect.")
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise MalformedPolicyDocumentException("Policy contains a statement with no principal.")
        if "Action" not in statement and "NotAction" not in statement:
            raise MalformedPolicyDocumentException("Policy contains a statement with no action.")


def _policy_name(params: dict[str, Any]) -> str:
    name = params.get("PolicyName", DEFAULT_POLICY_NAME)
    if name != DEFAULT_POLICY_NAME:
        raise NotFoundException("No such policy exists")
    return str(name)


def _tags(given: list[dict[str, str]]) -> list[tuple[str, str]]:
    tags = [(tag["TagKey"], tag["TagValue"]) for tag in given]
    if len(dict(tags)) > MAX_TAGS:
        raise TagException(f"A KMS key can have at most {MAX_TAGS} tags.")
    if any(key.startswith("aws:") for key, _ in tags):
        raise TagException("Tag keys beginning with aws: are reserved for AWS use.")
    return tags


def _move(ctx: Context, key: KmsKey, state: str, allowed_from: tuple[str, ...], **deletion: Any) -> None:
    try:
        ctx.metadata.kms.move(key.key_id, state, allowed_from, **deletion)
    except StatusConflict as conflict:
        raise KMSInvalidStateException(f"{key.arn} is pending deletion.") from conflict


def _customer_managed(key: KmsKey) -> KmsKey:
    if key.key_manager == AWS:
        raise UnsupportedOperationException(f"{key.arn} is an AWS managed key: only AWS changes it.")
    return key


def _not_pending_deletion(key: KmsKey) -> KmsKey:
    if key.state == PENDING_DELETION:
        raise KMSInvalidStateException(f"{key.arn} is pending deletion.")
    return key


def _enabled(key: KmsKey) -> KmsKey:
    if _not_pending_deletion(key).state != ENABLED:
        raise DisabledException(f"{key.arn} is disabled.")
    return key


def _symmetric(algorithm: str | None) -> None:
    if algorithm not in (None, SYMMETRIC_DEFAULT):
        raise InvalidKeyUsageException(f"The key is a symmetric encryption key: its encryption algorithm is "
                                       f"{SYMMETRIC_DEFAULT}, not {algorithm}.")


def _ciphertext(params: dict[str, Any]) -> bytes:
    if "CiphertextBlob" not in params:
        raise ValidationError(validation_message(["Value null at 'ciphertextBlob' failed to satisfy constraint: "
                                                  "Member must not be null"]))
    return bytes(params["CiphertextBlob"])


def _dry_run(params: dict[str, Any]) -> None:
    if params.get("DryRun"):
        raise DryRunOperationException("The request would have succeeded, but the DryRun option is set.")


def _no_recipient(params: dict[str, Any]) -> None:
    if "Recipient" in params:
        raise UnsupportedOperationException("Nitro Enclaves recipients are not supported by modelbay.")


def _new_data_key(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    spec, size = params.get("KeySpec"), params.get("NumberOfBytes")
    if (spec is None) == (size is None):
        raise ValidationError("Please specify either number of bytes or key spec.")
    keys = ctx.platform.kms
    key = keys.usable(params["KeyId"])
    _dry_run(params)
    plaintext = os.urandom(DATA_KEY_BYTES[spec] if spec is not None else size or MATERIAL_BYTES)
    encrypted = keys.encrypt_under(key, plaintext, params.get("EncryptionContext"))
    return {"CiphertextBlob": encrypted.ciphertext_blob, "Plaintext": plaintext, "KeyId": encrypted.key.arn,
            "KeyMaterialId": material_id(encrypted.key.key_id, encrypted.version)}


def _alias_name(name: str) -> str:
    if not name.startswith("alias/"):
        raise ValidationError(f'Alias must start with the prefix "alias/". Please see {_ALIAS_DOCS}')
    if ":" in name:
        raise ValidationError(f"{name} contains invalid characters for an alias")
    if name.startswith(_RESERVED_ALIAS_PREFIX):
        raise NotAuthorizedException(f"Cannot create, update or delete an alias with the reserved prefix "
                                     f"'{_RESERVED_ALIAS_PREFIX}'.")
    return name


def _alias_target(keys: KeyRing, target: str) -> KmsKey:
    if target.startswith("alias/") or ":alias/" in target:
        raise ValidationError("Aliases must refer to keys. Not aliases")
    return _not_pending_deletion(keys.find(target))


@contextmanager
def _alias_found(keys: KeyRing, name: str) -> Iterator[None]:
    try:
        yield
    except AliasNotFound:
        raise NotFoundException(f"Alias {keys.alias_arn(name)} is not found.") from None


def _alias_entry(keys: KeyRing, alias: Alias) -> dict[str, Any]:
    return {"AliasName": alias.name, "AliasArn": keys.alias_arn(alias.name), "TargetKeyId": alias.key_id,
            "CreationDate": alias.creation_date, "LastUpdatedDate": alias.last_updated}


def _grant_entry(key: KmsKey, grant: Grant) -> dict[str, Any]:
    return {"KeyId": key.arn, "GrantId": grant.grant_id, "CreationDate": grant.creation_date,
            "GranteePrincipal": grant.grantee, "IssuingAccount": f"arn:aws:iam::{grant.issuing_account}:root",
            "Operations": grant.operations} | present(Name=grant.name, RetiringPrincipal=grant.retiring,
                                                       Constraints=grant.constraints)


def _delete_grant(ctx: Context, key_id: str, grant_id: str) -> None:
    if not ctx.metadata.kms.delete_grant(key_id, grant_id):
        raise InvalidGrantIdException(f"Grant ID {grant_id} is not a grant of the key.")


def _more(next_token: str | None) -> dict[str, Any]:
    """KMS's paging members: NextMarker and Truncated."""
    return {"Truncated": next_token is not None} | present(NextMarker=next_token)


@contextmanager
def _markers() -> Iterator[None]:
    try:
        yield
    except InvalidToken:
        raise InvalidMarkerException("The marker is not one a previous page of this listing gave.") from None


OPERATIONS: dict[str, Handler] = {
    "CreateKey": create_key, "DescribeKey": describe_key, "ListKeys": list_keys,
    "UpdateKeyDescription": update_key_description, "EnableKey": enable_key, "DisableKey": disable_key,
    "ScheduleKeyDeletion": schedule_key_deletion, "CancelKeyDeletion": cancel_key_deletion,
    "EnableKeyRotation": enable_key_rotation, "DisableKeyRotation": disable_key_rotation,
    "GetKeyRotationStatus": get_key_rotation_status, "RotateKeyOnDemand": rotate_key_on_demand,
    "ListKeyRotations": list_key_rotations,
    "Encrypt": encrypt, "Decrypt": decrypt, "ReEncrypt": re_encrypt, "GenerateDataKey": generate_data_key,
    "GenerateDataKeyWithoutPlaintext": generate_data_key_without_plaintext, "GenerateRandom": generate_random,
    "CreateAlias": create_alias, "UpdateAlias": update_alias, "DeleteAlias": delete_alias,
    "ListAliases": list_aliases,
    "GetKeyPolicy": get_key_policy, "PutKeyPolicy": put_key_policy, "ListKeyPolicies": list_key_policies,
    "CreateGrant": create_grant, "ListGrants": list_grants, "RetireGrant": retire_grant, "RevokeGrant": revoke_grant,
    "TagResource": tag_resource, "UntagResource": untag_resource, "ListResourceTags": list_resource_tags,
}
