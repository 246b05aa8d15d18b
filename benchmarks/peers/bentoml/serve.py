"""Serves a scikit-learn model with BentoML until SIGTERM.

    <bentoml venv>/bin/python benchmarks/peers/bentoml/serve.py --port P --model PATH --workers N --run-dir DIR

Becomes (exec) `bentoml serve service:Classifier`, BentoML's documented way to run a Service
(https://docs.bentoml.com/en/latest/build-with-bentoml/services.html): its arbiter listens on
127.0.0.1:P and runs N worker processes of the Service in service.py (`workers=N`,
https://docs.bentoml.com/en/latest/build-with-bentoml/parallelize-requests.html), each loading
the joblib model at PATH. On SIGTERM the arbiter stops its workers and exits.

Configured for CPU serving as BentoML documents it, nothing more: `bentoml serve` is its
production server (the `--production` flag is deprecated, production being the default); the
API is a sync method, which BentoML runs in the worker's thread pool (`threads`, 1 by default)
rather than on the event loop; adaptive batching is off, as it is unless an API asks for it
(https://docs.bentoml.com/en/latest/get-started/adaptive-batching.html); the other settings
keep their defaults (https://docs.bentoml.com/en/latest/reference/bentoml/configurations.html),
access logging and Prometheus metrics included. Each worker's uvicorn picks its event loop and
HTTP parser itself ("auto"); BentoML's docs recommend neither uvloop nor httptools, so the venv
has what `pip install bentoml` brings: asyncio and h11. BentoML's home (its stores and
temporary files) is DIR/bentoml, and its usage tracking is off (this machine is offline).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from contract import peer_arguments

HERE = Path(__file__).resolve().parent


def bentoml_command(args: argparse.Namespace) -> list[str]:
    model = Path(args.model).resolve()
    return [sys.executable, "-m", "bentoml", "serve", "service:Classifier", "--working-dir", str(HERE),
            "--host", "127.0.0.1", "--port", str(args.port), "--arg", f"model={model}",
            "--arg", f"workers={args.workers}"]


def main() -> None:
    args = peer_arguments(__doc__.splitlines()[0])
    env = os.environ | {"BENTOML_HOME": str(Path(args.run_dir).resolve() / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    command = bentoml_command(args)
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
