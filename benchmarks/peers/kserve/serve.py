"""KServe as a serving peer: kserve's ModelServer serving the joblib model as a `kserve.Model`, until SIGTERM.

    <kserve venv>/bin/python benchmarks/peers/kserve/serve.py --port P --model PATH --workers N --run-dir DIR

Becomes (exec, in DIR) KServe's model server, predictor.py, on KServe's own command line, so SIGTERM reaches KServe
itself: its handler stops the worker processes and the server exits. The model answers the v1 protocol:
`POST /v1/models/model:predict` with {"instances": [[...]]}, ready once `GET /v1/models/model` answers 200.
Configured for CPU serving with ModelServer's documented flags
(https://kserve.github.io/website/latest/python_runtime_api/docs/api/, the flags of kserve.model_server.parser):
- `--workers N`: N uvicorn worker processes started by spawn, sharing the listening socket, each with its copy of
  the model; the parent only supervises them (it restarts one that has not answered its ping within 5 s);
- uvicorn's event loop and HTTP parser left to `auto`, so uvloop and httptools, which kserve's uvicorn[standard]
  dependency installs;
- predict a plain function on the worker's event loop, as KServe's scikit-learn server has it; no batching (KServe
  batches in its Kubernetes agent, not in ModelServer);
- `--enable_grpc false`: the benchmark speaks REST, and gRPC would take port 8081;
- no log line per request, as with every peer: `--enable_latency_logging false`, and predictor.py's logging
  configuration (uvicorn's access log and the timing middleware's lines off).
ModelServer's REST server listens on 0.0.0.0 (it has no host option), which includes 127.0.0.1:P.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from contract import peer_arguments

HERE = Path(__file__).resolve().parent
MODEL_NAME = "model"


def kserve_command(args: argparse.Namespace) -> list[str]:
    return [sys.executable, str(HERE / "predictor.py"), "--model_name", MODEL_NAME,
            "--model_path", str(Path(args.model).resolve()), "--http_port", str(args.port),
            "--workers", str(args.workers), "--enable_grpc", "false", "--enable_latency_logging", "false"]


def main() -> None:
    args = peer_arguments(__doc__.splitlines()[0])
    command = kserve_command(args)
    os.chdir(args.run_dir)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
