"""Staging a serving instance: one model container's `/opt/ml` (CONTRACT.md section 3).

SageMaker downloads and unpacks `ModelDataUrl` into `/opt/ml/model` before it starts the
container. A source dir named by `SAGEMAKER_SUBMIT_DIRECTORY` in S3 is unpacked here too, into
`/opt/ml/code` (the inference toolkit would fetch it itself, with credentials an instance here does
not hold); the variable keeps its S3 URI, as on SageMaker, and the toolkit finds the copy in its code
dir. A host path would not do: a container does not see the host's files, only its `/opt/ml`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from modelbay.controllers.staging import unpack_archive
from modelbay.runtime.sandbox import opt_ml_layout
from modelbay.store.objects.base import ObjectStore

SUBMIT_DIRECTORY = "SAGEMAKER_SUBMIT_DIRECTORY"


def stage_container(objects: ObjectStore, container: dict[str, Any], opt_ml: Path) -> dict[str, str]:
    """Fill `opt_ml` (emptied first) for one model container; return the container's environment.

    Raise StagingError with a reason a person can act on."""
    shutil.rmtree(opt_ml, ignore_errors=True)
    opt_ml_layout(opt_ml)
    if model_data := container.get("ModelDataUrl"):
        unpack_archive(objects, model_data, opt_ml / "model", "ModelDataUrl")
    env: dict[str, str] = dict(container.get("Environment", {}))
    submit = env.get(SUBMIT_DIRECTORY, "")
    if submit.startswith("s3://"):
        unpack_archive(objects, submit, opt_ml / "code", SUBMIT_DIRECTORY)
    return env
