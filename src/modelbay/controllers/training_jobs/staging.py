"""Staging a training host: its `/opt/ml` config files, channel data and source dir (CONTRACT.md section 2).

Channels are copied in File mode: an `S3Prefix` channel gets every object under the prefix
(named by the key's part after the prefix), a `ManifestFile` channel the objects its manifest
lists (named by the manifest's relative keys), and a `file://` directory its files, each as
stored (SageMaker refuses `CompressionType: Gzip` outside Pipe mode, and so does the service).
`ShardedByS3Key` gives host i (0-based) of n every n-th object in key order.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelbay.controllers.host_jobs import host_names
from modelbay.controllers.staging import StagingError, download, input_sources, unpack_archive
from modelbay.runtime.sandbox import opt_ml_layout
from modelbay.store.metadata.training_jobs import Channel, TrainingJobSpec
from modelbay.store.objects.base import ObjectStore

NETWORK_INTERFACE = "eth0"


def stage_host(objects: ObjectStore, spec: TrainingJobSpec, opt_ml: Path, host: str) -> None:
    """Fill `opt_ml` (emptied first, so staging again is harmless) for `host` of the job that `spec`
    describes. Raise StagingError with a reason a person can act on."""
    shutil.rmtree(opt_ml, ignore_errors=True)
    opt_ml_layout(opt_ml)
    hosts = host_names(spec.instance_count)
    write_configs(spec, opt_ml / "input/config", host, hosts)
    for channel in spec.channels:
        _stage_channel(objects, channel, opt_ml / "input/data" / channel.name, hosts.index(host), len(hosts))
    submit = _submit_directory(spec.hyper_parameters)
    if submit is not None and submit.startswith("s3://"):
        unpack_archive(objects, submit, opt_ml / "code", "sagemaker_submit_directory")


def write_configs(spec: TrainingJobSpec, config_dir: Path, host: str, hosts: Sequence[str]) -> None:
    """hyperparameters.json (every value a string), resourceconfig.json, inputdataconfig.json and,
    when CheckpointConfig is set, checkpointconfig.json."""
    files: dict[str, Any] = {
        "hyperparameters.json": {key: str(value) for key, value in spec.hyper_parameters.items()},
        "resourceconfig.json": {"current_host": host, "hosts": list(hosts),
                                "current_instance_type": spec.instance_type,
                                "network_interface_name": NETWORK_INTERFACE},
        "inputdataconfig.json": {channel.name: _channel_config(channel) for channel in spec.channels},
    }
    if spec.checkpoint is not None:
        files["checkpointconfig.json"] = {"LocalPath": spec.checkpoint.local_path, "S3Uri": spec.checkpoint.s3_uri}
    for name, content in files.items():
        (config_dir / name).write_text(json.dumps(content))


def _channel_config(channel: Channel) -> dict[str, Any]:
    config = {"TrainingInputMode": channel.input_mode, "S3DistributionType": channel.s3_data_distribution_type,
              "RecordWrapperType": channel.record_wrapper_type}
    return config | ({"ContentType": channel.content_type} if channel.content_type is not None else {})


def _stage_channel(objects: ObjectStore, channel: Channel, target: Path, index: int, count: int) -> None:
    if channel.s3_data_source is None:
        raise StagingError(f"channel {channel.name}: only S3DataSource channels are supported")
    sources = sorted(input_sources(objects, channel.s3_data_source), key=lambda source: source.name)
    if channel.is_sharded:
        sources = sources[index::count]
    download(sources, target, f"channel {channel.name}")


def _submit_directory(hyperparameters: dict[str, str]) -> str | None:
    """sagemaker_submit_directory, JSON-decoded when the SDK encoded it."""
    raw = hyperparameters.get("sagemaker_submit_directory")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if isinstance(value, str) else raw
