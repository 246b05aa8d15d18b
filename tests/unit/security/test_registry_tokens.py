"""ECR authorization tokens: the server's MAC over whose token it is and until when; nothing else verifies."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from datetime import timedelta

import pytest

from modelbay.security.master_key import MasterKey
from modelbay.security.registry_tokens import RegistryToken, TokenRefused, issue, verify
from tests.helpers import T0

RAW_KEY = os.urandom(32)
KEY = MasterKey(RAW_KEY)
EXPIRES = T0 + timedelta(hours=12)


def test_a_token_names_its_access_key_and_expiry_and_verifies_until_then() -> None:
    password = issue(KEY, "AKIDTEST", EXPIRES)
    assert password.startswith(f"AKIDTEST.{int(EXPIRES.timestamp())}.")
    assert verify(KEY, password, T0) == RegistryToken("AKIDTEST", EXPIRES)
    restarted = MasterKey(RAW_KEY)  # a server started again on the same master key
    assert verify(restarted, password, EXPIRES - timedelta(seconds=1)).access_key_id == "AKIDTEST"
    with pytest.raises(TokenRefused, match="expired at 2026-01-02T00:00:00"):
        verify(KEY, password, EXPIRES)


@pytest.mark.parametrize("forge", [
    lambda password: password.replace("AKIDTEST", "AKIDOTHER", 1),  # another key's name
    lambda password: password.replace(str(int(EXPIRES.timestamp())), str(int(EXPIRES.timestamp()) + 3600), 1),
    lambda password: password[:-2] + ("AA" if password[-2:] != "AA" else "BB"),  # another MAC
    lambda password: issue(MasterKey(os.urandom(32)), "AKIDTEST", EXPIRES),  # another server's
    lambda password: "a random password", lambda password: "", lambda password: "é.²." + password.split(".")[-1]])
def test_a_forged_or_malformed_password_is_refused(forge: Callable[[str], str]) -> None:
    with pytest.raises(TokenRefused, match="not an authorization token of this server's"):
        verify(KEY, forge(issue(KEY, "AKIDTEST", EXPIRES)), T0)


def test_a_mac_the_master_key_made_for_another_purpose_is_refused() -> None:
    claims = f"AKIDTEST.{int(EXPIRES.timestamp())}"
    other = base64.urlsafe_b64encode(KEY.mac(claims.encode(), b"another purpose")).decode().rstrip("=")
    with pytest.raises(TokenRefused):
        verify(KEY, f"{claims}.{other}", T0)
