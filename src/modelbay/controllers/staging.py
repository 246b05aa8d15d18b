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
import tarfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from modelbay.runtime.sandbox import opt_ml_layout
from modelbay.store.objects.base import ObjectStore, ObjectStoreError
from modelbay.store.objects.uris import FileLocation, S3Location, parse_uri

NETWORK_INTERFACE = "eth0"


class StagingError(Exception):
    """The job's inputs could not be staged; the message is the job's FailureReason."""


@dataclass(frozen=True)
class Source:
    """One input object: its name (relative to the prefix, or as the manifest lists it), where it is (for
    messages) and how to open it."""

    name: str
    uri: str
    open: Callable[[], AbstractContextManager[BinaryIO]]


def host_names(count: int) -> list[str]:
    """algo-1 … algo-<count>."""
    return [f"algo-{n}" for n in range(1, count + 1)]


def stage_host(objects: ObjectStore, request: dict[str, Any], opt_ml: Path, host: str) -> None:
    """Fill `opt_ml` (emptied first, so staging again is harmless) for `host` of the job whose
    CreateTrainingJob request is `request`. Raise StagingError with a reason a person can act on."""
    shutil.rmtree(opt_ml, ignore_errors=True)
    opt_ml_layout(opt_ml)
    hosts = host_names(request["ResourceConfig"]["InstanceCount"])
    write_configs(request, opt_ml / "input/config", host, hosts)
    for channel in request.get("InputDataConfig", []):
        _stage_channel(objects, channel, opt_ml / "input/data" / channel["ChannelName"], hosts.index(host), len(hosts))
    submit = _submit_directory(request.get("HyperParameters", {}))
    if submit is not None and submit.startswith("s3://"):
        unpack_archive(objects, submit, opt_ml / "code", "sagemaker_submit_directory")


def write_configs(request: dict[str, Any], config_dir: Path, host: str, hosts: Sequence[str]) -> None:
    """hyperparameters.json (every value a string), resourceconfig.json, inputdataconfig.json and,
    when CheckpointConfig is set, checkpointconfig.json."""
    mode = request["AlgorithmSpecification"].get("TrainingInputMode", "File")
    files: dict[str, Any] = {
        "hyperparameters.json": {key: str(value) for key, value in request.get("HyperParameters", {}).items()},
        "resourceconfig.json": {"current_host": host, "hosts": list(hosts),
                                "current_instance_type": request["ResourceConfig"]["InstanceType"],
                                "network_interface_name": NETWORK_INTERFACE},
        "inputdataconfig.json": {channel["ChannelName"]: _channel_config(channel, mode)
                                 for channel in request.get("InputDataConfig", [])},
    }
    if "CheckpointConfig" in request:
        checkpoint = request["CheckpointConfig"]
        files["checkpointconfig.json"] = {"LocalPath": checkpoint.get("LocalPath", "/opt/ml/checkpoints"),
                                          "S3Uri": checkpoint["S3Uri"]}
    for name, content in files.items():
        (config_dir / name).write_text(json.dumps(content))


def _channel_config(channel: dict[str, Any], mode: str) -> dict[str, Any]:
    s3 = channel.get("DataSource", {}).get("S3DataSource", {})
    config = {"TrainingInputMode": channel.get("InputMode", mode),
              "S3DistributionType": s3.get("S3DataDistributionType", "FullyReplicated"),
              "RecordWrapperType": channel.get("RecordWrapperType", "None")}
    return config | ({"ContentType": channel["ContentType"]} if "ContentType" in channel else {})


def _stage_channel(objects: ObjectStore, channel: dict[str, Any], target: Path, index: int, count: int) -> None:
    s3 = channel.get("DataSource", {}).get("S3DataSource")
    if s3 is None:
        raise StagingError(f"channel {channel['ChannelName']}: only S3DataSource channels are supported")
    sources = sorted(input_sources(objects, s3), key=lambda source: source.name)
    if s3.get("S3DataDistributionType") == "ShardedByS3Key":
        sources = sources[index::count]
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        path = target / source.name
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with source.open() as raw, open(path, "wb") as out:
                shutil.copyfileobj(raw, out)
        except (ObjectStoreError, OSError) as err:
            raise StagingError(f"ClientError: Data download failed for channel {channel['ChannelName']}, "
                               f"{source.name}: {type(err).__name__}: {err}") from err


def input_sources(objects: ObjectStore, s3: dict[str, Any]) -> Iterator[Source]:
    """The objects an S3DataSource names: every object under its S3Prefix (or file:// directory), or those
    its ManifestFile lists. Raise StagingError when they cannot be listed or the manifest read."""
    location = _location(s3["S3Uri"])
    if s3.get("S3DataType", "S3Prefix") == "ManifestFile":
        yield from _manifest_sources(objects, location)
    elif isinstance(location, FileLocation):
        yield from (Source(str(p.relative_to(location.path)), p.as_uri(), _file_opener(p))
                    for p in location.path.rglob("*") if p.is_file())
    else:
        yield from (Source(_name_under(location.key, key), f"s3://{location.bucket}/{key}",
                           _object_opener(objects, location.bucket, key))
                    for key in _keys(objects, location))


def _manifest_sources(objects: ObjectStore, location: S3Location | FileLocation) -> Iterator[Source]:
    try:
        with _opener(objects, location)() as raw:
            manifest = json.load(raw)
    except (ObjectStoreError, OSError, ValueError) as err:
        raise StagingError(f"ClientError: manifest {location} could not be read: {type(err).__name__}: {err}") from err
    prefix = _location(manifest[0]["prefix"])
    for relative in manifest[1:]:
        if isinstance(prefix, FileLocation):
            yield Source(relative, (prefix.path / relative).as_uri(), _file_opener(prefix.path / relative))
        else:
            yield Source(relative, f"s3://{prefix.bucket}/{prefix.key}{relative}",
                         _object_opener(objects, prefix.bucket, prefix.key + relative))


def _keys(objects: ObjectStore, location: S3Location) -> Iterator[str]:
    after = ""
    while True:
        try:
            page = objects.list(location.bucket, prefix=location.key, start_after=after)
        except ObjectStoreError as err:
            raise StagingError(f"ClientError: Data download failed: {location}: {type(err).__name__}") from err
        yield from (info.key for info in page.objects if not info.key.endswith("/"))
        if not page.is_truncated or not page.objects:
            return
        after = page.objects[-1].key


def _name_under(prefix: str, key: str) -> str:
    """The key's part after the prefix (a `/` separating them dropped); the base name for the prefix itself."""
    return key[len(prefix):].lstrip("/") or key.rsplit("/", 1)[-1]


def _location(uri: str) -> S3Location | FileLocation:
    try:
        return parse_uri(uri)
    except ValueError as err:
        raise StagingError(str(err)) from err


Opener = Callable[[], AbstractContextManager[BinaryIO]]


def _opener(objects: ObjectStore, location: S3Location | FileLocation) -> Opener:
    if isinstance(location, FileLocation):
        return _file_opener(location.path)
    return _object_opener(objects, location.bucket, location.key)


def _file_opener(path: Path) -> Opener:
    return lambda: open(path, "rb")


def _object_opener(objects: ObjectStore, bucket: str, key: str) -> Opener:
    return lambda: cast(AbstractContextManager[BinaryIO], objects.open(bucket, key))


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


def unpack_archive(objects: ObjectStore, uri: str, target: Path, what: str) -> None:
    """Stream the (gzipped) tar at `uri` (s3:// or file://) into `target`; `what` names it in errors."""
    try:
        with _opener(objects, _location(uri))() as raw, tarfile.open(fileobj=raw, mode="r|*") as archive:
            archive.extractall(target, filter="data")
    except (ObjectStoreError, tarfile.TarError, OSError) as err:
        raise StagingError(f"ClientError: {what} {uri} could not be unpacked: {type(err).__name__}: {err}") from err
