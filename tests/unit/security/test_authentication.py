"""Authentication: which principal a key stands for, in `open` and `iam` mode, with the errors each API answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelbay.config import Settings
from modelbay.errors import AwsError
from modelbay.platform import Platform, open_platform
from modelbay.security import sessions
from modelbay.security.authentication import Authenticator
from modelbay.security.principal import ASSUMED_ROLE, IAM_USER, ROOT, Principal
from modelbay.security.root_key import AccessKey
from modelbay.services.base import Context
from modelbay.services.iam import OPERATIONS as IAM
from modelbay.services.iam.roles import ensure_default_role

ROOT_KEY = AccessKey("AKIAROOTROOTROOTROOT", "root-secret")
ROLE = "arn:aws:iam::000000000000:role/SageMakerExecutionRole"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Platform]:
    platform = open_platform(Settings(data_dir=tmp_path, auth="iam"))
    yield platform
    platform.metadata.close()


def as_root(home: Platform) -> Context:
    return Context(home, "test", "us-east-1", Principal(ROOT_KEY.access_key_id, "000000000000"))


def user_key(home: Platform, name: str = "ana") -> dict[str, Any]:
    IAM["CreateUser"](as_root(home), {"UserName": name, "Tags": [{"Key": "team", "Value": "ml"}]})
    key: dict[str, Any] = IAM["CreateAccessKey"](as_root(home), {"UserName": name})["AccessKey"]
    return key


def refused(authenticator: Authenticator, key_id: str, token: str | None = None, service: str = "sagemaker") -> str:
    with pytest.raises(AwsError) as caught:
        authenticator.identify(key_id, token, service)
    return caught.value.code


def test_in_open_mode_any_key_is_the_account_root_and_nothing_is_verified(home: Platform) -> None:
    identity = Authenticator("open", home, None).identify("anything", None, "sagemaker")
    assert (identity.principal.kind, identity.principal.arn) == (ROOT, "arn:aws:iam::000000000000:root")
    assert identity.secret_access_key is None


def test_the_root_key_and_a_users_key_are_known_with_their_secrets(home: Platform) -> None:
    authenticator = Authenticator("iam", home, ROOT_KEY)
    root = authenticator.identify(ROOT_KEY.access_key_id, None, "sagemaker")
    assert (root.principal.kind, root.secret_access_key) == (ROOT, ROOT_KEY.secret_access_key)
    key = user_key(home)
    ana = authenticator.identify(key["AccessKeyId"], None, "sagemaker")
    assert (ana.principal.kind, ana.principal.arn, ana.principal.tags) == (
        IAM_USER, "arn:aws:iam::000000000000:user/ana", (("team", "ml"),))
    assert ana.secret_access_key == key["SecretAccessKey"]


def test_an_unknown_key_is_refused_in_each_apis_words(home: Platform) -> None:
    authenticator = Authenticator("iam", home, ROOT_KEY)
    assert refused(authenticator, "AKIANOBODY") == "UnrecognizedClientException"
    assert refused(authenticator, "AKIANOBODY", service="s3") == "InvalidAccessKeyId"


def test_a_key_made_inactive_is_refused_at_once_though_it_was_cached(home: Platform) -> None:
    authenticator = Authenticator("iam", home, ROOT_KEY)
    key = user_key(home)
    authenticator.identify(key["AccessKeyId"], None, "sagemaker")
    IAM["UpdateAccessKey"](as_root(home), {"UserName": "ana", "AccessKeyId": key["AccessKeyId"],
                                           "Status": "Inactive"})
    assert refused(authenticator, key["AccessKeyId"]) == "UnrecognizedClientException"


def test_a_session_needs_its_token_and_ends_at_its_expiry(home: Platform) -> None:
    now = [datetime.now(UTC)]
    authenticator = Authenticator("iam", home, ROOT_KEY, clock=lambda: now[0])
    ensure_default_role(as_root(home))
    session = sessions.role_session(home, ROLE, "job", 900)
    assert session is not None
    identity = authenticator.identify(session.access_key_id, session.session_token, "sagemaker")
    assert (identity.principal.kind, identity.principal.arn) == (
        ASSUMED_ROLE, "arn:aws:sts::000000000000:assumed-role/SageMakerExecutionRole/job")
    assert refused(authenticator, session.access_key_id, None) == "UnrecognizedClientException"
    assert refused(authenticator, session.access_key_id, "not-its-token", "s3") == "InvalidToken"
    now[0] += timedelta(seconds=901)
    assert refused(authenticator, session.access_key_id, session.session_token) == "ExpiredTokenException"
    assert refused(authenticator, session.access_key_id, session.session_token, "s3") == "ExpiredToken"
