"""The serving environment as a framework container's model server sees it (CONTRACT.md section 3).

Read from environment variables, standard library only:
- SAGEMAKER_BIND_TO_PORT (8080), SAGEMAKER_MODEL_SERVER_WORKERS (default: MODELBAY_NUM_CPUS, else
  this machine's CPU count), SAGEMAKER_MODEL_SERVER_TIMEOUT (60 s), SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT
  (application/json), SAGEMAKER_CONTAINER_LOG_LEVEL (a `logging` level number, 20 = INFO);
- SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY: the user's entry point and its source dir;
- MODELBAY_FRAMEWORK: whose default handlers serve the model (`sklearn`, `xgboost`, `pytorch`, `neo` for
  compiled models (compiled_handler.py), or `python`, the default), set by the platform from the image;
- MODELBAY_BIND_HOST: the address to listen on (every interface, as SageMaker's containers; the platform
  says the loopback where instances share the host's network);
- MODELBAY_HANDOFF: 1 to take the connections the front door hands over (handoff.py);
- MODELBAY_WORKER_SLICE_MS: the longest scheduler slice a worker whose requests are long asks for (20 ms; 0 keeps
  the kernel's, see cpu_slice.py);
- the model dir `/opt/ml/model` and code dir `/opt/ml/code`, relocated as training_env.OptMl allows.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from modelbay.container.content_types import JSON
from modelbay.container.handoff import HANDOFF_VAR, socket_path
from modelbay.container.training_env import NUM_CPUS_VAR, OptMl, read_count

BIND_HOST_VAR = "MODELBAY_BIND_HOST"  # where to listen: SageMaker's containers listen on every interface
FRAMEWORK_VAR = "MODELBAY_FRAMEWORK"
SLICE_VAR = "MODELBAY_WORKER_SLICE_MS"
SLICE_MS = 20  # a predict of a few ms runs whole, not cut every 1.4 ms (cpu_slice.py)


@dataclass(frozen=True)
class ServingEnv:
    framework: str
    host: str
    port: int
    workers: int
    timeout_s: int
    slice_ms: int
    handoff_address: str | None
    default_accept: str
    log_level: int
    program: str | None
    submit_directory: str | None
    model_dir: Path
    code_dir: Path  # where a source dir given as a tarball is unpacked

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ServingEnv:
        paths = OptMl.from_environ(environ)
        cpus = read_count(environ, NUM_CPUS_VAR, os.cpu_count() or 1)
        port = read_count(environ, "SAGEMAKER_BIND_TO_PORT", 8080)
        return cls(
            framework=environ.get(FRAMEWORK_VAR) or "python", host=environ.get(BIND_HOST_VAR) or "0.0.0.0",
            port=port,
            workers=max(1, read_count(environ, "SAGEMAKER_MODEL_SERVER_WORKERS", cpus)),
            timeout_s=max(1, read_count(environ, "SAGEMAKER_MODEL_SERVER_TIMEOUT", 60)),
            slice_ms=read_count(environ, SLICE_VAR, SLICE_MS),
            handoff_address=socket_path(paths.model_dir.parent) if environ.get(HANDOFF_VAR) == "1" else None,
            default_accept=environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or JSON,
            log_level=read_count(environ, "SAGEMAKER_CONTAINER_LOG_LEVEL", logging.INFO),
            program=environ.get("SAGEMAKER_PROGRAM") or None,
            submit_directory=environ.get("SAGEMAKER_SUBMIT_DIRECTORY") or None,
            model_dir=paths.model_dir,
            code_dir=paths.code_dir,
        )


def configure_logging(level: int) -> None:
    """The model server's processes log to stderr, each line naming its process."""
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")
