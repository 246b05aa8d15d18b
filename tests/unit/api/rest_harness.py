"""REST codecs in a tiny app whose fake service runs in a worker thread, as the pipeline runs services
(a streaming Body is read from there), driven in-process through httpx, or served by uvicorn on a
free loopback port, over TLS if asked, for real boto3 clients."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import boto3
import httpx
import uvicorn
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelbay.api.expect_continue import CloseWhenBodyHeldBack
from modelbay.api.protocol import Call, Codec
from modelbay.errors import AwsError
from tests.unit.api.codec_harness import REQUEST_ID, URL

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]
Answer = Mapping[str, Any] | AwsError | Callable[[dict[str, Any]], Mapping[str, Any]]


class Service:
    """Records each call and answers with what `answers` holds for its operation: an error to raise
    (at once), an output or a function of the params (once a streaming Body is read to its end: its
    bytes and checksums are recorded, an error it raises is the answer)."""

    def __init__(self, answers: Mapping[str, Answer] | None = None) -> None:
        self.answers = dict(answers or {})
        self.calls: list[Call] = []
        self.bodies: list[bytes] = []
        self.checksums: list[dict[str, str]] = []

    def __call__(self, call: Call) -> Mapping[str, Any]:
        self.calls.append(call)
        answer = self.answers.get(call.operation.name, {})
        if isinstance(answer, AwsError):
            raise answer  # before reading the body, as a service that finds no bucket does
        for value in call.params.values():
            if hasattr(value, "checksums"):
                self.bodies.append(value.read())
                self.checksums.append(value.checksums)
        return answer(call.params) if callable(answer) else answer


def rest_app(codec: Codec, service: Service) -> Starlette:
    async def endpoint(request: Request) -> Response:
        try:
            call = await codec.parse(request)
            output = await anyio.to_thread.run_sync(service, call)
            return codec.respond(call.operation, output, None, REQUEST_ID)
        except AwsError as error:
            return codec.respond_error(error, REQUEST_ID)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=METHODS)],
                     middleware=[Middleware(CloseWhenBodyHeldBack)])


def http_client(codec: Codec, service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=rest_app(codec, service)), base_url=URL)


@contextmanager
def served(app: Starlette, certificate: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free loopback port (HTTPS with a (cert, key) pair);
    yield its URL. The socket listens before the server starts, so clients may connect at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    tls = {"ssl_certfile": str(certificate[0]), "ssl_keyfile": str(certificate[1])} if certificate else {}
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", http="httptools", **tls))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if certificate else 'http'}://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own authority, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def boto3_client(service: str, url: str, verify: Path | None = None) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIDTEST",
                        aws_secret_access_key="secret", verify=str(verify) if verify else None,
                        config=Config(retries={"max_attempts": 1}))
