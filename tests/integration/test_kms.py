"""KMS on a real server: boto3 and the AWS CLI encrypt with a key, and decrypt what the other encrypted."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import client
from tests.helpers import user_shell
from tests.integration.test_aws_cli import ok


def test_boto3_and_the_aws_cli_share_keys_and_ciphertexts(server: Any, unique: str, tmp_path: Path) -> None:
    kms = client(server.url, "kms")
    key = kms.create_key(Description=unique)["KeyMetadata"]
    kms.create_alias(AliasName=f"alias/{unique}", TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId=f"alias/{unique}", Plaintext=b"from boto3",
                       EncryptionContext={"test": unique})["CiphertextBlob"]
    env = user_shell(server.url, tmp_path)
    (tmp_path / "blob").write_bytes(blob)
    decrypted = json.loads(ok(env, "kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}",
                              "--encryption-context", f"test={unique}"))
    assert base64.b64decode(decrypted["Plaintext"]) == b"from boto3" and decrypted["KeyId"] == key["Arn"]
    (tmp_path / "plain").write_bytes(b"from the CLI")
    encrypted = json.loads(ok(env, "kms", "encrypt", "--key-id", key["Arn"], "--plaintext",
                              f"fileb://{tmp_path / 'plain'}"))
    assert kms.decrypt(CiphertextBlob=base64.b64decode(encrypted["CiphertextBlob"]))["Plaintext"] == b"from the CLI"
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(kms.exceptions.DisabledException) as info:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert info.value.response["Error"]["Message"] == f"{key['Arn']} is disabled."
