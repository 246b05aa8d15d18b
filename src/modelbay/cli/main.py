"""The `modelbay` command."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import typer

from modelbay import __version__
from modelbay.cli import endpoints, images, invoke, s3, training_jobs, transform_jobs
from modelbay.cli.aws_setup import write_profile, write_sagemaker_defaults
from modelbay.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, Settings
from modelbay.sdk import resolve_url
from modelbay.sdk.clients import session

URL_OPTION = typer.Option(None, "--url", help="Server URL [default: $MODELBAY_URL or http://127.0.0.1:7070]")
app = typer.Typer(help="modelbay: SageMaker's train → deploy → operate workflow on your own machines.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(s3.app, name="s3")
app.add_typer(training_jobs.app, name="jobs")
app.add_typer(images.app, name="images")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(transform_jobs.app, name="transform")
app.command()(invoke.invoke)


@app.callback()
def main_options(
    ctx: typer.Context,
    url: str | None = URL_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON, for scripts."),
) -> None:
    ctx.obj = {"url": resolve_url(url), "json": as_json}


@app.command()
def server(
    host: str | None = typer.Option(None, help="Address to listen on [default: 127.0.0.1, $MODELBAY_HOST]"),
    port: int | None = typer.Option(None, help="Port; 0 picks a free one [default: 7070, $MODELBAY_PORT]"),
    data_dir: Path | None = typer.Option(None, help="Where data lives [default: ~/.modelbay, $MODELBAY_DATA_DIR]"),
    address_file: Path | None = typer.Option(None, help="Write the bound URL here once serving."),
    quiet: bool = typer.Option(False, "--quiet", help="Don't print the address."),
) -> None:
    """Run the server: SageMaker, sagemaker-runtime, S3, STS, CloudWatch Logs and ECR on one port."""
    from modelbay.server import serve  # the one command that runs the server rather than calling it

    settings = Settings.from_env(host=host, port=port, data_dir=data_dir)
    serve(settings, address_file=address_file, announce=not quiet)


@app.command()
def env(ctx: typer.Context, url: str | None = URL_OPTION) -> None:
    """Print the shell lines that point AWS tools and the SageMaker Python SDK at the server: eval "$(modelbay env)".

    It also writes the SageMaker SDK's defaults file under the data directory (see `aws_setup`).
    """
    url, found, settings = resolve_url(url or ctx.obj["url"]), session(), Settings.from_env()
    region = found.region_name
    defaults = write_sagemaker_defaults(settings.data_dir, settings.account_id, region)
    lines = {"AWS_ENDPOINT_URL": url, "MODELBAY_URL": url, "AWS_REGION": region, "AWS_DEFAULT_REGION": region,
             "SAGEMAKER_USER_CONFIG_OVERRIDE": str(defaults)}
    if found.get_credentials().access_key == DEFAULT_ACCESS_KEY_ID and "AWS_ACCESS_KEY_ID" not in os.environ:
        lines |= {"AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_ACCESS_KEY,
                  "AWS_EC2_METADATA_DISABLED": "true"}
    for name, value in lines.items():
        print(f"export {name}={shlex.quote(value)}")


@app.command()
def configure(
    ctx: typer.Context,
    url: str | None = URL_OPTION,
    profile: str = typer.Option("modelbay", "--profile", help="The AWS profile to write."),
) -> None:
    """Write an AWS profile that points at the server (endpoint_url, region, credentials) and the SDK defaults."""
    url, settings = resolve_url(url or ctx.obj["url"]), Settings.from_env()
    region = session().region_name
    config_file, credentials_file = write_profile(profile, url, region,
                                                  (DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY))
    defaults = write_sagemaker_defaults(settings.data_dir, settings.account_id, region)
    print(f"profile {profile!r} written to {config_file} and {credentials_file}; use it with:")
    print(f"export AWS_PROFILE={shlex.quote(profile)} SAGEMAKER_USER_CONFIG_OVERRIDE={shlex.quote(str(defaults))}")


@app.command()
def version() -> None:
    """Print modelbay's version."""
    print(__version__)


def main() -> None:
    app()
