"""Serves a scikit-learn model with LitServe until SIGTERM.

    <litserve venv>/bin/python benchmarks/peers/litserve/serve.py --port P --model PATH --workers N --run-dir DIR

A `litserve.LitAPI` (setup, decode_request, predict, encode_response) loads the joblib model at
PATH and answers `POST /predict` with `{"input": [...]}` by `{"output": <class>}`; `LitServer`
serves it on 127.0.0.1:P, its `/health` answering 200 once every worker has loaded the model
(https://lightning.ai/docs/litserve/api-reference/litapi,
https://lightning.ai/docs/litserve/api-reference/litserver).

Configured for CPU serving as LitServe documents it (LitServer's and LitServer.run's docstrings,
the reference pages above):
- accelerator="cpu", workers_per_device=N: N inference worker processes ("for CPU, set to the
  number of cores"); run()'s num_api_servers left to its default, as many uvicorn API server
  processes as inference workers ("recommended"), handing requests to the workers by queues;
- batching off: max_batch_size=1, LitAPI's default, given on the LitAPI where LitServe now takes it;
  the docs keep batching for "high-throughput systems where minimizing latency per request is less
  critical" (https://lightning.ai/docs/litserve/features/batching);
- fast_queue=True: ZeroMQ between API servers and workers, which the docs ask for above
  100 requests/s, the case here;
- uvicorn's event loop and HTTP parser are uvloop and httptools, which `pip install litserve` brings
  (uvicorn[standard]);
- run() as its "Production Configuration" example: log_level="warning", generate_client_file=False.

LitServe shuts down gracefully on KeyboardInterrupt, which SIGTERM raises here. Nothing is written to
DIR: LitServe keeps no files and logs to stderr.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from multiprocessing import resource_tracker
from types import FrameType

import joblib
import litserve
import numpy as np
import numpy.typing as npt
from contract import peer_arguments

STOP_TIMEOUT_S = 10


class Classifier(litserve.LitAPI):
    """One row in, its predicted class out."""

    def __init__(self, model_path: str) -> None:
        super().__init__(max_batch_size=1)
        self.model_path = model_path

    def setup(self, device: str) -> None:
        self.model = joblib.load(self.model_path)

    # no annotation on the request nor on the response, as in LitServe's examples: LitServe would make
    # them FastAPI's body and response models, validated on every call
    def decode_request(self, request):  # type: ignore[no-untyped-def]
        return np.asarray([request["input"]], dtype=float)

    def predict(self, rows: npt.NDArray[np.float64]) -> int:
        return int(self.model.predict(rows)[0])

    def encode_response(self, label: int):  # type: ignore[no-untyped-def]
        return {"output": label}


def interrupt_on_sigterm() -> None:
    """SIGTERM raises KeyboardInterrupt in this process, on which LitServe shuts down gracefully; processes
    forked from it (LitServe's API servers, whose uvicorn raises the signal again once it has stopped) exit."""
    main_pid = os.getpid()

    def on_sigterm(signum: int, _frame: FrameType | None) -> None:
        if os.getpid() == main_pid:
            raise KeyboardInterrupt
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)


def stop_children() -> None:
    """Stop whatever LitServe's shutdown left running, then multiprocessing's resource tracker (started for
    the spawned inference workers), which would otherwise end only after this process, unwaited for."""
    for child in multiprocessing.active_children():
        child.terminate()
        child.join(timeout=STOP_TIMEOUT_S)
        if child.is_alive():
            child.kill()
    resource_tracker._resource_tracker._stop()  # type: ignore[attr-defined]  # no public way to stop it and wait


def main() -> None:
    args = peer_arguments(__doc__.splitlines()[0])
    interrupt_on_sigterm()
    server = litserve.LitServer(Classifier(args.model), accelerator="cpu", workers_per_device=args.workers,
                                fast_queue=True)
    try:
        server.run(host="127.0.0.1", port=args.port, log_level="warning", generate_client_file=False)
    finally:
        stop_children()


if __name__ == "__main__":
    main()
