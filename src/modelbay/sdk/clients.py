"""Finding a modelbay server and making boto3 clients for it."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from modelbay.config import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_URL, Settings

DEFAULT_REGION = "us-east-1"


def resolve_url(url: str | None = None) -> str:
    """The server to talk to: the argument, else MODELBAY_URL, else the default local address."""
    return (url or os.environ.get("MODELBAY_URL") or DEFAULT_URL).rstrip("/")


def session() -> boto3.Session:
    """A boto3 session with the user's credentials, or the local server's (local_credentials) when none exist.

    Credentials are looked up in the environment and the AWS config files only: asking the EC2
    or container metadata endpoints would reach off this machine (and stall where there is none).
    """
    core = botocore.session.Session()
    resolver = core.get_component("credential_provider")
    for provider in ("container-role", "iam-role"):
        resolver.remove(provider)
    if core.get_credentials() is None:
        core.set_credentials(*local_credentials())
    return boto3.Session(botocore_session=core, region_name=core.get_config_variable("region") or DEFAULT_REGION)


def local_credentials() -> tuple[str, str]:
    """The credentials of a local server for a user who has none: the account root's key in the server's data
    directory (MODELBAY_DATA_DIR, else ~/.modelbay) if it serves in `iam` mode and this user may read it, else the
    keys an `open` server takes (any would do)."""
    try:
        found = json.loads(Settings.from_env().root_key_file.read_text())
        return found["AccessKeyId"], found["SecretAccessKey"]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY


def client(service: str, url: str | None = None, **config: Any) -> Any:
    """A boto3 client for `service` pointed at the server."""
    return session().client(service, endpoint_url=resolve_url(url), config=Config(**config))
