"""MLServer as a serving peer: `mlserver start` serving the joblib model with mlserver-sklearn, until SIGTERM.

    <mlserver venv>/bin/python benchmarks/peers/mlserver/serve.py --port P --model PATH --workers N --run-dir DIR

Writes MLServer's settings.json and the model's model-settings.json (implementation mlserver_sklearn.SKLearnModel,
its uri the joblib file) into DIR, then becomes (exec, in DIR) `mlserver start DIR`, so SIGTERM reaches MLServer
itself: its handler closes the inference pool, stopping its workers, and the servers, and it exits. The model
answers the V2 inference protocol: `POST /v2/models/model/infer` with one FP64 input of shape [1, 20], ready once
`GET /v2/models/model/ready` answers 200.
Configured for CPU serving as MLServer's documentation describes it
(https://mlserver.readthedocs.io/en/latest/reference/settings.html):
- parallel inference, `parallel_workers` N in settings.json: N inference worker processes, each with the model
  loaded, fed by the main process, which runs the HTTP server
  (https://mlserver.readthedocs.io/en/latest/user-guide/parallel-inference.html; the page warns that the
  inter-process hop is noticeable for light models, where `parallel_workers` 0 would predict in the main process);
- adaptive batching off, MLServer's default (`max_batch_size` 0), since each request is one row and latency counts
  (https://mlserver.readthedocs.io/en/latest/user-guide/adaptive-batching.html);
- uvloop, which MLServer installs and its CLI makes the event loop policy, and httptools, which MLServer does not
  install but its uvicorn server uses when present (uvicorn's `http="auto"`): pinned in requirements.txt;
- `debug` false: no access log line per request, as with every peer (MLServer's default, true, logs each request);
- Prometheus metrics and gRPC left on, as by default (MLServer cannot turn its gRPC server off), each on a port
  of its own found free here, so that several servers can run side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from contract import peer_arguments

MODEL_NAME = "model"
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def server_settings(args: argparse.Namespace) -> dict[str, Any]:
    """settings.json: https://mlserver.readthedocs.io/en/latest/reference/settings.html"""
    return {"debug": False, "host": LOOPBACK, "http_port": args.port, "grpc_port": free_port(),
            "metrics_port": free_port(), "parallel_workers": args.workers}


def model_settings(args: argparse.Namespace) -> dict[str, Any]:
    """model-settings.json: https://mlserver.readthedocs.io/en/latest/reference/model-settings.html"""
    return {"name": MODEL_NAME, "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": str(Path(args.model).resolve())}}


def main() -> None:
    args = peer_arguments(__doc__.splitlines()[0])
    run_dir = Path(args.run_dir).resolve()
    (run_dir / MODEL_NAME).mkdir(exist_ok=True)
    (run_dir / "settings.json").write_text(json.dumps(server_settings(args)))
    (run_dir / MODEL_NAME / "model-settings.json").write_text(json.dumps(model_settings(args)))
    os.chdir(run_dir)  # MLServer keeps its metrics and environments under the working directory
    mlserver = str(Path(sys.executable).parent / "mlserver")
    os.execv(mlserver, [mlserver, "start", str(run_dir)])


if __name__ == "__main__":
    main()
