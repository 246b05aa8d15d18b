"""Launching one serving host: every container of a model, each a runtime instance with its own port.

Endpoints (one host per slot) and batch transform jobs (one host per instance of the job) both
start hosts this way. Preparing is slow (a framework environment may be built, model archives
are downloaded), so callers run `prepare_host` off their reconcile thread and start the result.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelbay.controllers.images import Images
from modelbay.controllers.instance_env import host_env
from modelbay.controllers.model_staging import stage_container
from modelbay.instance_types import InstanceType
from modelbay.runtime.base import DEFAULT_VOLUME_SIZE_GB, InstanceSpec
from modelbay.store.objects.base import ObjectStore

Launch = list[tuple[InstanceSpec, dict[str, str]]]


@dataclass(frozen=True)
class HostShape:
    """What a serving host's instances get besides their type: their scratch space (a variant's VolumeSizeInGB),
    whether the model's EnableNetworkIsolation keeps them from reaching anything, and the key their volumes are
    encrypted under (volume_keys.py: a data key made for this host; None: not encrypted), and where a cluster runtime
    places it: its zone and the group it is spread over nodes with (a variant's hosts)."""

    volume_size_gb: int = DEFAULT_VOLUME_SIZE_GB
    isolated: bool = False
    volume_key: bytes | None = field(default=None, repr=False)
    zone: str | None = None
    spread_group: str | None = None
# (container index, port) → the labels of that container's instance
Labels = Callable[[int, int], dict[str, str]]


def prepare_host(objects: ObjectStore, images: Images, home: Path, kind: InstanceType,
                 containers: Sequence[dict[str, Any]], labels: Labels, env: Mapping[str, str],
                 port: Callable[[], int], shape: HostShape = HostShape()) -> Launch:
    """Ready the images and stage each container under `home`; return what to start, in call order.

    Each container listens on the `port()` it is given (SAGEMAKER_BIND_TO_PORT, which images that hard-code
    8080 ignore: see instance_env.serving_port); `env` is added to every container's environment. Raises
    UnknownImage, StagingError, EnvironmentBuildError."""
    launch: Launch = []
    for index, container in enumerate(containers):
        program = images.resolve(container["Image"], "serve")
        directory = home / f"c{index}-{uuid.uuid4().hex[:8]}"
        container_env = stage_container(objects, container, directory / "opt_ml")  # fails fast: before a build
        images.ready(program, lambda _message: None)
        argv, program_env = images.command(program, directory / "env")
        listens_on = port()
        spec = InstanceSpec(argv, directory / "opt_ml", kind, host_env(kind, images.runs_images) | container_env
                            | program_env | dict(env) | {"SAGEMAKER_BIND_TO_PORT": str(listens_on)},
                            volume_size_gb=shape.volume_size_gb, isolated=shape.isolated, image=program.reference,
                            program_dir=program.directory, volume_key=shape.volume_key, zone=shape.zone,
                            spread_group=shape.spread_group)
        launch.append((spec, labels(index, listens_on)))
    return launch
