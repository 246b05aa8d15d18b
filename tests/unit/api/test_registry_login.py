"""`/v2/` takes the passwords of the server's own unexpired authorization tokens in `iam` mode, any in `open` mode."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from modelbay.api.registry import registry_routes
from modelbay.config import AUTH_IAM, AUTH_OPEN, Settings
from modelbay.platform import Regions
from modelbay.services.registry import authorization_token

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def registry(tmp_path: Path, auth: str) -> AsyncIterator[tuple[httpx.AsyncClient, Regions]]:
    regions = Regions(Settings(data_dir=tmp_path, auth=auth))
    app = Starlette(routes=registry_routes(regions))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://modelbay") as client:
            yield client, regions
    finally:
        regions.close()


def password(regions: Regions, expires_in: timedelta) -> str:
    token = authorization_token(regions.home, "AKIDTEST", datetime.now(UTC) + expires_in)
    return base64.b64decode(token).decode().removeprefix("AWS:")


async def test_in_iam_mode_only_the_servers_unexpired_tokens_log_in(tmp_path: Path) -> None:
    async with registry(tmp_path, AUTH_IAM) as (client, regions):
        assert (await client.get("/v2/", auth=("AWS", password(regions, timedelta(hours=12))))).status_code == 200
        for given, words in ((password(regions, -timedelta(seconds=1)), "expired at"),
                             (password(regions, timedelta(hours=12)).replace("AKIDTEST", "AKIDROOT"), "not an"),
                             ("any password", "not an authorization token")):
            answer = await client.get("/v2/", auth=("AWS", given))
            assert answer.status_code == 401 and words in answer.json()["errors"][0]["message"]
            assert answer.headers["WWW-Authenticate"].startswith("Basic ")


async def test_a_token_survives_a_restart_on_the_same_master_key(tmp_path: Path) -> None:
    async with registry(tmp_path, AUTH_IAM) as (_, regions):
        given = password(regions, timedelta(hours=12))
    async with registry(tmp_path, AUTH_IAM) as (client, _):
        assert (await client.get("/v2/", auth=("AWS", given))).status_code == 200


async def test_in_open_mode_any_password_logs_in_but_none_does_not(tmp_path: Path) -> None:
    async with registry(tmp_path, AUTH_OPEN) as (client, _):
        assert (await client.get("/v2/", auth=("AWS", "any password"))).status_code == 200
        assert (await client.get("/v2/")).status_code == 401
