"""The KMS key ring: symmetric keys found by id, ARN or alias, their material, its rotation, and envelope encryption.

A key's material is 32 random bytes per version, kept in the metadata store only sealed under the master key with
"<key id>/<version>" as the seal's context. Rotation adds a version and keeps the others, so a ciphertext made before
it still decrypts: yearly (or every RotationPeriodInDays) automatic rotation is a time check made whenever a key is
looked up, and done then, once, in a transaction (no background loop); RotateKeyOnDemand adds one at once.

A ciphertext blob is `format (1 byte) | key id (36 ASCII bytes) | material version (4 bytes, big-endian) | nonce (12)
| AES-256-GCM ciphertext and tag`; the associated data is the header (the first 41 bytes) followed by the encryption
context canonicalised as compact JSON with sorted keys, so the blob decrypts only under its key and version and with
the same context. An AWS managed key (`alias/aws/s3`, `alias/aws/sagemaker`) is made the first time its alias is
looked up, as KMS makes it when a service first uses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from modelbay.errors import aws_error
from modelbay.security.master_key import MasterKey, SealBroken
from modelbay.store.metadata.kms import AWS, ENABLED, PENDING_DELETION, KmsKey, KmsRepository, NewKey, Seal
from modelbay.store.metadata.records import RecordExists

MATERIAL_BYTES = 32
DEFAULT_ROTATION_DAYS = 365
_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEADER = struct.Struct(">B36sI")  # format, key id, material version
_FORMAT = 1
_AWS_MANAGED_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]

NotFoundException = aws_error("NotFoundException")
DisabledException = aws_error("DisabledException")
KMSInvalidStateException = aws_error("KMSInvalidStateException")
InvalidCiphertextException = aws_error("InvalidCiphertextException")
IncorrectKeyException = aws_error("IncorrectKeyException")
KMSInternalException = aws_error("KMSInternalException", 500)


@dataclass(frozen=True)
class ManagedBy:
    """The AWS service an AWS managed key is for."""

    service: str  # its endpoint prefix: kms:ViaService names <service>.<region>.amazonaws.com
    name: str
    description: str


# The AWS managed keys of the services here, by alias, made on first use.
AWS_MANAGED = {
    "alias/aws/s3": ManagedBy("s3", "Amazon S3",
                              "Default master key that protects my S3 objects when no other key is defined"),
    "alias/aws/sagemaker": ManagedBy("sagemaker", "Amazon SageMaker", "Default master key that protects my "
                                     "SageMaker data when no other key is defined"),
}


@dataclass(frozen=True)
class DataKey:
    """A data key: in the clear (use it, then forget it) and encrypted under the KMS key (store it with the data)."""

    plaintext: bytes
    ciphertext_blob: bytes
    key_arn: str

    def __repr__(self) -> str:
        return f"DataKey(key_arn={self.key_arn!r}, …)"  # never the plaintext


@dataclass(frozen=True)
class Encrypted:
    ciphertext_blob: bytes
    key: KmsKey
    version: int  # of the key's material that encrypted it


@dataclass(frozen=True)
class Decrypted:
    plaintext: bytes
    key: KmsKey
    version: int


class KeyRing:
    """The region's KMS keys. Thread-safe (the repository is; the key ring keeps no state of its own)."""

    def __init__(self, keys: KmsRepository, master_key: MasterKey, account_id: str, region: str) -> None:
        self.keys = keys
        self._master_key = master_key
        self.account_id, self.region = account_id, region
        self._arn_prefix = f"arn:aws:kms:{region}:{account_id}:"

    def arn(self, key_id: str) -> str:
        return f"{self._arn_prefix}key/{key_id}"

    def alias_arn(self, alias: str) -> str:
        return self._arn_prefix + alias

    def default_policy(self) -> str:
        """The key policy KMS gives a key created without one: the account (its IAM policies) may do kms:*."""
        return _policy_text("key-default-1", [{
            "Sid": "Enable IAM User Permissions", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{self.account_id}:root"}, "Action": "kms:*", "Resource": "*"}])

    def create_key(self, description: str = "", policy: str | None = None) -> KmsKey:
        """A customer managed symmetric key, Enabled, with its first material."""
        key_id = str(uuid.uuid4())
        new = NewKey(key_id, self.arn(key_id), description, policy or self.default_policy())
        return self.keys.create_key(new, self._sealer(key_id))

    def find(self, key_id: str) -> KmsKey:
        """The key that a key id, key ARN, alias name or alias ARN names, in any state, rotated first if its automatic
        rotation is due. NotFoundException if there is none (a key whose deletion date has come is deleted now)."""
        key = self.keys.get_key(self._resolve(key_id))
        if key is None:
            raise NotFoundException(f"Key '{self._shown(key_id)}' does not exist")
        now = self.keys.clock()
        if key.state == PENDING_DELETION and key.deletion_date is not None and key.deletion_date <= now:
            self.keys.delete_due()
            raise NotFoundException(f"Key '{key.arn}' does not exist")
        if key.state == ENABLED and key.next_rotation is not None and key.next_rotation <= now:
            self.keys.rotate_if_due(key.key_id, self._sealer(key.key_id))
            key = self.keys.get_key(key.key_id) or key
        return key

    def usable(self, key_id: str) -> KmsKey:
        """The key if it may encrypt and decrypt now: DisabledException or KMSInvalidStateException if not."""
        key = self.find(key_id)
        if key.state == ENABLED:
            return key
        if key.state == PENDING_DELETION:
            raise KMSInvalidStateException(f"{key.arn} is pending deletion.")
        raise DisabledException(f"{key.arn} is disabled.")

    def key_arn(self, key_id: str) -> str:
        """The ARN of the key an id, ARN or alias names (NotFoundException if none)."""
        return self.find(key_id).arn

    def require_usable(self, key_id: str) -> str:
        """The key's ARN if it is Enabled, else the KMS error: what SageMaker checks of a KmsKeyId it is given."""
        return self.usable(key_id).arn

    def blob_key_arn(self, ciphertext_blob: bytes) -> str:
        """The ARN of the key a ciphertext blob names, read from its header without decrypting (so a Decrypt can be
        authorized before it runs); InvalidCiphertextException if it is no blob of ours."""
        header, _, _ = _split(ciphertext_blob)
        return self.arn(_HEADER.unpack(header)[1].decode("ascii"))

    def rotate_now(self, key: KmsKey) -> None:
        """RotateKeyOnDemand: a new current version of the key's material."""
        self.keys.rotate_on_demand(key.key_id, self._sealer(key.key_id))

    def encrypt(self, key_id: str, plaintext: bytes, context: Mapping[str, str] | None = None) -> Encrypted:
        """Encrypt under the current material of an Enabled key."""
        return self.encrypt_under(self.usable(key_id), plaintext, context)

    def encrypt_under(self, key: KmsKey, plaintext: bytes, context: Mapping[str, str] | None = None) -> Encrypted:
        """Encrypt under the current material of a key `usable` gave."""
        header = _HEADER.pack(_FORMAT, key.key_id.encode("ascii"), key.material_version)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._material(key, key.material_version)).encrypt(nonce, plaintext, _aad(header, context))
        return Encrypted(header + nonce + sealed, key, key.material_version)

    def decrypt(self, ciphertext_blob: bytes, context: Mapping[str, str] | None = None,
                key_id: str | None = None) -> Decrypted:
        """Decrypt a blob of `encrypt` with the material version it names; `key_id`, if given, must name the blob's key
        (IncorrectKeyException). InvalidCiphertextException for a blob that is not one, was altered, or was made with
        another encryption context."""
        header, nonce, sealed = _split(ciphertext_blob)
        _, raw_key_id, version = _HEADER.unpack(header)
        blob_key_id = raw_key_id.decode("ascii")
        if key_id is not None and self.find(key_id).key_id != blob_key_id:
            raise IncorrectKeyException("The key ID in the request does not identify a KMS key that can perform this "
                                        "operation.")
        key = self.usable(blob_key_id)
        try:
            plaintext = AESGCM(self._material(key, version)).decrypt(nonce, sealed, _aad(header, context))
        except InvalidTag:
            raise InvalidCiphertextException("") from None
        return Decrypted(plaintext, key, version)

    def generate_data_key(self, key_id: str, context: Mapping[str, str] | None = None,
                          number_of_bytes: int = MATERIAL_BYTES) -> DataKey:
        """A fresh random data key and its encryption under the KMS key (an Enabled one)."""
        plaintext = os.urandom(number_of_bytes)
        encrypted = self.encrypt(key_id, plaintext, context)
        return DataKey(plaintext, encrypted.ciphertext_blob, encrypted.key.arn)

    def decrypt_data_key(self, ciphertext_blob: bytes, context: Mapping[str, str] | None = None) -> DataKey:
        """The data key a blob of `generate_data_key` holds (with the same context)."""
        decrypted = self.decrypt(ciphertext_blob, context)
        return DataKey(decrypted.plaintext, ciphertext_blob, decrypted.key.arn)

    def _resolve(self, given: str) -> str:
        """The key id that a key id, key ARN, alias name or alias ARN names (NotFoundException if none)."""
        name = given.removeprefix(self._arn_prefix)
        if name.startswith("alias/"):
            alias = self.keys.alias(name)
            if alias is not None:
                return alias.key_id
            if name in AWS_MANAGED:
                return self._create_aws_managed(name)
            raise NotFoundException(f"Alias {self.alias_arn(name)} is not found.")
        key_id = given.removeprefix(self._arn_prefix + "key/")
        if not _is_key_id(key_id):
            raise NotFoundException(f"Invalid keyId {given}")
        return key_id

    def _create_aws_managed(self, alias: str) -> str:
        """Make the AWS managed key of `alias` (rotated yearly, as AWS rotates them); if another call made it
        meanwhile, answer that one."""
        managed_by = AWS_MANAGED[alias]
        key_id = str(uuid.uuid4())
        new = NewKey(key_id, self.arn(key_id), managed_by.description, self._aws_managed_policy(managed_by),
                     key_manager=AWS, rotation_period_days=DEFAULT_ROTATION_DAYS)
        try:
            return self.keys.create_key(new, self._sealer(key_id), alias=alias).key_id
        except RecordExists:
            made = self.keys.alias(alias)
            assert made is not None, "an alias is never deleted while it names an AWS managed key"
            return made.key_id

    def _aws_managed_policy(self, managed_by: ManagedBy) -> str:
        """AWS's policy of an AWS managed key: the account's principals may use it through the service alone."""
        name = managed_by.name
        return _policy_text(f"auto-{managed_by.service}-2", [
            {"Sid": f"Allow access through {name} for all principals in the account that are authorized to use {name}",
             "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": _AWS_MANAGED_ACTIONS, "Resource": "*",
             "Condition": {"StringEquals": {"kms:CallerAccount": self.account_id,
                                            "kms:ViaService": f"{managed_by.service}.{self.region}.amazonaws.com"}}},
            {"Sid": "Allow direct access to key metadata to the account", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{self.account_id}:root"},
             "Action": ["kms:Describe*", "kms:Get*", "kms:List*"], "Resource": "*"}])

    def _shown(self, given: str) -> str:
        return given if given.startswith("arn:") else self.arn(given)

    def _sealer(self, key_id: str) -> Seal:
        """What seals fresh material of the key for the version the store gives it."""
        return lambda version: self._master_key.seal(os.urandom(MATERIAL_BYTES), _seal_context(key_id, version))

    def _material(self, key: KmsKey, version: int) -> bytes:
        material = self.keys.material(key.key_id, version)
        if material is None:
            raise InvalidCiphertextException("")
        try:
            return self._master_key.unseal(material.sealed, _seal_context(key.key_id, version))
        except SealBroken:
            raise KMSInternalException(f"The material of {key.arn} does not unseal under this server's master "
                                       "key.") from None


def material_id(key_id: str, version: int) -> str:
    """The KeyMaterialId KMS names a version of a key's material by (64 hex digits)."""
    return hashlib.sha256(_seal_context(key_id, version)).hexdigest()


def _seal_context(key_id: str, version: int) -> bytes:
    return f"{key_id}/{version}".encode()


def _is_key_id(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def _split(blob: bytes) -> tuple[bytes, bytes, bytes]:
    """A blob's header, nonce and sealed text; InvalidCiphertextException if it is no blob of ours."""
    start = _HEADER.size + _NONCE_BYTES
    if len(blob) < start + _TAG_BYTES or blob[0] != _FORMAT or not _is_key_id(blob[1:37].decode("latin-1")):
        raise InvalidCiphertextException("")
    return blob[:_HEADER.size], blob[_HEADER.size:start], blob[start:]


def _aad(header: bytes, context: Mapping[str, str] | None) -> bytes:
    canonical = json.dumps(dict(sorted((context or {}).items())), separators=(",", ":"), ensure_ascii=False)
    return header + canonical.encode()


def _policy_text(policy_id: str, statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Id": policy_id, "Statement": statements}, indent=2)
