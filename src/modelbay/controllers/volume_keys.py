"""The key of an instance's encrypted scratch volume: a KMS data key made when the instance is prepared.

A job's VolumeKmsKeyId (an endpoint config's KmsKeyId) asks that its instances' volumes be encrypted under that
KMS key. Each instance gets a fresh data key under it, generated as the instance is prepared, and only the key's
plaintext is kept: the runtime encrypts the volume with it and forgets it (runtime/volume_encryption.py). A
volume lives no longer than its instance, so nothing ever needs the key again, and its encrypted copy is not
stored. The service checked the key when the request was made; one disabled or deleted since fails the
preparation with a reason that names it.
"""

from __future__ import annotations

from modelbay.controllers.staging import StagingError
from modelbay.errors import AwsError
from modelbay.platform import Platform
from modelbay.runtime.volume_encryption import KEY_BYTES


def volume_key(platform: Platform, key_id: str | None, member: str) -> bytes | None:
    """A fresh data key for one instance's scratch volume under the KMS key `key_id` of the request's `member`;
    None when it names none (the volume is not encrypted). Raise StagingError when the key cannot be used."""
    if not key_id:
        return None
    try:
        return platform.kms.generate_data_key(key_id, number_of_bytes=KEY_BYTES).plaintext
    except AwsError as error:
        raise StagingError(f"ClientError: {member}: the KMS key '{key_id}' cannot be used: {error.message}") from error
