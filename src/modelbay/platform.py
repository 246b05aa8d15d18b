"""The long-lived parts a server is built from: its settings, its stores and its router.

Services see them through each request's Context; controllers get them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelbay.config import Settings
from modelbay.monitoring.logs import LogStore
from modelbay.serving.router import Router
from modelbay.store.metadata import MetadataStore, open_metadata_store
from modelbay.store.objects import open_object_store
from modelbay.store.objects.base import ObjectStore


@dataclass(frozen=True)
class Platform:
    settings: Settings
    metadata: MetadataStore
    objects: ObjectStore
    logs: LogStore
    router: Router = field(default_factory=Router)  # the data plane: controllers publish, InvokeEndpoint calls


def open_platform(settings: Settings) -> Platform:
    """Open the stores the settings name (creating the data directory when it is used)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Platform(settings, open_metadata_store(settings.metadata_url), open_object_store(settings),
                    LogStore(settings.data_dir / "logs"))
