"""`modelbay edge-agent`: run a device's edge agent (modelbay.edge) in the foreground until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
from pathlib import Path

import boto3
import typer

from modelbay.sdk import resolve_url
from modelbay.sdk.clients import session


def edge_agent(
    ctx: typer.Context,
    device: str = typer.Option(..., "--device", help="The device's name, as RegisterDevices registered it."),
    fleet: str = typer.Option(..., "--fleet", help="The device fleet it belongs to."),
    endpoint_url: str | None = typer.Option(None, "--endpoint-url", help="The server (default: --url's, else the "
                                            "local server's)."),
    mqtt: str | None = typer.Option(None, "--mqtt", metavar="mqtt://HOST:PORT",
                                    help="Send telemetry through this MQTT broker (stored and forwarded); without "
                                    "it, heartbeats go by SendHeartbeat alone."),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Local inference port on 127.0.0.1; 0 picks a "
                             "free one (printed)."),
    state_dir: Path | None = typer.Option(None, "--state-dir", help="Where models, telemetry and state are kept.",
                                          show_default="~/.modelbay-edge/<fleet>/<device>"),
    heartbeat_s: float = typer.Option(10.0, "--heartbeat-s", min=0.1, help="Seconds between heartbeats (and "
                                      "checks for deployments)."),
    capture_percent: float = typer.Option(0.0, "--capture-percent", min=0, max=100,
                                          help="Percent of invocations sent as samples (with --mqtt)."),
) -> None:
    """Run an edge agent: serve the device's models on 127.0.0.1, deploy what the fleet's deployment plans send it,
    report heartbeats, metrics and samples."""
    from modelbay.edge.agent import Agent, AgentOptions  # paho, cryptography, numpy: loaded for this command only
    from modelbay.edge.publisher import BadBrokerUrl, Broker

    try:
        broker = Broker.parse(mqtt) if mqtt else None
    except BadBrokerUrl as refused:
        raise typer.BadParameter(str(refused), param_hint="--mqtt") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = AgentOptions(
        device=device, fleet=fleet, endpoint_url=resolve_url(endpoint_url or ctx.obj["url"]),
        state_dir=state_dir or Path.home() / ".modelbay-edge" / fleet / device, mqtt=broker, port=port,
        heartbeat_s=heartbeat_s, capture_percent=capture_percent)
    found = session()
    if ctx.obj["region"]:
        keys = found.get_credentials().get_frozen_credentials()
        found = boto3.Session(keys.access_key, keys.secret_key, keys.token, region_name=ctx.obj["region"])
    from modelbay.container.compiled_models import load

    raise typer.Exit(Agent(options, found, load).run())
