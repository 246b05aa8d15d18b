"""--tls-self-signed: an authority of the server's own, a certificate for its names that an https client accepts."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from modelbay.security.tls import self_signed
from tests.helpers import free_port, wait_until


def test_the_certificate_names_the_machine_and_its_keys_are_private(tmp_path: Path) -> None:
    files = self_signed(tmp_path, "127.0.0.1")
    assert files.ca_bundle is not None
    context = ssl.create_default_context(cafile=str(files.ca_bundle))
    context.load_cert_chain(files.certificate, files.private_key)  # the key is the certificate's
    assert (tmp_path / "server-key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o777 == 0o600


def test_a_second_start_keeps_the_authority_and_remakes_the_certificate_only_when_names_change(tmp_path: Path) -> None:
    first = self_signed(tmp_path, "127.0.0.1")
    authority, certificate = first.ca_bundle.read_bytes(), first.certificate.read_bytes()  # type: ignore[union-attr]
    again = self_signed(tmp_path, "127.0.0.1")
    assert again.certificate.read_bytes() == certificate
    other = self_signed(tmp_path, "10.1.2.3")
    assert other.ca_bundle.read_bytes() == authority  # type: ignore[union-attr]
    assert other.certificate.read_bytes() != certificate


def test_an_https_client_trusting_the_authority_is_served(tmp_path: Path) -> None:
    files = self_signed(tmp_path, "127.0.0.1")
    app = Starlette(routes=[Route("/", lambda _: PlainTextResponse("hello"))])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                          ssl_certfile=str(files.certificate), ssl_keyfile=str(files.private_key)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 10, "server to start")
        trusting = ssl.create_default_context(cafile=str(files.ca_bundle))
        for host in ("127.0.0.1", "localhost"):
            assert httpx.get(f"https://{host}:{port}/", verify=trusting).text == "hello"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"https://127.0.0.1:{port}/")  # the system's authorities do not know it
    finally:
        server.should_exit = True
        thread.join(10)
