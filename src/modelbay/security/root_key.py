"""The account root's access key: made by the server on its first start in `iam` mode, kept in the data directory.

The file (Settings.root_key_file, mode 0600) is the one way in to a new account, as an AWS account's root
credentials are: `modelbay env` and `modelbay configure` hand it to the local user, who makes IAM users and their
keys with it. A file already there is kept (an operator may write their own before the first start).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from modelbay.security.private_files import create_private, read_private

_KEY_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # IAM's: base32


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str = field(repr=False)

    def __iter__(self) -> Iterator[str]:  # key_id, secret = new_access_key(...)
        return iter((self.access_key_id, self.secret_access_key))


def ensure_root_key(path: Path) -> AccessKey:
    """The root key in the file at `path`, made now if there is none."""
    create_private(path, json.dumps(_as_json(new_access_key("AKIA"))) + "\n")
    return read_root_key(path)


def read_root_key(path: Path) -> AccessKey:
    """The key a root key file holds; ValueError if it is not one, PermissionError if others may read it."""
    try:
        found = json.loads(read_private(path))
        return AccessKey(found["AccessKeyId"], found["SecretAccessKey"])
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path} is not a root access key file: it should hold "
                         '{"AccessKeyId": "...", "SecretAccessKey": "..."}') from None


def write_root_key(path: Path, key: AccessKey) -> bool:
    """Give the account this root key before the server's first start (False if there is one already)."""
    return create_private(path, json.dumps(_as_json(key)) + "\n")


def new_access_key(prefix: str) -> AccessKey:
    """A new key pair as IAM makes them: `prefix` (AKIA, ASIA) and 16 base32 characters; a 40-character secret."""
    key_id = prefix + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
    return AccessKey(key_id, secrets.token_urlsafe(30)[:40])


def _as_json(key: AccessKey) -> dict[str, str]:
    return {"AccessKeyId": key.access_key_id, "SecretAccessKey": key.secret_access_key}
