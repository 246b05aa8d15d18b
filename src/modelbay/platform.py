"""The long-lived parts a server is built from: its settings, its stores and its router, one set per region.

Services see them through each request's Context; controllers get them directly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import botocore.loaders

from modelbay.config import Settings
from modelbay.monitoring.data_capture import DataCapture
from modelbay.monitoring.log_database import DatabaseLogStore
from modelbay.monitoring.log_files import FileLogStore
from modelbay.monitoring.logs import LogStore
from modelbay.monitoring.metrics import MetricStore
from modelbay.monitoring.publishing import Publisher
from modelbay.security.kms_keys import KeyRing
from modelbay.security.master_key import MasterKey, load_master_key
from modelbay.serving.router import Router
from modelbay.store.metadata import MetadataStore, open_metadata_store
from modelbay.store.objects import open_object_store
from modelbay.store.objects.base import ObjectStore


class Generation:
    """A counter bumped by every change to what a cache was made from (IAM's identities, keys and policies), so
    the cache sees at its next read that it is stale. Bumped and read without a lock: a read racing a bump sees
    either value, and the next read sees the new one."""

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        self.value += 1


@dataclass(frozen=True)
class Platform:
    settings: Settings
    metadata: MetadataStore
    objects: ObjectStore
    logs: LogStore
    router: Router = field(default_factory=Router)  # the data plane: controllers publish, InvokeEndpoint calls
    iam_changes: Generation = field(default_factory=Generation)  # bumped by IAM's and STS's writes (authentication)
    home: Platform | None = None  # the home region's platform, where IAM and STS keep their data (None: this is it)

    @property
    def account(self) -> Platform:
        """The platform that holds the account's global data (IAM, STS): the home region's."""
        return self.home or self

    @cached_property
    def metrics(self) -> MetricStore:
        """The region's CloudWatch metrics, kept in its metadata database (one store, so one write buffer)."""
        return MetricStore(self.metadata.metrics)

    @cached_property
    def publisher(self) -> Publisher:
        """What the region publishes as SageMaker does (invocations, instance usage, training metrics)."""
        return Publisher(self.metrics, self.settings.region)

    @cached_property
    def master_key(self) -> MasterKey:
        """What the region's secrets at rest are sealed under (security/master_key.py)."""
        settings = self.settings
        return load_master_key(settings.master_key, settings.master_key_file, settings.data_dir)

    @cached_property
    def kms(self) -> KeyRing:
        """The region's KMS keys, their material sealed under the master key (security/kms_keys.py)."""
        return KeyRing(self.metadata.kms, self.master_key, self.settings.account_id, self.settings.region)

    @cached_property
    def capture(self) -> DataCapture:
        """Endpoints' data capture: the controller publishes their DataCaptureConfigs, InvokeEndpoint offers records."""
        return DataCapture(self.objects, self.metrics, keys=self.kms)


def open_platform(settings: Settings, objects: ObjectStore | None = None, home: Platform | None = None) -> Platform:
    """Open the stores the settings name (creating the data directory when it is used); `objects`, if given,
    is the object store to share (S3 is one for every region); `home`, the home region's platform of another one."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    metadata = open_metadata_store(settings.metadata_url, schema=settings.database_schema)
    return Platform(settings, metadata, objects or open_object_store(settings), open_log_store(settings, metadata),
                    home=home)


def open_log_store(settings: Settings, metadata: MetadataStore) -> LogStore:
    """CloudWatch Logs where the metadata is: in its database when that is PostgreSQL (the one every server of the
    region shares), else in files under the data directory (one server's)."""
    if metadata.db.engine.dialect.name == "postgresql":
        return DatabaseLogStore(metadata.db)
    return FileLogStore(settings.data_dir / "logs")


class UnknownRegion(ValueError):
    """A region AWS does not have."""


class Regions:
    """The platforms of a server, one per region, as AWS's regions are separate deployments.

    Each region has its own metadata, logs, router, workspaces and controllers, so a resource lives
    in the region of the call that made it (its ARN says which) and is listed and found there only.
    They share the object store: S3's bucket names are global and a bucket records its region.

    The home region (`settings.region`) is open from the start, with its data at the top of the data
    directory; another one is opened on its first call, or at start-up if it holds data
    (`Settings.in_region` says where), and `on_open` is told of each one opened later, so that the
    server starts its controllers. Thread-safe.
    """

    def __init__(self, settings: Settings) -> None:
        self.home = open_platform(settings)
        # the server's own reads and writes of SSE-KMS objects (staging a model, capturing data) use the home
        # region's keys; S3's calls pass their region's, with the caller's permissions checked
        self.home.objects.default_keys = self.home.kms
        self._opened = {settings.region: self.home}
        self._opening = threading.Lock()
        self.on_open: Callable[[Platform], None] = lambda _: None
        for region in regions_with_data(settings.data_dir):
            self.get(region)

    def find(self, region: str) -> Platform | None:
        """The region's platform if it is open (at once: never opens a database)."""
        return self._opened.get(region)

    def get(self, region: str) -> Platform:
        """The region's platform, opened (its database migrated) if it was not. Raises UnknownRegion."""
        found = self._opened.get(region)
        if found is not None:
            return found
        if region not in aws_regions():
            raise UnknownRegion(region)
        with self._opening:
            if region not in self._opened:
                platform = open_platform(self.home.settings.in_region(region), objects=self.home.objects,
                                         home=self.home)
                self._opened[region] = platform
                self.on_open(platform)
        return self._opened[region]

    def opened(self) -> list[Platform]:
        return list(self._opened.values())

    def close(self) -> None:
        for platform in self.opened():
            platform.metadata.close()


def regions_with_data(data_dir: Path) -> list[str]:
    """The regions other than the home one that hold data under `data_dir` (see Settings.in_region)."""
    found = (data_dir / "regions").glob("*")
    return sorted(path.name for path in found if path.is_dir() and path.name in aws_regions())


@cache
def aws_regions() -> frozenset[str]:
    """Every region of every AWS partition (commercial, China, GovCloud, ...), as botocore knows them."""
    partitions = botocore.loaders.Loader().load_data("endpoints")["partitions"]
    return frozenset(region for partition in partitions for region in partition["regions"])
