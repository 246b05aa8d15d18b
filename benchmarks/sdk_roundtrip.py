"""The SageMaker Python SDK's train → deploy → predict → delete for examples/sdk_sklearn.py, timed by phase.

    .venv/bin/python benchmarks/sdk_roundtrip.py [RUNS]

Starts a private server, points the process at it exactly as `eval "$(modelbay env)"` does, makes sure the
scikit-learn 1.2-1 environment is built (warm, as the target says), then runs the example's own phases RUNS
times (default 3) in each of two ways of deploying:
- `deploy()` as most scripts call it. The SDK sleeps 30 s before its first DescribeEndpoint, whatever
  the endpoint does (sagemaker.session._wait_until), so this phase can never be shorter than 30 s;
- `estimator.create_model().deploy(endpoint_logging=True)`, the SDK's own option that streams the
  endpoint's CloudWatch log while it waits, polling every 10 s instead.
Phases: upload (Session.upload_data), job (Estimator.fit, with its log streaming), endpoint up
(Estimator.deploy), first prediction, delete (endpoint and model). Beside the SDK's wall times it prints
what the server itself took: CreateTrainingJob → TrainingEndTime and CreateEndpoint → InService, so the
SDK's own polling can be told apart from modelbay's work. Prints medians and whether the 20 s target is met.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from modelbay.sdk.local_server import local_server

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 20.0
PHASES = ("upload", "job", "endpoint up", "first prediction", "delete")
T = TypeVar("T")


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sdk_sklearn", ROOT / "examples" / "sdk_sklearn.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def point_at(url: str, home: Path) -> None:
    """This process's environment as after `eval "$(modelbay env --url URL)"` (before the SDK is imported)."""
    env = {**os.environ, "HOME": str(home)}
    exports = subprocess.run([sys.executable, "-m", "modelbay", "env", "--url", url], capture_output=True,
                             text=True, env=env, check=True).stdout
    for line in exports.splitlines():
        name, value = line.removeprefix("export ").split("=", 1)
        os.environ[name] = shlex.split(value)[0]
    os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"


def timed(times: dict[str, float], phase: str, call: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = call()
    times[phase] = time.perf_counter() - start
    return result


def round_trip(example: ModuleType, endpoint_logging: bool) -> tuple[dict[str, float], dict[str, float]]:
    """One train → deploy → predict → delete; (the SDK's phase times, the server's own times)."""
    import sagemaker

    session, rows, times = sagemaker.Session(), example.dataset(), {}
    uri = timed(times, "upload", lambda: example.upload(session, "train.csv", rows))
    estimator = timed(times, "job", lambda: example.train(session, uri))
    predictor = timed(times, "endpoint up", lambda: deploy(example, estimator, endpoint_logging))
    timed(times, "first prediction", lambda: predictor.predict(rows[:1, 1:]))
    server = server_times(session.sagemaker_client, estimator.latest_training_job.name, predictor.endpoint_name)
    timed(times, "delete", lambda: (predictor.delete_model(), predictor.delete_endpoint()))
    return times, server


def deploy(example: ModuleType, estimator: Any, endpoint_logging: bool) -> Any:
    """Estimator.deploy(), or the same through its Model, whose deploy() is the one taking endpoint_logging."""
    if not endpoint_logging:
        return example.deploy(estimator)
    return estimator.create_model().deploy(initial_instance_count=1, instance_type=example.INSTANCE_TYPE,
                                           endpoint_logging=True)


def server_times(client: Any, job: str, endpoint: str) -> dict[str, float]:
    described = client.describe_training_job(TrainingJobName=job)
    status = client.describe_endpoint(EndpointName=endpoint)
    return {"job": (described["TrainingEndTime"] - described["CreationTime"]).total_seconds(),
            "endpoint up": (status["LastModifiedTime"] - status["CreationTime"]).total_seconds()}


def report(label: str, runs: list[tuple[dict[str, float], dict[str, float]]]) -> float:
    median = {phase: statistics.median(sdk[phase] for sdk, _ in runs) for phase in PHASES}
    served = {phase: statistics.median(server[phase] for _, server in runs) for phase in ("job", "endpoint up")}
    total = statistics.median(sum(sdk.values()) for sdk, _ in runs)
    print(f"\n{label}: median of {len(runs)} round trips")
    for phase in PHASES:
        extra = f"   (modelbay itself: {served[phase]:6.2f} s)" if phase in served else ""
        print(f"  {phase:<17} {median[phase]:6.2f} s{extra}")
    print(f"  {'whole round trip':<17} {total:6.2f} s   target < {TARGET_S:.0f} s: "
          f"{'met' if total < TARGET_S else 'not met'}")
    return total


def main(runs: int) -> None:
    with local_server() as server:
        point_at(server.url, server.data_dir)
        example = load_example()
        print(f"server {server.url}; warming the scikit-learn environment with one untimed round trip")
        round_trip(example, endpoint_logging=True)
        for label, logging in (("estimator.deploy()", False), ("model.deploy(endpoint_logging=True)", True)):
            report(label, [round_trip(example, logging) for _ in range(runs)])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=int, nargs="?", default=3, help="round trips per way of deploying (default 3)")
    main(parser.parse_args().runs)
