"""The SageMaker Python SDK v2, unchanged, after `eval "$(modelbay env)"` and nothing else.

The examples run as users run them, in a subprocess with the shell a user has. One runs in a network
namespace of its own with only loopback up, its server beside it, and an audit hook that records every
address the Python processes look up or connect to: nothing may reach for AWS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelbay.runtime.environments import FrameworkEnvironments
from modelbay.runtime.frameworks import choose
from modelbay.runtime.network import DEFAULT_SUBNET
from tests.conftest import client
from tests.helpers import SHARED_ENVIRONMENTS, ServerProcess, modelbay_server, user_shell, wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LOOPBACK = ("127.0.0.1", "localhost", "::1")

# Records, for every Python process that starts with it on its path, each address looked up or connected to that
# is neither loopback nor an instance's (instance networks are on this machine: runtime/network.py). Unix sockets
# (a str address) are local by nature.
AUDIT_HOOK = f"""
import ipaddress, os, sys
def _on_this_machine(host):
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network({str(DEFAULT_SUBNET)!r})
    except ValueError:
        return False
def _record(event, args):
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect" and isinstance(args[1], tuple):
        host = args[1][0]
    else:
        return
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host not in {LOOPBACK!r} and not _on_this_machine(host):
        with open(os.environ["OUTSIDE_LOG"], "a") as log:
            log.write(f"{{event}} {{host}} pid={{os.getpid()}} argv={{sys.argv[:2]}}\\n")
sys.addaudithook(_record)
"""

# A fresh server inside the namespace, then the example exactly as a user runs it.
IN_NAMESPACE = """
set -euo pipefail
ip link set lo up
"$PYTHON" -m modelbay server --port 0 --data-dir "$DATA" --address-file "$DATA/address" --quiet 2>"$DATA/server.log" &
trap 'kill $!' EXIT
for _ in $(seq 600); do [ -s "$DATA/address" ] && break; sleep 0.1; done
eval "$("$PYTHON" -m modelbay env --url "$(cat "$DATA/address")")"
"$PYTHON" "$EXAMPLE"
"""


def run(env: dict[str, str], *command: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, env=env | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"},
                          timeout=timeout_s)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done


def printed(output: str, label: str) -> Any:
    """The value the example printed after `label: ` (a line may start with the SDK's progress marks, `!`)."""
    value, = [line.split(f"{label}: ", 1)[1] for line in output.splitlines() if f"{label}: " in line]
    return json.loads(value.replace("'", '"'))


def remaining_endpoints(sagemaker: Any, prefix: str) -> list[str]:
    return [e["EndpointName"] for e in sagemaker.list_endpoints(NameContains=prefix)["Endpoints"]]


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of the examples' own: the SDK finds no default bucket yet and creates it."""
    with modelbay_server(tmp_path_factory.mktemp("sdk-server")) as server:
        yield server


@pytest.fixture(scope="module")
def sagemaker(fresh_server: ServerProcess) -> Any:
    return client(fresh_server.url, "sagemaker")


@pytest.fixture(scope="module")
def warm_sklearn() -> None:
    """The scikit-learn 1.2-1 environment built beforehand: a namespace with no network cannot download it."""
    FrameworkEnvironments(SHARED_ENVIRONMENTS).ensure(choose("sklearn", "1.2-1").recipe)


@pytest.mark.skipif(shutil.which("unshare") is None or shutil.which("ip") is None, reason="needs util-linux, iproute2")
def test_the_sklearn_example_runs_end_to_end_with_nothing_but_loopback(warm_sklearn: None, tmp_path: Path) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(AUDIT_HOOK)
    outside, data = tmp_path / "outside.log", tmp_path / "data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODELBAY_", "SAGEMAKER_"))}
    env |= {"HOME": str(tmp_path), "PYTHONPATH": str(hook), "OUTSIDE_LOG": str(outside), "DATA": str(data),
            "PYTHON": sys.executable, "EXAMPLE": str(EXAMPLES / "sdk_sklearn.py"),
            "MODELBAY_ENVIRONMENTS_DIR": str(SHARED_ENVIRONMENTS),
            "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    namespace = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--net", "--map-root-user"]
    done = run(env, *namespace, "bash", "-c", IN_NAMESPACE)
    assert not outside.exists(), outside.read_text()
    assert "default bucket: sagemaker-us-east-1-000000000000" in done.stdout  # from the defaults file, not STS
    expected = printed(done.stdout, "expected")
    for way in ("csv", "json", "numpy"):
        assert printed(done.stdout, f"predicted ({way})") == pytest.approx(expected, abs=0.05)
    assert len(printed(done.stdout, "batch transform")) == 5
    assert done.stdout.rstrip().endswith("done")
    assert "train:r2=" in done.stdout + done.stderr  # the job's log, streamed by fit()


def test_the_xgboost_example(fresh_server: ServerProcess, tmp_path: Path) -> None:
    done = run(user_shell(fresh_server.url, tmp_path), sys.executable, str(EXAMPLES / "sdk_xgboost.py"))
    expected = printed(done.stdout, "expected")
    assert printed(done.stdout, "script mode predicted") == pytest.approx(expected, abs=0.2)
    assert printed(done.stdout, "built-in algorithm predicted") == pytest.approx(expected, abs=0.2)
    assert "validation-rmse:" in done.stdout + done.stderr
    # the example's server, whose endpoints end Deleting: DeleteEndpoint answers before they are gone
    sagemaker = client(fresh_server.url, "sagemaker")
    wait_until(lambda: remaining_endpoints(sagemaker, "sagemaker-xgboost") == [], timeout_s=60,
               what="the example's endpoints to be deleted")


PYTORCH_SCRIPT = """
    import argparse, glob, os
    import numpy as np, torch

    def model_fn(model_dir):
        model = torch.nn.Linear(2, 1)
        model.load_state_dict(torch.load(os.path.join(model_dir, "model.pth")))
        return model.eval()

    if __name__ == "__main__":
        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int)
        args = parser.parse_args()
        files = glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*.csv"))
        rows = torch.tensor(np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files]), dtype=torch.float32)
        model, loss_fn = torch.nn.Linear(2, 1), torch.nn.MSELoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(args.epochs):
            optimizer.zero_grad()
            loss = loss_fn(model(rows[:, 1:]).squeeze(1), rows[:, 0])
            loss.backward()
            optimizer.step()
        print(f"loss={loss.item():.6f}")
        torch.save(model.state_dict(), os.path.join(os.environ["SM_MODEL_DIR"], "model.pth"))
"""

PYTORCH_USER = """
    import json, sys
    import numpy as np, sagemaker
    from sagemaker.pytorch import PyTorch

    session = sagemaker.Session()
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(100, 2))
    y = x @ [2.0, -1.0] + 0.5
    np.savetxt("train.csv", np.column_stack([y, x]), delimiter=",")
    uri = session.upload_data("train.csv", key_prefix="sdk-pytorch/train")
    estimator = PyTorch(entry_point="train.py", source_dir="code", framework_version="2.6.0", py_version="py312",
                        instance_type="ml.m5.large", instance_count=1, role="SageMakerExecutionRole",
                        hyperparameters={"epochs": 300},
                        metric_definitions=[{"Name": "loss", "Regex": "loss=([0-9.e-]+)"}])
    estimator.fit({"train": uri})
    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large")
    try:
        answer = predictor.predict(x[:3].astype("float32")).ravel().tolist()
    finally:
        predictor.delete_endpoint()
    print(json.dumps({"predicted": answer, "expected": y[:3].tolist(), "job": estimator.latest_training_job.name}))
"""


def test_a_pytorch_estimator_trains_deploys_and_predicts(fresh_server: ServerProcess, sagemaker: Any,
                                                          tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text(textwrap.dedent(PYTORCH_SCRIPT))
    (tmp_path / "user.py").write_text(textwrap.dedent(PYTORCH_USER))
    env = user_shell(fresh_server.url, tmp_path)
    done = subprocess.run([sys.executable, "user.py"], cwd=tmp_path, capture_output=True, text=True,
                          env=env | {"SAGEMAKER_SUPPRESS_V2_WARNING": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr[-5000:]
    result = json.loads(done.stdout[done.stdout.rindex('{"predicted"'):])  # after the SDK's progress marks
    assert result["predicted"] == pytest.approx(result["expected"], abs=0.01)
    job = sagemaker.describe_training_job(TrainingJobName=result["job"])
    assert job["AlgorithmSpecification"]["TrainingImage"].endswith("/pytorch-training:2.6.0-cpu-py312")
    [loss] = job["FinalMetricDataList"]
    assert loss["MetricName"] == "loss" and loss["Value"] < 0.001
