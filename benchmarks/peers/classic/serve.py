"""Starts the classic bring-your-own serving stack and keeps it up until SIGTERM.

    .cache/peers/classic/bin/python benchmarks/peers/classic/serve.py --port P --model PATH --workers N --run-dir DIR

nginx (from the system, configured from nginx.conf.template into DIR) listens on 127.0.0.1:P and
proxies to gunicorn on a unix socket; gunicorn runs N sync workers of predictor:app, each
loading the joblib model at PATH: the layout of SageMaker's scikit_bring_your_own example container
(https://github.com/aws/amazon-sagemaker-examples/tree/main/advanced_functionality/scikit_bring_your_own).
Runs in the classic stack's own venv (requirements.txt). When either server exits, or on SIGTERM, both are
stopped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from contract import peer_arguments

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 60


def nginx_config(run_dir: Path, port: int, socket_path: Path) -> Path:
    text = (HERE / "nginx.conf.template").read_text()
    for name, value in {"RUN_DIR": run_dir, "PORT": port, "SOCKET": socket_path}.items():
        text = text.replace(f"@{name}@", str(value))
    config = run_dir / "nginx.conf"
    config.write_text(text)
    return config


def gunicorn_command(socket_path: Path, workers: int) -> list[str]:
    """gunicorn with N synchronous workers on a unix socket, as the classic containers start it."""
    return [sys.executable, "-m", "gunicorn", "--worker-class", "sync", "--workers", str(workers),
            "--timeout", str(TIMEOUT_S), "--bind", f"unix:{socket_path}", "--chdir", str(HERE), "predictor:app"]


def start(args: argparse.Namespace, socket_dir: Path) -> list[subprocess.Popen[bytes]]:
    run_dir = Path(args.run_dir).resolve()
    socket_path = socket_dir / "gunicorn.sock"
    config = nginx_config(run_dir, args.port, socket_path)
    env = os.environ | {"MODEL_PATH": str(Path(args.model).resolve())}
    gunicorn = subprocess.Popen(gunicorn_command(socket_path, args.workers), env=env)
    nginx = subprocess.Popen(["nginx", "-p", str(run_dir), "-e", str(run_dir / "nginx-error.log"), "-c", str(config)])
    return [nginx, gunicorn]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT if process is processes[0] else signal.SIGTERM)  # graceful, both
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> int:
    args = peer_arguments(__doc__.splitlines()[0])
    if shutil.which("nginx") is None:
        sys.exit("nginx is not installed: `make bench-serving` installs it (apt-get install nginx)")
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    # nginx's worker process runs as an unprivileged user when started by root: the socket's
    # directory must be reachable by it, wherever the run directory is
    with tempfile.TemporaryDirectory(prefix="classic-stack-") as socket_dir:
        os.chmod(socket_dir, 0o755)
        processes = start(args, Path(socket_dir))
        try:
            while not stopping and all(p.poll() is None for p in processes):
                time.sleep(0.2)
        finally:
            stop(processes)
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
