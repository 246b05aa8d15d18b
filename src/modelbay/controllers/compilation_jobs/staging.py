"""Staging the compiler's host, and reading back what it left: its `/opt/ml` as the compiler program expects it.

The program (modelbay.container.neo, the compiler recipe's own) reads `/opt/ml/input/config/compilation.json`
and the model archive at `/opt/ml/input/data/model/model.tar.gz` (InputConfig.S3Uri's object as it is), and
writes the compiled model with its manifest into `/opt/ml/model/`, or the reason it failed into
`/opt/ml/output/failure`.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from modelbay.compilation_targets import Target
from modelbay.controllers.staging import StagingError
from modelbay.store.metadata.compilation_jobs import CompilationJobSpec
from modelbay.store.objects.base import ObjectStore, ObjectStoreError
from modelbay.store.objects.uris import S3Location, parse_uri

log = logging.getLogger(__name__)

CONFIG_FILE = "input/config/compilation.json"
MODEL_FILE = "input/data/model/model.tar.gz"
MODEL_DIR = "model"
FAILURE_FILE = "output/failure"
MANIFEST = "neo-manifest.json"  # container/compiled_models.MANIFEST: the compiled model's description


def stage_compiler(objects: ObjectStore, spec: CompilationJobSpec, target: Target, opt_ml: Path) -> None:
    """Fill `opt_ml` (emptied first, so staging again is harmless): the config, the model archive, and empty model
    and output directories. Raise StagingError, with a reason a person can act on, when the model cannot be read."""
    shutil.rmtree(opt_ml, ignore_errors=True)
    config = opt_ml / CONFIG_FILE
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps(compilation_config(spec, target)))
    _fetch(objects, spec.model_uri, opt_ml / MODEL_FILE)
    for directory in (MODEL_DIR, "output"):
        (opt_ml / directory).mkdir(exist_ok=True)


def compilation_config(spec: CompilationJobSpec, target: Target) -> dict[str, Any]:
    """compilation.json: the framework, the request's optional strings as given, and the resolved target."""
    optional = {"FrameworkVersion": spec.framework_version, "DataInputConfig": spec.data_input_config,
                "CompilerOptions": spec.compiler_options}
    return {"Framework": spec.framework, "Target": target.as_config()} | {
        key: value for key, value in optional.items() if value is not None}


def _fetch(objects: ObjectStore, uri: str, path: Path) -> None:
    """Copy the object at `uri` to `path`, as SageMaker downloads the model (StagingError if it cannot)."""
    try:
        location = parse_uri(uri)
    except ValueError as err:
        raise StagingError(f"ClientError: InputConfig.S3Uri {uri}: {err}") from err
    if not isinstance(location, S3Location) or not location.key or location.key.endswith("/"):
        raise StagingError(f"ClientError: InputConfig.S3Uri {uri} must name the model's .tar.gz object")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with objects.open(location.bucket, location.key) as raw, open(path, "wb") as out:
            shutil.copyfileobj(raw, out)
    except (ObjectStoreError, OSError) as err:
        raise StagingError(f"ClientError: Unable to download the model from InputConfig.S3Uri {uri}: "
                           f"{type(err).__name__}: {err}") from err


def failure_detail(opt_ml: Path) -> str:
    """What the compiler wrote to /opt/ml/output/failure ('' if nothing)."""
    failure = opt_ml / FAILURE_FILE
    return failure.read_text(errors="replace").strip() if failure.is_file() else ""


def read_manifest(opt_ml: Path) -> dict[str, Any] | None:
    """The compiled model's neo-manifest.json, or None when the compiler left none (or one that is no JSON object)."""
    path = opt_ml / MODEL_DIR / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("the compiler's manifest %s could not be read", path, exc_info=True)
        return None
    return manifest if isinstance(manifest, dict) else None
