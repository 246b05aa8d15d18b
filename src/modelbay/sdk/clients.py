"""Finding a modelbay server and making boto3 clients for it."""

from __future__ import annotations

import os
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from modelbay.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_URL

DEFAULT_REGION = "us-east-1"


def resolve_url(url: str | None = None) -> str:
    """The server to talk to: the argument, else MODELBAY_URL, else the default local address."""
    return (url or os.environ.get("MODELBAY_URL") or DEFAULT_URL).rstrip("/")


def session() -> boto3.Session:
    """A boto3 session with the user's credentials, or the local server's defaults when none exist.

    Credentials are looked up in the environment and the AWS config files only: asking the EC2
    or container metadata endpoints would reach off this machine (and stall where there is none).
    """
    core = botocore.session.Session()
    resolver = core.get_component("credential_provider")
    for provider in ("container-role", "iam-role"):
        resolver.remove(provider)
    if core.get_credentials() is None:
        core.set_credentials(DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY)
    return boto3.Session(botocore_session=core, region_name=core.get_config_variable("region") or DEFAULT_REGION)


def client(service: str, url: str | None = None, **config: Any) -> Any:
    """A boto3 client for `service` pointed at the server."""
    return session().client(service, endpoint_url=resolve_url(url), config=Config(**config))
