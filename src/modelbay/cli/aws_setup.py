"""The files that point unchanged AWS tools at modelbay: the SageMaker Python SDK's defaults and an AWS profile.

AWS_ENDPOINT_URL reaches every boto3 client except the ones the SageMaker Python SDK builds with an explicit
STS endpoint (to learn the account for its default bucket name). Its defaults file names that bucket, so
`Session()` asks STS nothing; it also turns the SDK's telemetry off (which would reach an AWS host) and names
the execution role that every modelbay account has. The file is JSON, which every YAML reader reads.
"""

from __future__ import annotations

import configparser
import hashlib
import io
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from modelbay.config import DEFAULT_EXECUTION_ROLE, xdg_dir
from modelbay.user_files import write_text

_SAFE = re.compile(r"[^A-Za-z0-9.-]+")  # what may stay of a URL or a region in a file name


def execution_role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{DEFAULT_EXECUTION_ROLE}"


def sagemaker_defaults(account: str, region: str) -> dict[str, Any]:
    """The SageMaker Python SDK's defaults (its `SAGEMAKER_USER_CONFIG_OVERRIDE` file) for this server."""
    role = execution_role_arn(account)
    return {
        "SchemaVersion": "1.0",
        "SageMaker": {
            "PythonSDK": {"Modules": {
                "TelemetryOptOut": True,
                "Session": {"DefaultS3Bucket": f"sagemaker-{region}-{account}"},
            }},
            "TrainingJob": {"RoleArn": role},
            "ProcessingJob": {"RoleArn": role},
            "Model": {"ExecutionRoleArn": role},
            "CompilationJob": {"RoleArn": role},
        },
    }


def write_sagemaker_defaults(url: str, account: str, region: str) -> Path:
    """Write the defaults for the server at `url` (atomically: a shell may be reading it) and return its path."""
    path = sagemaker_defaults_path(url, region)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(sagemaker_defaults(account, region), indent=2) + "\n")
    return path


def sagemaker_defaults_path(url: str, region: str) -> Path:
    """Where the defaults for the server at `url` and `region` live: in the user's config directory
    ($XDG_CONFIG_HOME, else ~/.config), a folder per server URL, a file per region.

    The URL is what the CLI knows of a server (its data directory may be anywhere, even on another
    machine), so two servers, or two regions of one, never share a file a shell points at.
    """
    parts = urlsplit(url)
    readable = _SAFE.sub("-", parts.netloc + parts.path).strip("-")
    server = f"{readable}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"  # the hash tells apart what _SAFE merges
    return (xdg_dir(os.environ, "XDG_CONFIG_HOME", ".config") / "modelbay" / "servers" / server
            / f"sagemaker-{_SAFE.sub('-', region)}.yaml")


def write_profile(name: str, url: str, region: str, credentials: tuple[str, str]) -> tuple[Path, Path]:
    """Add or replace profile `name` in the AWS config and credentials files; other profiles are kept."""
    config_path = Path(os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")).expanduser()
    credentials_path = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")).expanduser()
    section = name if name == "default" else f"profile {name}"
    _set_section(config_path, section, {"region": region, "endpoint_url": url, "output": "json"})
    access_key, secret_key = credentials
    _set_section(credentials_path, name, {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key})
    return config_path, credentials_path


def _set_section(path: Path, section: str, values: dict[str, str]) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    parser[section] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    parser.write(text)
    write_text(path, text.getvalue(), mode=0o600)  # a new file holds a secret
