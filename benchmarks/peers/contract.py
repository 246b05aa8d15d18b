"""The command line every peer's serve.py takes, as benchmarks/serving.py starts it (issue 22's peer contract):

    serve.py --port P --model PATH/model.joblib --workers N --run-dir DIR

The runner puts this directory on the peer's PYTHONPATH, so that each serve.py, run by its own venv, reads it."""

from __future__ import annotations

import argparse


def peer_arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True, help="serve on 127.0.0.1:PORT")
    parser.add_argument("--model", required=True, help="the joblib model")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (or the peer's equivalent)")
    parser.add_argument("--run-dir", required=True, help="where the peer's files and logs go")
    return parser.parse_args()
