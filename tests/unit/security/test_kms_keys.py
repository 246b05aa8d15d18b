"""The KMS key ring over a real SQLite metadata store: envelope encryption, sealed material, rotation, key states."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from modelbay.errors import AwsError
from modelbay.security.kms_keys import AWS_MANAGED, KeyRing, material_id
from modelbay.security.master_key import MasterKey
from modelbay.store.metadata import MetadataStore, open_metadata_store
from modelbay.store.metadata.kms import AWS, DISABLED, ENABLED, PENDING_DELETION, KmsKeyMaterialRow
from tests.helpers import T0, SetClock

ACCOUNT, REGION = "123456789012", "eu-west-1"


@pytest.fixture
def clock() -> SetClock[datetime]:
    return SetClock(T0)


@pytest.fixture
def store(tmp_path: Path, clock: SetClock[datetime]) -> Iterator[MetadataStore]:
    store = open_metadata_store(f"sqlite:///{tmp_path / 'metadata.db'}", clock=clock)
    yield store
    store.close()


@pytest.fixture
def master_key() -> MasterKey:
    return MasterKey(os.urandom(32))


@pytest.fixture
def ring(store: MetadataStore, master_key: MasterKey) -> KeyRing:
    return KeyRing(store.kms, master_key, ACCOUNT, REGION)


def error(call: object, *args: object, **kwargs: object) -> tuple[str, str]:
    with pytest.raises(AwsError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value.code, info.value.message


def version_of(blob: bytes) -> int:
    """The material version a ciphertext blob names (bytes 37-40 of its header)."""
    return int.from_bytes(blob[37:41], "big")


def test_a_blob_decrypts_with_its_context_only(ring: KeyRing) -> None:
    key = ring.create_key("data")
    encrypted = ring.encrypt(key.key_id, b"secret", {"purpose": "test", "bucket": "b"})
    assert b"secret" not in encrypted.ciphertext_blob
    assert ring.decrypt(encrypted.ciphertext_blob, {"bucket": "b", "purpose": "test"}).plaintext == b"secret"
    assert error(ring.decrypt, encrypted.ciphertext_blob, {"purpose": "other", "bucket": "b"})[0] == \
        "InvalidCiphertextException"
    assert error(ring.decrypt, encrypted.ciphertext_blob)[0] == "InvalidCiphertextException"


@pytest.mark.parametrize("damage", [
    lambda blob: blob[:-1] + bytes([blob[-1] ^ 1]),  # the tag
    lambda blob: blob[:20],  # too short
    lambda blob: b"\x02" + blob[1:],  # another format
    lambda blob: blob[:1] + b"not a key id, but 36 bytes long....." + blob[37:],
])
def test_altered_blobs_are_invalid_ciphertext(ring: KeyRing, damage: object) -> None:
    blob = ring.encrypt(ring.create_key().key_id, b"secret").ciphertext_blob
    assert error(ring.decrypt, damage(blob))[0] == "InvalidCiphertextException"  # type: ignore[operator]


def test_a_blob_of_one_key_does_not_decrypt_as_another(ring: KeyRing) -> None:
    """The key id is in the associated data: a blob whose header names another key fails its tag."""
    first, second = ring.create_key(), ring.create_key()
    blob = ring.encrypt(first.key_id, b"secret").ciphertext_blob
    forged = blob[:1] + second.key_id.encode() + blob[37:]
    assert error(ring.decrypt, forged)[0] == "InvalidCiphertextException"
    code, message = error(ring.decrypt, blob, None, second.key_id)
    assert code == "IncorrectKeyException" and "does not identify a KMS key" in message


def test_material_is_stored_sealed_under_the_master_key(store: MetadataStore, ring: KeyRing,
                                                        master_key: MasterKey) -> None:
    key = ring.create_key()
    blob = ring.encrypt(key.key_id, b"secret").ciphertext_blob
    with store.db.read() as session:
        sealed = session.get(KmsKeyMaterialRow, (key.key_id, 1)).sealed  # type: ignore[union-attr]
    material = master_key.unseal(sealed, f"{key.key_id}/1".encode())
    assert len(material) == 32 and material not in sealed
    other_server = KeyRing(store.kms, MasterKey(os.urandom(32)), ACCOUNT, REGION)
    code, message = error(other_server.decrypt, blob)
    assert code == "KMSInternalException" and "master key" in message


def test_keys_are_found_by_id_arn_alias_and_alias_arn(store: MetadataStore, ring: KeyRing) -> None:
    key = ring.create_key()
    store.kms.create_alias("alias/data", key.key_id)
    for name in (key.key_id, key.arn, "alias/data", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/data"):
        assert ring.key_arn(name) == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key.key_id}"
    assert error(ring.find, "alias/none") == ("NotFoundException",
                                              f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/none is not found.")
    assert error(ring.find, "nonsense") == ("NotFoundException", "Invalid keyId nonsense")
    missing = "11111111-2222-3333-4444-555555555555"
    assert error(ring.find, missing) == ("NotFoundException",
                                         f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist")


def test_rotation_is_done_once_when_due_and_old_versions_still_decrypt(store: MetadataStore, ring: KeyRing,
                                                                     clock: SetClock[datetime]) -> None:
    key = ring.create_key()
    store.kms.set_rotation(key.key_id, 365)
    old = ring.encrypt(key.key_id, b"before").ciphertext_blob
    clock.now += timedelta(days=364)
    assert version_of(ring.encrypt(key.key_id, b"x").ciphertext_blob) == 1
    clock.now += timedelta(days=1)
    new = ring.encrypt(key.key_id, b"after").ciphertext_blob
    assert version_of(old) == 1 and version_of(new) == 2
    assert version_of(ring.encrypt(key.key_id, b"again").ciphertext_blob) == 2
    rotated = ring.find(key.key_id)
    assert rotated.material_version == 2 and rotated.next_rotation == clock.now + timedelta(days=365)
    assert ring.decrypt(old).plaintext == b"before" and ring.decrypt(new).plaintext == b"after"
    assert ring.decrypt(new).version == 2


def test_a_disabled_key_is_not_rotated(store: MetadataStore, ring: KeyRing, clock: SetClock[datetime]) -> None:
    key = ring.create_key()
    store.kms.set_rotation(key.key_id, 90)
    store.kms.move(key.key_id, DISABLED, (ENABLED,))
    clock.now += timedelta(days=91)
    assert ring.find(key.key_id).material_version == 1
    store.kms.move(key.key_id, ENABLED, (DISABLED,))
    assert ring.find(key.key_id).material_version == 2  # due while disabled: rotated at its first use after


def test_rotating_on_demand_adds_a_version(ring: KeyRing) -> None:
    key = ring.create_key()
    old = ring.encrypt(key.key_id, b"before").ciphertext_blob
    ring.rotate_now(key)
    assert version_of(ring.encrypt(key.key_id, b"after").ciphertext_blob) == 2
    assert ring.decrypt(old).plaintext == b"before"


def test_key_states_refuse_use_with_kms_errors(store: MetadataStore, ring: KeyRing,
                                              clock: SetClock[datetime]) -> None:
    key = ring.create_key()
    blob = ring.encrypt(key.key_id, b"secret").ciphertext_blob
    store.kms.move(key.key_id, DISABLED, (ENABLED,))
    assert error(ring.encrypt, key.key_id, b"x") == ("DisabledException", f"{key.arn} is disabled.")
    assert error(ring.decrypt, blob) == ("DisabledException", f"{key.arn} is disabled.")
    store.kms.move(key.key_id, PENDING_DELETION, (DISABLED,), deletion_date=clock.now + timedelta(days=7),
                   pending_window_days=7)
    assert error(ring.require_usable, key.key_id) == ("KMSInvalidStateException", f"{key.arn} is pending deletion.")
    clock.now += timedelta(days=7)
    assert error(ring.find, key.key_id)[0] == "NotFoundException"
    assert store.kms.get_key(key.key_id) is None and store.kms.material(key.key_id, 1) is None


def test_data_keys_decrypt_to_the_same_plaintext(ring: KeyRing) -> None:
    key = ring.create_key()
    data_key = ring.generate_data_key(key.arn, {"bucket": "b"})
    assert len(data_key.plaintext) == 32 and data_key.key_arn == key.arn
    assert data_key.plaintext.hex() not in repr(data_key)
    assert ring.decrypt_data_key(data_key.ciphertext_blob, {"bucket": "b"}) == data_key
    assert ring.blob_key_arn(data_key.ciphertext_blob) == key.arn
    assert error(ring.blob_key_arn, b"garbage")[0] == "InvalidCiphertextException"
    assert ring.require_usable(key.key_id) == key.arn


def test_aws_managed_keys_are_made_once_on_first_use(store: MetadataStore, ring: KeyRing) -> None:
    assert store.kms.alias("alias/aws/s3") is None
    data_key = ring.generate_data_key("alias/aws/s3")
    key = ring.find("alias/aws/s3")
    assert data_key.key_arn == key.arn and key.key_manager == AWS and key.rotation_period_days == 365
    assert key.description == AWS_MANAGED["alias/aws/s3"].description
    assert f"s3.{REGION}.amazonaws.com" in key.policy
    assert ring.key_arn(f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/s3") == key.arn
    assert len(store.kms.keys().items) == 1


def test_material_ids_are_64_hex_digits_per_version() -> None:
    first, second = material_id("k", 1), material_id("k", 2)
    assert len(first) == 64 and int(first, 16) >= 0 and first != second
