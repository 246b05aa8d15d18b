"""Each example runs to its end on a fresh server, as `make demo` runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import SHARED_ENVIRONMENTS, modelbay_server, user_shell

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str) -> str:
    env = {**os.environ, "MODELBAY_ENVIRONMENTS_DIR": str(SHARED_ENVIRONMENTS)}
    env.pop("MODELBAY_URL", None)  # the examples then start a private server, as `make demo` does
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_demo_trains_two_models_and_serves_them_as_weighted_variants() -> None:
    output = run_example("demo.py")
    for status in ("Starting", "Downloading", "Training", "Uploading", "Completed"):
        assert f"  {status}" in output
    assert "validation:r2=0.99" in output  # the script's own line, read back through the Logs API
    assert "metric validation:r2 = 0.99" in output
    assert "output/model.tar.gz" in output and "['model.joblib']" in output
    before, after = output.split("UpdateEndpointWeightsAndCapacities to 0/100")
    shares = dict(re.findall(r"(ridge-[ab]):\s+\d+ answers \((\d+)%\)", before))
    assert 70 <= int(shares["ridge-a"]) <= 90 and 10 <= int(shares["ridge-b"]) <= 30, shares  # 80/20 ± chance
    assert re.findall(r"(ridge-[ab]):\s+\d+ answers \((\d+)%\)", after) == [("ridge-b", "100")]
    assert "endpoint deleted: done" in output


def test_boto3_plain_uses_clients_made_with_no_endpoint(tmp_path: Path) -> None:
    (tmp_path / "server").mkdir()
    with modelbay_server(tmp_path / "server") as server:
        done = subprocess.run([sys.executable, str(EXAMPLES / "boto3_plain.py")], capture_output=True, text=True,
                              env=user_shell(server.url, tmp_path), timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "account: 000000000000 role: arn:aws:iam::000000000000:role/SageMakerExecutionRole" in done.stdout
    assert "training job: Completed s3://boto3-plain-000000000000/output/" in done.stdout
    assert "train:r2=1.0000" in done.stdout  # the script's line, read back through the Logs API
    invoked = re.search(r"invoked: AllTraffic \['([-0-9.]+)', '([-0-9.]+)'\]", done.stdout)
    assert invoked is not None, done.stdout
    assert abs(float(invoked[1]) - 1.0) < 0.05 and abs(float(invoked[2]) - 2.5) < 0.05
    assert done.stdout.rstrip().endswith("done")


def test_aws_cli_script_trains_serves_and_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "server").mkdir()
    with modelbay_server(tmp_path / "server") as server:
        env = user_shell(server.url, tmp_path)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # the venv's `aws`
        done = subprocess.run(["bash", str(EXAMPLES / "aws_cli.sh")], capture_output=True, text=True, env=env,
                              timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "status: Completed" in done.stdout
    assert re.search(r"model artifact: s3://aws-cli-example-000000000000/aws-cli-[0-9-]+/output/.+/model\.tar\.gz",
                     done.stdout)
    assert "train:r2=1.0000" in done.stdout  # the job's log through the Logs API
    assert "endpoint: InService" in done.stdout
    predicted = re.search(r"predicted: ([-0-9.]+) ([-0-9.]+) ", done.stdout)
    assert predicted is not None, done.stdout
    assert abs(float(predicted[1]) - 1.0) < 0.05 and abs(float(predicted[2]) - 2.5) < 0.05
    assert done.stdout.rstrip().endswith("done")
