"""The registry's routes answer in the OCI error shape whatever happens."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from modelbay.api import registry
from modelbay.config import Settings
from modelbay.platform import Regions

pytestmark = pytest.mark.anyio


async def test_a_bug_answers_the_specs_error_shape_not_a_bare_500(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(registry, "_dispatch", broken)
    regions = Regions(Settings(data_dir=tmp_path))
    app = Starlette(routes=registry.registry_routes(regions))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://modelbay") as client:
            answer = await client.get("/v2/repo/tags/list", auth=("AWS", "token"))
    finally:
        regions.close()
    assert answer.status_code == 500
    assert answer.json()["errors"][0]["code"] == "UNKNOWN" and "a bug" not in answer.text
