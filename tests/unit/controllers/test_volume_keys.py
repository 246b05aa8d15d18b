"""An instance's volume key: a fresh KMS data key of the length fscrypt needs, none without a key id, and a clear
preparation failure for a key that cannot be used."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelbay.config import Settings
from modelbay.controllers.staging import StagingError
from modelbay.controllers.volume_keys import volume_key
from modelbay.platform import Platform, open_platform
from modelbay.runtime.volume_encryption import KEY_BYTES


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    return open_platform(Settings(data_dir=tmp_path))


def test_each_instance_gets_a_fresh_key_of_its_own(platform: Platform) -> None:
    key_id = platform.kms.create_key().key_id
    first, second = (volume_key(platform, key_id, "ResourceConfig.VolumeKmsKeyId") for _ in range(2))
    assert first is not None and second is not None
    assert len(first) == len(second) == KEY_BYTES and first != second
    assert volume_key(platform, None, "KmsKeyId") is None and volume_key(platform, "", "KmsKeyId") is None


def test_a_key_that_cannot_be_used_fails_the_preparation_naming_the_member(platform: Platform) -> None:
    with pytest.raises(StagingError) as failed:
        volume_key(platform, "alias/gone", "KmsKeyId")
    assert str(failed.value) == ("ClientError: KmsKeyId: the KMS key 'alias/gone' cannot be used: Alias "
                                 "arn:aws:kms:us-east-1:000000000000:alias/gone is not found.")
