"""The SDK's unit tests run against offline clients (offline.py) and wait without pausing."""

from __future__ import annotations

import pytest

from modelbay.sdk import waiting
from tests.unit.sdk.offline import OfflineSession


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> OfflineSession:
    monkeypatch.setattr(waiting, "POLL_S", 0.001)
    return OfflineSession()
