"""Settings: one frozen dataclass, read from MODELBAY_* variables once, then passed in."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PORT = 7070
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
# Credentials the local server hands to clients that have none of their own.
DEFAULT_ACCESS_KEY_ID = "modelbay"
DEFAULT_SECRET_ACCESS_KEY = "modelbay-secret"
# The execution role every account has from the start; the SageMaker SDK defaults file names it.
DEFAULT_EXECUTION_ROLE = "SageMakerExecutionRole"
RUNTIMES = ("process", "podman", "ray")  # what may run instances (Settings.runtime)
# what answers plain invocations: see Settings.data_plane
DATA_PLANE_PYTHON, DATA_PLANE_HAPROXY, DATA_PLANE_DIRECT = "python", "haproxy", "direct"
DATA_PLANES = (DATA_PLANE_PYTHON, DATA_PLANE_HAPROXY, DATA_PLANE_DIRECT)
AUTH_OPEN, AUTH_IAM = "open", "iam"  # how calls are authenticated: see Settings.auth_mode
AUTH_MODES = (AUTH_OPEN, AUTH_IAM)
ROOT_KEY_FILE = "root-access-key.json"  # in the data directory: the account root's key in `iam` mode
TLS_AUTHORITY_FILE = "ca.pem"  # in Settings.tls_dir: what clients of a --tls-self-signed server trust


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know; nothing else reads the environment."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=lambda: Path.home() / ".modelbay")
    database_url: str | None = None  # None: SQLite under data_dir
    database_schema: str | None = None  # PostgreSQL: the schema of the region's tables (None: the search path's)
    s3_endpoint_url: str | None = None  # None: the local folder object store
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_region: str = "us-east-1"
    account_id: str = "000000000000"
    region: str = "us-east-1"
    max_request_bytes: int = 16 * 1024 * 1024  # non-streaming bodies (JSON, XML, forms)
    max_object_bytes: int = 5 * 1024**3  # one S3 PutObject or UploadPart, as S3 allows
    fsync: bool = False  # objects survive a crash of the machine, not only of the server
    # framework environments, shared by every data directory and server of the user: see default_environments_dir
    environments_dir: Path = field(default_factory=lambda: default_environments_dir(os.environ))
    stop_grace_s: float = 120.0  # SIGTERM to SIGKILL when a training job is stopped, as SageMaker waits
    zones: str | None = None  # comma-separated availability zones endpoint instances spread over
    keep_instances: bool = False  # a graceful stop leaves instances running for the next server to adopt
    instance_networks: bool = True  # each instance in a network of its own where the machine allows (network.py)
    # the API as instances reach it, set by the server once it listens (None: instances are not told of it)
    instance_api_url: str | None = None
    # the URL this server answers at, as other servers and `modelbay cluster` name it: set by the server once it
    # listens, unless MODELBAY_ANNOUNCED_URL gives the one clients reach it at (behind NAT, a proxy)
    announced_url: str | None = None
    runtime: str = "process"  # what runs instances: "process" (supervised processes), "podman" (containers) or "ray"
    # MODELBAY_RUNTIME=ray: the Ray cluster that places instances on its nodes (host:port of `ray start --head`)
    ray_address: str | None = None
    # podman's configuration of ours and the base images' locks, shared like environments: see default_podman_dir
    podman_dir: Path = field(default_factory=lambda: default_podman_dir(os.environ))
    serverless_idle_s: float = 300.0  # a serverless variant idle this long scales to zero (MODELBAY_SERVERLESS_IDLE_S)
    # Managed spot training's simulated capacity (controllers/training_jobs/spot.py): interruptions expected per
    # instance-hour of a spot job's run (0: only when asked, `modelbay jobs interrupt`), how long capacity takes to
    # come back after one, and the seed of the interruption times (None: not reproducible)
    spot_interruption_rate: float = 0.0
    spot_capacity_wait_s: float = 60.0
    spot_seed: int | None = None
    # "open" (any key, loopback only) or "iam" (signatures verified, policies enforced); None: see auth_mode
    auth: str | None = None
    # what secrets at rest are sealed under (security/master_key.py): base64 here or in a file; else the data dir's
    master_key: str | None = field(default=None, repr=False)
    master_key_file: Path | None = None
    # TLS on the API's port (security/tls.py): a certificate and its key (PEM), or one made for local use
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_self_signed: bool = False
    # the MQTT broker edge agents send telemetry through (mqtt://host:port): the server subscribes to its
    # devices' topics there (controllers/edge_telemetry.py); None: agents report by SendHeartbeat alone
    mqtt_url: str | None = None
    # the processes that answer the API's port (front_door_workers.py): 0, one per CPU this server may run on
    workers: int = 1
    worker: int = 0  # which of them this process is: the first (0) runs the controllers, and starts the others
    # what answers plain invocations: "python" (the front door, front_door.py), "haproxy" (HAProxy on the API's
    # port, front_door_proxy.py; the front door behind it answers the rest) or "direct" (the front door hands a
    # caller's connection to the model server, front_door_handoff.py); the last two only in `open` mode, without TLS
    data_plane: str = DATA_PLANE_PYTHON

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"MODELBAY_RUNTIME must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        if self.workers < 0:
            raise ValueError(f"MODELBAY_WORKERS must be 0 (one per CPU) or more, not {self.workers}")
        if self.auth is not None and self.auth not in AUTH_MODES:
            raise ValueError(f"MODELBAY_AUTH must be one of {', '.join(AUTH_MODES)}, not {self.auth!r}")
        if self.data_plane not in DATA_PLANES:
            raise ValueError(f"MODELBAY_DATA_PLANE must be one of {', '.join(DATA_PLANES)}, not {self.data_plane!r}")

    @property
    def auth_mode(self) -> str:
        """How calls are authenticated: `open` (any access key is the account root and every call is allowed: one
        user on one machine, so only while the server listens on loopback alone) or `iam` (signatures verified
        against known keys, IAM policies enforced: the default beyond loopback). UnsafeMode for `open` beyond it."""
        local = is_loopback(self.host)
        if self.auth is None:
            return AUTH_OPEN if local else AUTH_IAM
        if self.auth == AUTH_OPEN and not local:
            raise UnsafeMode(f"--auth open accepts any key, so it is allowed only on loopback, not on {self.host!r}: "
                             "listen on 127.0.0.1, or serve with --auth iam (the root key is then in the data "
                             "directory; `modelbay env` hands it out)")
        return self.auth

    @property
    def root_key_file(self) -> Path:
        return self.data_dir / ROOT_KEY_FILE

    @property
    def tls_dir(self) -> Path:
        """Where --tls-self-signed keeps its certificate authority (`ca.pem`, which clients trust) and certificate."""
        return self.data_dir / "tls"

    @property
    def metadata_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'metadata.db'}"

    def in_region(self, region: str) -> Settings:
        """The settings of another region this server serves: its data (metadata, logs, workspaces) under
        `regions/<region>` in the data directory, on PostgreSQL in a schema of its own, and zones of its own.
        The region the settings name (the home region) keeps the data directory's top, as before regions
        were kept apart; S3 is one for all (a bucket names its region), as in AWS."""
        on_postgres = (self.database_url or "").startswith("postgresql")
        return dataclasses.replace(self, region=region, data_dir=self.data_dir / "regions" / region,
                                   database_url=self.database_url if on_postgres else None,
                                   database_schema="modelbay_" + region.replace("-", "_") if on_postgres else None,
                                   zones=None)

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def availability_zones(self) -> tuple[str, ...]:
        """The zones endpoint instances are spread over: MODELBAY_ZONES, else three in the region."""
        if self.zones:
            return tuple(zone.strip() for zone in self.zones.split(",") if zone.strip())
        return tuple(f"{self.region}{letter}" for letter in "abc")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then MODELBAY_<FIELD> variables, then explicit overrides (None ones ignored)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {"environments_dir": default_environments_dir(environ),
                                  "podman_dir": default_podman_dir(environ)}
        for f in dataclasses.fields(cls):
            raw = environ.get(f"MODELBAY_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("data_dir", "environments_dir", "podman_dir", "master_key_file", "tls_cert", "tls_key"):
            if values.get(name) is not None:
                values[name] = Path(values[name]).expanduser()
        return cls(**values)


class UnsafeMode(ValueError):
    """`open` authentication asked for on an address other machines can reach."""


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine alone (a wildcard address is not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_environments_dir(environ: Mapping[str, str]) -> Path:
    """The user's cache (XDG base directories: $XDG_CACHE_HOME, else ~/.cache) holds framework environments, so
    every data directory and server of the user builds each one once."""
    return xdg_dir(environ, "XDG_CACHE_HOME", ".cache") / "modelbay" / "environments"


def default_podman_dir(environ: Mapping[str, str]) -> Path:
    """Beside the environments in the user's cache: podman's configuration of ours, one per user."""
    return xdg_dir(environ, "XDG_CACHE_HOME", ".cache") / "modelbay" / "podman"


def xdg_dir(environ: Mapping[str, str], variable: str, default: str) -> Path:
    """An XDG base directory of the user's: $`variable` if it is absolute (XDG ignores a relative path), else
    ~/`default`."""
    value = environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else Path.home() / default


def _convert(type_name: Any, raw: str) -> Any:
    if type_name in ("bool", bool):
        if raw.lower() not in ("1", "true", "yes", "0", "false", "no"):
            raise ValueError(f"expected a boolean (1/0, true/false, yes/no), got {raw!r}")
        return raw.lower() in ("1", "true", "yes")
    if type_name in ("int", int, "int | None"):
        return int(raw)
    if type_name in ("float", float):
        return float(raw)
    if type_name in ("Path", Path, "Path | None"):
        return Path(raw)
    return raw
