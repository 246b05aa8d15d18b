"""The training entrypoint of framework images: `python -m modelbay.container.train`.

Script mode as SageMaker's framework containers run it: stage a local `sagemaker_submit_directory`
into the code dir, install its `requirements.txt`, then run `sagemaker_program` with the
SM_* environment added and the user's hyperparameters as `--name value` arguments. The XGBoost
image given no program trains SageMaker's built-in XGBoost algorithm instead. Exits with
the program's exit code; on any failure writes the reason to `/opt/ml/output/failure` first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from modelbay.container import xgboost_algorithm
from modelbay.container.serving_env import FRAMEWORK_VAR
from modelbay.container.training_env import OptMl, read_training_env
from modelbay.container.user_program import (
    UserProgramError,
    entry_point_command,
    install_requirements,
    run_entry_point,
    stage_source,
)


def train(environ: Mapping[str, str]) -> int:
    """Run one training instance's user program; return the exit code for the process."""
    paths = OptMl.from_environ(environ)
    if warning := environ.get("MODELBAY_IMAGE_WARNING"):  # set by the platform when it substituted a version
        print(f"modelbay training toolkit: warning: {warning}", file=sys.stderr, flush=True)
    try:
        env = read_training_env(paths, environ)
        submit_directory = env.reserved.get("sagemaker_submit_directory")
        stage_source(None if submit_directory is None else str(submit_directory), paths.code_dir)
        child_env = {**environ, **env.to_env_vars()}
        install_requirements(paths.code_dir, child_env)
        if env.user_entry_point is None and environ.get(FRAMEWORK_VAR) == "xgboost":
            xgboost_algorithm.train(env)  # no script: SageMaker's built-in algorithm
            return 0
        command = entry_point_command(env.user_entry_point, paths.code_dir, env.user_args())
        run_entry_point(command, child_env, paths.code_dir)
    except UserProgramError as err:
        return _fail(paths, str(err), err.exit_code)
    except Exception as err:  # the failure file is the job's only way to say why it ended
        return _fail(paths, f"Framework Error: {type(err).__name__}: {err}", 1)
    return 0


def _fail(paths: OptMl, reason: str, exit_code: int) -> int:
    """Write `reason` to the failure file (and stderr); return `exit_code`."""
    print(f"modelbay training toolkit: {reason}", file=sys.stderr, flush=True)
    try:
        paths.output_dir.mkdir(parents=True, exist_ok=True)
        paths.failure_file.write_text(reason + "\n")
    except OSError as err:
        print(f"modelbay training toolkit: could not write {paths.failure_file}: {err}", file=sys.stderr)
    return exit_code


if __name__ == "__main__":
    sys.exit(train(os.environ))
