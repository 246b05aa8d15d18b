"""The KMS repository on every backend: keys and their material versions, states, aliases, grants, deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modelbay.store.metadata import MetadataStore
from modelbay.store.metadata.kms import (
    AUTOMATIC,
    DISABLED,
    ENABLED,
    ON_DEMAND,
    PENDING_DELETION,
    AliasNotFound,
    KeyNotFound,
    NewKey,
    Seal,
)
from modelbay.store.metadata.paging import InvalidToken
from modelbay.store.metadata.records import RecordExists, StatusConflict
from tests.helpers import Clock

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_ID = "0987dcba-09fe-87dc-65ba-ab0987654321"


def new_key(key_id: str = KEY_ID, **extra: object) -> NewKey:
    return NewKey(key_id, f"arn:aws:kms:us-east-1:000000000000:key/{key_id}", "a key", "{}", **extra)  # type: ignore[arg-type]


def seal(key_id: str = KEY_ID) -> Seal:
    """Stands for the master key: a different value per key and version."""
    return lambda version: f"sealed {key_id} {version}".encode()


def test_a_key_is_created_enabled_with_version_one_of_its_material(store: MetadataStore) -> None:
    key = store.kms.create_key(new_key(), seal())
    assert (key.state, key.material_version, key.rotation_period_days, key.next_rotation) == (ENABLED, 1, None, None)
    material = store.kms.material(KEY_ID, 1)
    assert material is not None and material.sealed == b"sealed 1234abcd-12ab-34cd-56ef-1234567890ab 1"
    assert material.rotation_type is None and material.rotation_date == key.creation_date
    assert store.kms.get_key(KEY_ID) == key and store.kms.get_key(OTHER_ID) is None


def test_a_key_created_with_a_taken_alias_is_not_written(store: MetadataStore) -> None:
    store.kms.create_key(new_key(), seal(), alias="alias/aws/s3")
    with pytest.raises(RecordExists):
        store.kms.create_key(new_key(OTHER_ID), seal(OTHER_ID), alias="alias/aws/s3")
    assert store.kms.get_key(OTHER_ID) is None and store.kms.material(OTHER_ID, 1) is None
    assert store.kms.alias("alias/aws/s3").key_id == KEY_ID  # type: ignore[union-attr]


def test_moves_are_checked_against_the_current_state(store: MetadataStore, clock: Clock) -> None:
    store.kms.create_key(new_key(), seal())
    deletion = clock.now + timedelta(days=7)
    key = store.kms.move(KEY_ID, PENDING_DELETION, (ENABLED, DISABLED), deletion_date=deletion,
                         pending_window_days=7)
    assert (key.state, key.deletion_date, key.pending_window_days) == (PENDING_DELETION, deletion, 7)
    with pytest.raises(StatusConflict) as info:
        store.kms.move(KEY_ID, ENABLED, (ENABLED, DISABLED))
    assert info.value.status == PENDING_DELETION
    key = store.kms.move(KEY_ID, DISABLED, (PENDING_DELETION,))
    assert (key.state, key.deletion_date, key.pending_window_days) == (DISABLED, None, None)
    with pytest.raises(KeyNotFound):
        store.kms.move(OTHER_ID, ENABLED, (DISABLED,))


def test_automatic_rotation_happens_once_when_due(store: MetadataStore, clock: Clock) -> None:
    store.kms.create_key(new_key(), seal())
    key = store.kms.set_rotation(KEY_ID, 90)
    assert key.next_rotation is not None and key.rotation_period_days == 90
    assert not store.kms.rotate_if_due(KEY_ID, seal())
    clock.now = key.next_rotation
    assert store.kms.rotate_if_due(KEY_ID, seal())
    assert not store.kms.rotate_if_due(KEY_ID, seal())
    rotated = store.kms.get_key(KEY_ID)
    assert rotated is not None and rotated.material_version == 2
    assert rotated.next_rotation is not None and rotated.next_rotation - key.next_rotation > timedelta(days=89)
    assert store.kms.material(KEY_ID, 2).rotation_type == AUTOMATIC  # type: ignore[union-attr]
    assert store.kms.set_rotation(KEY_ID, None).next_rotation is None


def test_on_demand_rotations_and_the_listing_of_versions(store: MetadataStore) -> None:
    store.kms.create_key(new_key(), seal())
    for _ in range(3):
        store.kms.rotate_on_demand(KEY_ID, seal())
    assert store.kms.get_key(KEY_ID).material_version == 4  # type: ignore[union-attr]
    first = store.kms.materials(KEY_ID, limit=2, from_version=2)
    assert [m.version for m in first.items] == [2, 3] and first.next_token is not None
    rest = store.kms.materials(KEY_ID, first.next_token, limit=2, from_version=2)
    assert [(m.version, m.rotation_type) for m in rest.items] == [(4, ON_DEMAND)] and rest.next_token is None
    assert [m.version for m in store.kms.materials(KEY_ID).items] == [1, 2, 3, 4]
    with pytest.raises(InvalidToken):
        store.kms.materials(KEY_ID, first.next_token)  # a token of the rotations-only listing


def test_keys_page_in_creation_order(store: MetadataStore) -> None:
    ids = [f"{n:08d}-0000-0000-0000-000000000000" for n in range(3)]
    for key_id in ids:
        store.kms.create_key(new_key(key_id), seal(key_id))
    page = store.kms.keys(limit=2)
    assert [k.key_id for k in page.items] == ids[:2]
    assert [k.key_id for k in store.kms.keys(page.next_token, limit=2).items] == ids[2:]
    with pytest.raises(InvalidToken):
        store.kms.keys("not-a-token")


def test_aliases_are_created_retargeted_listed_and_deleted(store: MetadataStore) -> None:
    store.kms.create_key(new_key(), seal())
    store.kms.create_key(new_key(OTHER_ID), seal(OTHER_ID))
    created = store.kms.create_alias("alias/a", KEY_ID)
    store.kms.create_alias("alias/b", KEY_ID)
    with pytest.raises(RecordExists):
        store.kms.create_alias("alias/a", OTHER_ID)
    moved = store.kms.retarget_alias("alias/a", OTHER_ID)
    assert moved.key_id == OTHER_ID and moved.last_updated > created.last_updated
    assert [a.name for a in store.kms.aliases(KEY_ID).items] == ["alias/b"]
    assert [a.name for a in store.kms.aliases().items] == ["alias/a", "alias/b"]
    store.kms.delete_alias("alias/a")
    assert store.kms.alias("alias/a") is None
    for change in (lambda: store.kms.delete_alias("alias/a"), lambda: store.kms.retarget_alias("alias/a", KEY_ID)):
        with pytest.raises(AliasNotFound):
            change()


def test_grants_are_recorded_found_and_deleted(store: MetadataStore) -> None:
    store.kms.create_key(new_key(), seal())
    role = "arn:aws:iam::000000000000:role/sagemaker"
    grant = store.kms.create_grant(KEY_ID, role, ["Decrypt", "GenerateDataKey"], name="volume",
                                   constraints={"EncryptionContextSubset": {"job": "j"}},
                                   issuing_account="000000000000")
    other = store.kms.create_grant(KEY_ID, "arn:aws:iam::000000000000:user/u", ["Encrypt"],
                                   issuing_account="000000000000")
    assert len(grant.grant_id) == 64 and grant.token != other.token
    assert store.kms.grants(KEY_ID, grantee=role).items == [grant]
    assert store.kms.grants(KEY_ID, grant_id=other.grant_id).items == [other]
    assert store.kms.grant_by_token(grant.token) == grant and store.kms.grant_by_token("nope") is None
    assert store.kms.delete_grant(KEY_ID, grant.grant_id)
    assert not store.kms.delete_grant(KEY_ID, grant.grant_id)
    assert store.kms.grants(KEY_ID).items == [other]


def test_keys_due_for_deletion_go_with_everything_of_theirs(store: MetadataStore, clock: Clock) -> None:
    key = store.kms.create_key(new_key(), seal())
    store.kms.create_key(new_key(OTHER_ID), seal(OTHER_ID))
    store.kms.rotate_on_demand(KEY_ID, seal())
    store.kms.create_alias("alias/doomed", KEY_ID)
    store.kms.create_grant(KEY_ID, "arn:aws:iam::000000000000:root", ["Decrypt"], issuing_account="000000000000")
    store.tags.add(key.arn, [("team", "ml")])
    store.kms.move(KEY_ID, PENDING_DELETION, (ENABLED,), deletion_date=clock.now + timedelta(days=7),
                   pending_window_days=7)
    assert store.kms.delete_due() == []
    clock.now += timedelta(days=7)
    assert store.kms.delete_due() == [KEY_ID]
    assert store.kms.get_key(KEY_ID) is None and store.kms.materials(KEY_ID).items == []
    assert store.kms.alias("alias/doomed") is None and store.kms.grants(KEY_ID).items == []
    assert store.tags.count(key.arn) == 0
    assert store.kms.get_key(OTHER_ID) is not None
