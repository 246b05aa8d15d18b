"""The edge agent: serves its models locally, applies the deployments the server lists, reports telemetry.

Threads: the main thread runs the event loop of the local HTTP server (inference inline, as a model server's
worker does); one control thread does, every heartbeat interval, GetDeviceRegistration (until it has answered),
GetDeployments, the deployments not applied yet and a heartbeat; with --mqtt, the publisher's thread forwards the
outbox until the server acknowledges each message. SIGTERM or SIGINT stops all three: the request under way is
answered, queued telemetry stays in the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from modelbay import __version__
from modelbay.container.http_server import HttpServer
from modelbay.edge import packages
from modelbay.edge.deployments import Deployer, s3_download
from modelbay.edge.models import Loader, ModelTable
from modelbay.edge.network import is_unreachable
from modelbay.edge.outbox import Outbox
from modelbay.edge.publisher import Broker, Publisher
from modelbay.edge.registration import NotRegistered, check_registration
from modelbay.edge.state import AgentState
from modelbay.edge.telemetry import Telemetry
from modelbay.sdk.signing import SignedCalls

KEY_ROUTE = "/_modelbay/v1/edge/packaging-key"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentOptions:
    device: str
    fleet: str
    endpoint_url: str
    state_dir: Path
    mqtt: Broker | None = None
    port: int = 0
    heartbeat_s: float = 10.0
    capture_percent: float = 0.0


class Agent:
    """One device's agent; `run` blocks until it is stopped and returns the exit status."""

    def __init__(self, options: AgentOptions, session: boto3.Session, loader: Loader) -> None:
        self.options = options
        options.state_dir.mkdir(parents=True, exist_ok=True)
        config = Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=30)
        self._edge = session.client("sagemaker-edge", endpoint_url=options.endpoint_url, config=config)
        self._session = session
        self._state = AgentState.read(options.state_dir)
        self.table = ModelTable()
        self._deployer = Deployer(options.state_dir, self._state, self.table,
                                  s3_download(session.client("s3", endpoint_url=options.endpoint_url, config=config)),
                                  self._packaging_key, loader)
        self._outbox = Outbox(options.state_dir / "outbox.sqlite") if options.mqtt else None
        self._publisher = (Publisher(self._outbox, options.mqtt, options.fleet, options.device)
                           if self._outbox is not None and options.mqtt is not None else None)
        self.telemetry = Telemetry(f"modelbay-{__version__}", self._outbox, options.capture_percent)
        self._key: Ed25519PublicKey | None = None
        self._registered = False
        self._stopped = threading.Event()
        self._refusal: NotRegistered | None = None

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (0), or until the server says the device is not registered (1)."""
        self._deployer.restore()
        try:
            self._register()
        except NotRegistered as refused:
            print(f"edge agent: {refused}", flush=True)
            return 1
        asyncio.run(self._serve())
        if self._refusal is not None:
            print(f"edge agent: {self._refusal}", flush=True)
            return 1
        return 0

    async def _serve(self) -> None:
        loop, stopping = asyncio.get_running_loop(), asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        from modelbay.edge.server import EdgeHandler  # numpy and the content types load with the server

        sock = socket.create_server(("127.0.0.1", self.options.port))
        server = HttpServer(EdgeHandler(self.table, self.telemetry))
        server.start(sock)
        print(f"edge agent listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)
        if self._publisher is not None:
            self._publisher.start()
        control = threading.Thread(target=self._control, args=(lambda: loop.call_soon_threadsafe(stopping.set),),
                                   name="edge-control", daemon=True)
        control.start()
        try:
            await stopping.wait()
        finally:
            self._stopped.set()
            await server.shut_down(grace_s=5)
            await asyncio.to_thread(self._close, control)

    def _close(self, control: threading.Thread) -> None:
        control.join(35)  # a call under way ends within the clients' timeouts
        if self._publisher is not None:
            self._publisher.stop()
        if self._outbox is not None:
            self._outbox.close()

    def _control(self, stop_agent: Any) -> None:
        while not self._stopped.is_set():
            try:
                self.control_pass()
            except NotRegistered as refused:
                self._refusal = refused
                stop_agent()
                return
            self._stopped.wait(self.options.heartbeat_s)

    def control_pass(self) -> None:
        """Registration (until answered), the deployments not yet applied, then a heartbeat."""
        try:
            self._register()
            if self._registered:
                found = self._edge.get_deployments(DeviceName=self.options.device,
                                                   DeviceFleetName=self.options.fleet)
                self._deployer.apply(found.get("Deployments", []))
        except NotRegistered:
            raise
        except Exception as err:  # the loop must survive; offline is usual on a device, anything else is logged
            if not is_unreachable(err):
                log.exception("applying deployments failed")
            else:
                log.info("the server is unreachable: %s", err)
        self._heartbeat()

    def _register(self) -> None:
        if self._registered:
            return
        try:
            check_registration(self._edge, self.options.fleet, self.options.device)
            self._registered = True
        except NotRegistered:
            raise
        except Exception as err:
            if not is_unreachable(err):
                raise
            log.info("the server is unreachable; serving the last good models: %s", err)

    def _heartbeat(self) -> None:
        """Report the interval: queued in the outbox (--mqtt) or sent by SendHeartbeat; its DeploymentResult, the
        oldest unreported, is forgotten once the heartbeat is queued or answered."""
        result = self._state.unreported[0] if self._state.unreported else None
        report = self.telemetry.report(self.table.current, result, len(self._outbox) if self._outbox else 0)
        if self._outbox is not None and self._publisher is not None:
            for body in report.metrics:
                self._outbox.put("metrics", body)
            self._outbox.put("heartbeat", report.heartbeat)
            self._publisher.wake()
        else:
            try:
                self._edge.send_heartbeat(DeviceName=self.options.device, DeviceFleetName=self.options.fleet,
                                          **report.heartbeat)
            except Exception as err:  # offline, or refused: the result waits for the next heartbeat
                (log.info if is_unreachable(err) else log.warning)("heartbeat not sent: %s", err)
                return
        if result is not None:
            self._state.unreported.pop(0)
            self._state.save(self.options.state_dir)

    def _packaging_key(self) -> Ed25519PublicKey:
        """The platform's packaging key, pinned in the state dir the first time it is fetched."""
        if self._key is None:
            self._key = packages.pinned_key(self.options.state_dir / "packaging-key.pem", self._fetch_key)
        return self._key

    def _fetch_key(self) -> str:
        answer = httpx.get(self.options.endpoint_url + KEY_ROUTE, auth=SignedCalls(self._session), timeout=10)
        answer.raise_for_status()
        pem: str = answer.json()["PublicKeyPem"]
        return pem
