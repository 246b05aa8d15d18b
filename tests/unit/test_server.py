"""The server's TLS settings (which certificate it serves), what it tells a person about them, where instances
reach the API when its port speaks TLS, and how soon a server asked to stop does."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from modelbay import server
from modelbay.config import Settings
from modelbay.security.tls import TlsFiles, TlsMisconfigured, self_signed
from modelbay.server import announcement, bind, instance_api, tls_files


def test_without_tls_settings_the_server_speaks_plain_http(tmp_path: Path) -> None:
    assert tls_files(Settings(data_dir=tmp_path)) is None


def test_the_operators_certificate_and_key_are_served_as_given(tmp_path: Path) -> None:
    made = self_signed(tmp_path / "made", "127.0.0.1")
    files = tls_files(Settings(data_dir=tmp_path, tls_cert=made.certificate, tls_key=made.private_key))
    assert files is not None
    assert (files.certificate, files.private_key, files.ca_bundle) == (made.certificate, made.private_key, None)


@pytest.mark.parametrize("given", [{"tls_cert"}, {"tls_key"}, {"tls_cert", "tls_key", "tls_self_signed"}])
def test_a_certificate_without_its_key_or_with_self_signed_is_refused(tmp_path: Path, given: set[str]) -> None:
    made = self_signed(tmp_path / "made", "127.0.0.1")
    settings = {"tls_cert": made.certificate, "tls_key": made.private_key, "tls_self_signed": True}
    with pytest.raises(TlsMisconfigured, match="together"):
        tls_files(Settings(data_dir=tmp_path, **{name: settings[name] for name in given}))  # type: ignore[arg-type]


def test_a_key_that_is_not_the_certificates_or_a_missing_file_is_refused_before_serving(tmp_path: Path) -> None:
    first, other = self_signed(tmp_path / "first", "127.0.0.1"), self_signed(tmp_path / "other", "127.0.0.1")
    with pytest.raises(TlsMisconfigured, match="cannot serve"):
        tls_files(Settings(data_dir=tmp_path, tls_cert=first.certificate, tls_key=other.private_key))
    with pytest.raises(TlsMisconfigured, match="cannot serve"):
        tls_files(Settings(data_dir=tmp_path, tls_cert=tmp_path / "absent.pem", tls_key=first.private_key))


def test_self_signed_makes_an_authority_in_the_data_directory(tmp_path: Path) -> None:
    files = tls_files(Settings(data_dir=tmp_path, host="127.0.0.1", tls_self_signed=True))
    assert files is not None and files.ca_bundle == tmp_path / "tls" / "ca.pem" and files.ca_bundle.exists()


def test_the_announcement_tells_how_to_trust_a_self_signed_server_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, host="127.0.0.1", tls_self_signed=True)
    files = tls_files(settings)
    said = announcement("https://127.0.0.1:8443", settings, files).splitlines()
    assert said[0] == "modelbay listening on https://127.0.0.1:8443"
    assert f"export AWS_CA_BUNDLE={tmp_path / 'tls' / 'ca.pem'}" in said[2]
    assert files is not None
    operators = announcement("https://127.0.0.1:8443", settings, TlsFiles(files.certificate, files.private_key))
    assert "AWS_CA_BUNDLE" not in operators and "AWS_CA_BUNDLE" not in announcement("http://127.0.0.1:1", settings)


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_instances_sharing_the_hosts_network_reach_a_tls_server_in_plain_http_on_a_loopback_port(
        tmp_path: Path, host: str) -> None:
    """The server's own port speaks TLS, which instances' plain HTTP does not: they get a port of their own."""
    settings, sockets = instance_api(Settings(data_dir=tmp_path, instance_networks=False), host, 8443, tls=True)
    try:
        [sock] = sockets
        address, port = sock.getsockname()[:2]
        assert (address, settings.instance_api_url) == ("127.0.0.1", f"http://127.0.0.1:{port}")
        assert port != 8443
    finally:
        for sock in sockets:
            sock.close()
    plain, none = instance_api(Settings(data_dir=tmp_path, instance_networks=False), host, 8080)
    assert (plain.instance_api_url, none) == ("http://127.0.0.1:8080", [])
    given = Settings(data_dir=tmp_path, instance_api_url="http://api.example:1")
    assert instance_api(given, host, 8443, tls=True) == (given, [])


async def _no_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise AssertionError("nothing is asked of it")


def test_a_server_asked_to_stop_from_another_thread_stops_at_once_not_at_its_next_tick(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A server ticks once a second; asking it to stop wakes the tick (here a minute apart, so only that ends it)."""
    monkeypatch.setattr(server, "TICK_S", 60.0)
    companion = server._Companion(uvicorn.Config(_no_app, lifespan="off", log_level="warning"))

    async def serve_then_stop() -> None:
        with bind("127.0.0.1", 0) as sock:
            serving = asyncio.create_task(companion.serve(sockets=[sock]))
            while not companion.started:
                await asyncio.sleep(0.01)
            asker = threading.Thread(target=setattr, args=(companion, "should_exit", True))
            asker.start()
            await asyncio.wait_for(serving, 30)
            asker.join()

    asyncio.run(serve_then_stop())
    assert companion.should_exit
