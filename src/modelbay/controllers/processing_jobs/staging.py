"""Staging a processing host: its config files and inputs under the instance's `/opt/ml`, and uploading its outputs.

A LocalPath (always under /opt/ml/processing, as the service checks) is the same path inside the
instance directory, which the instance sees as /opt/ml. Inputs are copied in File mode: every
object under an S3Prefix (or file:// directory), or those a ManifestFile lists; `ShardedByS3Key`
gives host i (0-based) of n every n-th object in key order. Outputs are uploaded file by file
under their S3Uri once the job has ended (Continuous uploads at the end too).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from modelbay.controllers.host_jobs import host_names
from modelbay.controllers.staging import download, input_sources
from modelbay.controllers.uploads import put_stream
from modelbay.store.metadata.processing_jobs import ProcessingJob, ProcessingOutput
from modelbay.store.objects.base import DataKeys, ObjectStore

OPT_ML = PurePosixPath("/opt/ml")
NETWORK_INTERFACE = "eth0"


def inside(opt_ml: Path, local_path: str) -> Path:
    """Where a LocalPath of the instance lies in its directory `opt_ml`."""
    return opt_ml / PurePosixPath(local_path).relative_to(OPT_ML)


def stage_host(objects: ObjectStore, job: ProcessingJob, opt_ml: Path, host: str) -> None:
    """Fill `opt_ml` (emptied first, so staging again is harmless) for `host`: config files, inputs, and the
    outputs' empty directories. Raise StagingError with a reason a person can act on."""
    shutil.rmtree(opt_ml, ignore_errors=True)
    hosts = host_names(job.spec.instance_count)
    write_configs(job, opt_ml / "config", host, hosts)
    index = hosts.index(host)
    for given in job.spec.inputs:
        sources = sorted(input_sources(objects, given.s3_input), key=lambda source: source.name)
        download(sources[index::len(hosts)] if given.is_sharded else sources, inside(opt_ml, given.local_path),
                 f"input {given.name}")
    for output in job.spec.outputs:
        inside(opt_ml, output.local_path).mkdir(parents=True, exist_ok=True)


def write_configs(job: ProcessingJob, config_dir: Path, host: str, hosts: list[str]) -> None:
    """resourceconfig.json and processingjobconfig.json, as SageMaker writes them in /opt/ml/config."""
    config_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {
        "resourceconfig.json": {"current_host": host, "hosts": hosts,
                                "current_instance_type": job.spec.instance_type,
                                "network_interface_name": NETWORK_INTERFACE},
        "processingjobconfig.json": {"ProcessingJobArn": job.arn, "ProcessingJobName": job.name} | job.request,
    }
    for name, content in files.items():
        (config_dir / name).write_text(json.dumps(content))


def upload_outputs(objects: ObjectStore, outputs: tuple[ProcessingOutput, ...], opt_ml: Path,
                   kms_key_id: str | None = None, keys: DataKeys | None = None) -> None:
    """Every file under each output's LocalPath, at its S3Uri followed by the file's path relative to it; written
    SSE-KMS under `kms_key_id` (ProcessingOutputConfig.KmsKeyId) if given (uploads.put_stream)."""
    for output in outputs:
        directory = inside(opt_ml, output.local_path)
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            with open(path, "rb") as data:
                put_stream(objects, data, f"{output.s3_uri.rstrip('/')}/{path.relative_to(directory).as_posix()}",
                           "application/octet-stream", kms_key_id, keys)
