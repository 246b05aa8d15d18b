"""The model server of framework images: `python -m modelbay.container.serve`.

Serves the model in `/opt/ml/model` as SageMaker's framework containers do (CONTRACT.md section 3):
`GET /ping` and `POST /invocations` on SAGEMAKER_BIND_TO_PORT (every interface), answered by worker
processes that each load the model with the user's entry point (SAGEMAKER_PROGRAM) over the
framework's default handlers (MODELBAY_FRAMEWORK). serving_env.py lists the variables read.
Exits 0 when stopped (SIGTERM), non-zero when the model cannot be loaded, the reason last on stderr.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from modelbay.container.model_server import Supervisor
from modelbay.container.serving_env import ServingEnv, configure_logging
from modelbay.container.user_program import install_requirements, local_source, stage_source


def serve(environ: Mapping[str, str]) -> int:
    """Run the model server until it is stopped; return the exit code for the process."""
    env = ServingEnv.from_environ(environ)
    configure_logging(env.log_level)
    if warning := environ.get("MODELBAY_IMAGE_WARNING"):  # set by the platform when it substituted a version
        print(f"modelbay model server: warning: {warning}", file=sys.stderr, flush=True)
    supervisor = Supervisor(env, lambda: prepare_code(env, environ))
    exit_code = asyncio.run(supervisor.run())
    if supervisor.failure is not None:  # one line, last: the platform shows it as the FailureReason
        print(f"modelbay model server: {' '.join(supervisor.failure.split())}", file=sys.stderr, flush=True)
    return exit_code


def prepare_code(env: ServingEnv, environ: Mapping[str, str]) -> Path | None:
    """Stage the user's source dir and install its requirements.txt; return the dir holding the entry
    point, or None without one (the framework's defaults serve alone).

    The source dir is SAGEMAKER_SUBMIT_DIRECTORY, used in place when it is a local directory and
    unpacked into the code dir when a tarball (a remote one the platform has put there already);
    failing that, `<model dir>/code`, where SageMaker's SDK packs it into model.tar.gz.
    Raises UserProgramError."""
    if env.program is None:
        return None
    candidates = [env.model_dir / "code"]
    source = local_source(env.submit_directory)
    if source is not None and source.is_dir():
        candidates.insert(0, source)
    elif env.submit_directory is not None:
        stage_source(env.submit_directory, env.code_dir)
        candidates.insert(0, env.code_dir)
    code_dir = next((d for d in candidates if (d / env.program).is_file()), candidates[0])
    install_requirements(code_dir, environ)
    return code_dir


if __name__ == "__main__":
    sys.exit(serve(os.environ))
