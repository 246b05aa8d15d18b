"""The `modelbay` command."""

from __future__ import annotations

import dataclasses
import os
import shlex
from pathlib import Path
from typing import Any

import typer

from modelbay import __version__
from modelbay.cli import (
    ab_testing,
    audit,
    cluster,
    compilation_jobs,
    edge,
    endpoints,
    events,
    images,
    instance_types,
    invoke,
    lineage,
    metrics,
    models,
    processing_jobs,
    s3,
    search,
    training_jobs,
    transform_jobs,
    tuning_jobs,
)
from modelbay.cli.aws_setup import write_profile, write_sagemaker_defaults
from modelbay.cli.commands import CLIENT, PLAIN, Commands, ReportingGroup, accepting
from modelbay.cli.edge_agent import edge_agent
from modelbay.config import TLS_AUTHORITY_FILE, Settings, UnsafeMode
from modelbay.podman_engine import require_podman
from modelbay.sdk import resolve_url
from modelbay.sdk.clients import local_credentials, session

app = Commands(cls=ReportingGroup, pretty_exceptions_enable=False,
               help="modelbay: SageMaker's train → deploy → operate workflow on your own machines.")
app.command("edge-agent", options=PLAIN)(edge_agent)
app.add_typer(s3.app, name="s3")
app.add_typer(training_jobs.app, name="jobs")
app.add_typer(images.app, name="images")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(models.app, name="models")
app.add_typer(transform_jobs.app, name="transform")
app.add_typer(processing_jobs.app, name="processing")
app.add_typer(compilation_jobs.app, name="compilation-jobs")
app.add_typer(tuning_jobs.app, name="tuning")
app.command()(invoke.invoke)
app.add_typer(audit.app, name="audit")
app.add_typer(edge.app, name="edge")
app.command()(events.events)
app.command()(metrics.metrics)
app.command()(search.search)
app.command()(lineage.lineage)
app.command()(cluster.cluster)
app.command("ground-truth")(ab_testing.ground_truth)
app.command("ab-report")(ab_testing.ab_report)
app.command("instance-types", options=instance_types.OPTIONS)(instance_types.instance_types)
_SERVER_OPTIONS = ("host", "port", "data_dir", "keep_instances", "auth", "tls_cert", "tls_key", "tls_self_signed",
                   "workers", "worker", "data_plane")  # the settings `server` has options for, and one it sets


def _print_version(wanted: bool) -> None:
    if wanted:
        print(__version__)
        raise typer.Exit()


@app.callback()
@accepting(CLIENT)
def main_options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print modelbay's version and exit."),
) -> None:
    """The shared options, which every command that they apply to also accepts after its name."""


def _setting(name: str, help: str, *flags: str) -> Any:
    """The `server` option for Settings field `name`: also read from MODELBAY_<NAME>, with Settings' default."""
    return typer.Option(None, *flags, help=help, envvar=f"MODELBAY_{name.upper()}",
                        show_default=str(getattr(Settings(), name)))


def _other_settings() -> str:
    """The server's settings without an option, read from their MODELBAY_* variables: names and defaults."""
    defaults = Settings()
    return "Other settings, read from the environment (defaults shown): " + ", ".join(
        f"MODELBAY_{field.name.upper()}" + ("" if getattr(defaults, field.name) is None else
                                            f"={getattr(defaults, field.name)}")
        for field in dataclasses.fields(Settings) if field.name not in _SERVER_OPTIONS) + "."


_HOST = _setting("host", "Address to listen on.")
_PORT = _setting("port", "Port; 0 picks a free one.")
_DATA_DIR = _setting("data_dir", "Where data lives.")
_KEEP_INSTANCES = _setting("keep_instances", "Instances keep running after the server stops, to be adopted when it "
                           "starts again.", "--keep-instances")
_AUTH = _setting("auth", "open (any key; loopback only) or iam (signatures verified, policies enforced); default: "
                 "iam, or open when listening on loopback alone.")
_WORKERS = _setting("workers", "Processes answering the port, sharing it (0: one per CPU the server may use).")
_DATA_PLANE = _setting("data_plane", "What answers plain invocations: python (modelbay's front door), haproxy "
                       "(HAProxy on the port, the front door behind it) or direct (the front door hands callers' "
                       "connections to model servers); the last two with --auth open and no TLS.")
_TLS_CERT = _setting("tls_cert", "Serve https with this certificate (PEM, its chain after it).")
_TLS_KEY = _setting("tls_key", "The private key (PEM) of --tls-cert.")
_TLS_SELF_SIGNED = _setting("tls_self_signed", "Serve https with a certificate made for this machine, and print how "
                            "to trust it.", "--tls-self-signed")


@app.command(options=("debug",), epilog=_other_settings())
def server(
    host: str | None = _HOST,
    port: int | None = _PORT,
    data_dir: Path | None = _DATA_DIR,
    keep_instances: bool | None = _KEEP_INSTANCES,
    auth: str | None = _AUTH,
    tls_cert: Path | None = _TLS_CERT,
    tls_key: Path | None = _TLS_KEY,
    tls_self_signed: bool | None = _TLS_SELF_SIGNED,
    workers: int | None = _WORKERS,
    data_plane: str | None = _DATA_PLANE,
    address_file: Path | None = typer.Option(None, help="Write the bound URL here once serving."),
    quiet: bool = typer.Option(False, "--quiet", help="Don't print the address."),
) -> None:
    """Run the server: SageMaker, sagemaker-runtime, S3, STS, CloudWatch Logs and ECR on one port."""
    from modelbay.front_door_handoff import HandoffUnavailable
    from modelbay.front_door_proxy import ProxyUnavailable
    from modelbay.security.tls import TlsMisconfigured
    from modelbay.server import serve  # the one command that runs the server rather than calling it

    settings = Settings.from_env(host=host, port=port, data_dir=data_dir, keep_instances=keep_instances or None,
                                 auth=auth, tls_cert=tls_cert, tls_key=tls_key, tls_self_signed=tls_self_signed or None,
                                 workers=workers, data_plane=data_plane)
    try:
        settings = dataclasses.replace(settings, auth=settings.auth_mode)
    except UnsafeMode as refused:
        raise typer.BadParameter(str(refused), param_hint="--auth") from None
    if settings.runtime == "podman":
        require_podman()  # said before serving, not as a failed start-up
    try:
        serve(settings, address_file=address_file, announce=not quiet)
    except TlsMisconfigured as refused:  # raised before the port is bound
        raise typer.BadParameter(str(refused), param_hint="--tls-cert/--tls-key/--tls-self-signed") from None
    except (ProxyUnavailable, HandoffUnavailable) as refused:
        raise typer.BadParameter(str(refused), param_hint="--data-plane") from None


@app.command(options=PLAIN)
def env(ctx: typer.Context) -> None:
    """Print the shell lines that point AWS tools and the SageMaker Python SDK at the server: eval "$(modelbay env)".

    It also writes the SageMaker Python SDK's defaults file for that server and region, in the user's config
    directory: SAGEMAKER_USER_CONFIG_OVERRIDE.
    """
    url, found, settings = resolve_url(ctx.obj["url"]), session(), Settings.from_env()
    region = ctx.obj["region"] or found.region_name
    defaults = write_sagemaker_defaults(url, settings.account_id, region)
    lines = {"AWS_ENDPOINT_URL": url, "MODELBAY_URL": url, "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
             "SAGEMAKER_USER_CONFIG_OVERRIDE": str(defaults)}
    key_id, secret = local_credentials()
    if found.get_credentials().access_key == key_id and "AWS_ACCESS_KEY_ID" not in os.environ:
        lines |= {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_EC2_METADATA_DISABLED": "true"}
    authority = settings.tls_dir / TLS_AUTHORITY_FILE
    if url.startswith("https:") and authority.exists() and "AWS_CA_BUNDLE" not in os.environ:
        lines["AWS_CA_BUNDLE"] = str(authority)  # a --tls-self-signed server's own authority
    for name, value in lines.items():
        print(f"export {name}={shlex.quote(value)}")


@app.command(options=PLAIN)
def configure(
    ctx: typer.Context,
    profile: str = typer.Option("modelbay", "--profile", help="The AWS profile to write."),
) -> None:
    """Write an AWS profile that points at the server (endpoint_url, region, credentials) and the SDK defaults."""
    url, settings = resolve_url(ctx.obj["url"]), Settings.from_env()
    region = ctx.obj["region"] or session().region_name
    config_file, credentials_file = write_profile(profile, url, region, local_credentials())
    defaults = write_sagemaker_defaults(url, settings.account_id, region)
    print(f"profile {profile!r} written to {config_file} and {credentials_file}; use it with:")
    print(f"export AWS_PROFILE={shlex.quote(profile)} SAGEMAKER_USER_CONFIG_OVERRIDE={shlex.quote(str(defaults))}")


@app.command(options=())
def version() -> None:
    """Print modelbay's version."""
    print(__version__)


def main() -> None:
    app()
