"""What every service function gets and may give back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelbay.config import Settings
from modelbay.monitoring.logs import LogStore
from modelbay.security.principal import Principal
from modelbay.store.metadata import MetadataStore, open_metadata_store
from modelbay.store.objects import open_object_store
from modelbay.store.objects.base import ObjectStore


@dataclass(frozen=True)
class Platform:
    """The long-lived parts a server is built from."""

    settings: Settings
    metadata: MetadataStore
    objects: ObjectStore
    logs: LogStore


def open_platform(settings: Settings) -> Platform:
    """Open the stores the settings name (creating the data directory when it is used)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Platform(settings, open_metadata_store(settings.metadata_url), open_object_store(settings),
                    LogStore(settings.data_dir / "logs"))


@dataclass(frozen=True)
class Context:
    """One request as a service sees it: no HTTP, just who asks, where, and with what."""

    platform: Platform
    request_id: str
    region: str
    principal: Principal

    @property
    def settings(self) -> Settings:
        return self.platform.settings

    @property
    def metadata(self) -> MetadataStore:
        return self.platform.metadata

    @property
    def objects(self) -> ObjectStore:
        return self.platform.objects

    def arn(self, service: str, resource: str) -> str:
        """arn:aws:<service>:<region>:<account>:<resource>; SageMaker lowercases names in ARNs."""
        return f"arn:aws:{service}:{self.region}:{self.principal.account_id}:{resource}"


@dataclass(frozen=True)
class Reply:
    """A result with a status other than the protocol's usual one (S3's 206 for a range)."""

    output: Mapping[str, Any]
    status: int


Result = Mapping[str, Any] | Reply
Handler = Callable[[Context, dict[str, Any]], Result]
