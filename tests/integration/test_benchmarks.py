"""Issues 20's and 21's benchmarks run end to end in their --quick mode and report what they measure (benchmarks/)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def run_quick(script: str) -> str:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick"], capture_output=True, text=True,
                          timeout=240, cwd=BENCHMARKS)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def broker_listens() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError:
        return False
    return True


def test_compilation_benchmark_compares_both_sides_of_every_model() -> None:
    out = run_quick("compilation.py")
    for model in ("sklearn RandomForest", "sklearn GradientBoosting", "XGBoost Booster"):
        table_row, ratios = (line for line in out.splitlines() if line.startswith(model))
        assert " original " in table_row, out
        assert ratios.split()[-3:-1] == ["equal", "passed"], out  # labels equal, the compiler's check passed
        assert f"goal on {model}" in out
    # the PyTorch row is measured, or skipped with its reason (its environments not built): never a made-up figure
    pytorch = [line for line in out.splitlines() if line.startswith("PyTorch MLP")]
    assert (len(pytorch) == 1 and " skipped: " in pytorch[0]) or pytorch[1].split()[-3:-1] == ["equal", "passed"], out


def test_edge_agent_benchmark_times_start_inference_and_telemetry() -> None:
    out = run_quick("edge_agent.py")
    assert "start to first answer" in out
    assert "the agent's answers equal the in-process predict" in out
    if broker_listens():
        assert "each once, in order: yes" in out, out
    else:
        assert "(c) telemetry: skipped: no MQTT broker listens" in out, out


def test_scaleout_benchmark_times_starts_scaling_and_failover() -> None:
    out = run_quick("scaleout.py")
    assert "(a) instance start to /ping" in out and "Ray takes" in out, out
    scaling = [line for line in out.splitlines() if "answers/s, scaling efficiency" in line]
    assert [line.split()[0] for line in scaling] == ["1", "2", "3"], out
    assert all(line.endswith("failed calls: 0") for line in scaling), out
    assert "(c) leader fail-over, SIGKILL to the other server leading" in out, out  # PostgreSQL runs on this machine
