"""Compiled models against their original frameworks, side by side (issue 20: compilation as SageMaker Neo's).

    .venv/bin/python benchmarks/compilation.py [--quick] [--build-environments]

Trains four classifiers on 20 features (make_classification, 5,000 rows): scikit-learn's RandomForest (100 trees,
depth 10) and GradientBoosting (100 trees, depth 3), an XGBoost Booster (100 rounds, depth 6, binary:logistic, as
SageMaker's XGBoost algorithm saves it) and a small PyTorch MLP (20-64-64-2, TorchScript). Each is compiled for
ml_c5 by the compiler program's own code (modelbay.container.neo, what CreateCompilationJob runs), then measured in
one run, each side in a process of its own that holds only its model (so what the framework imports counts): the
original loaded by its framework (joblib; xgboost.Booster, predicting by inplace_predict, its fastest path;
torch.jit.load) and the compiled artifact loaded by modelbay.container.compiled_models. Per side: resident memory
(VmRSS after the load and one predict), single-row predict latency (p50, p99 over many calls after a warm-up) and
batch throughput (rows/s predicting a 1,000-row batch again and again); both sides' outputs on that batch are
compared (max |diff| of probabilities or values, labels equal), beside the compiler's own check. Prints the table,
the ratios (speed-up, memory fraction) and the goals: >= 10x faster and <= 1/3 the memory on the tree ensembles.
(SageMaker claims up to 2x faster at less than 1/10 the footprint for Neo.) --quick compiles 10-tree ensembles
trained on 2,000 rows and measures briefly: a smoke run of ~30 s.

The scikit-learn and XGBoost models are trained, compiled and measured in this venv's Python (it has the
compilers). The MLP is trained, compiled and its original measured in the PyTorch compiler environment's Python
(the cache of framework environments; MODELBAY_ENVIRONMENTS_DIR, else the checkout's .cache/environments, which
`make test` fills): it holds the same torch==2.13.0 as the PyTorch framework image, and a process imports only
torch. When it is not built the row is skipped with the reason (--build-environments builds it first). Every
compiled side runs in this venv's Python, importing compiled_models alone. Each side runs on one thread
(OMP_NUM_THREADS=1 and the like: the compiled trees are single-threaded; ONNX Runtime keeps its own pool); the
machine's 2 cores are shared with whatever else runs on it, so the absolute figures move from run to run, the
ratios less.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED = 0
FEATURES, BATCH = 20, 1000
TREE_SPEEDUP_GOAL, TREE_MEMORY_GOAL = 10.0, 1 / 3
TARGET_DEVICE = "ml_c5"
# OpenMP's and BLAS's thread pools (XGBoost, PyTorch) held to one thread, as the compiled trees run: on 2 cores
# shared with other work, two spinning threads made a 1,000-row MLP batch take 50 ms instead of 0.2 ms.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Effort:
    """How long each side is measured: calls and seconds for the single-row loop, seconds for the batch loop."""

    trees: int  # of each ensemble (rounds of XGBoost): --quick compiles small ones
    rows: int  # training rows
    warmup: int
    calls: int
    call_cap_s: float
    batch_s: float


FULL, QUICK = Effort(100, 5000, 50, 3000, 4.0, 2.0), Effort(10, 2000, 10, 300, 0.5, 0.3)


@dataclass(frozen=True)
class Case:
    """One model: how it is trained, what its compiler calls its framework, whether it is a tree ensemble."""

    name: str
    label: str  # {trees}: the effort's
    framework: str  # CreateCompilationJob's InputConfig.Framework
    tree_ensemble: bool


CASES = (
    Case("random-forest", "sklearn RandomForest, {trees} trees, depth 10", "SKLEARN", True),
    Case("gradient-boosting", "sklearn GradientBoosting, {trees} trees, depth 3", "SKLEARN", True),
    Case("xgboost", "XGBoost Booster, {trees} rounds, depth 6", "XGBOOST", True),
    Case("mlp", "PyTorch MLP 20-64-64-2 (TorchScript)", "PYTORCH", False),
)

# Run by the Python that has the model's framework: trains `case` on data.npz into model/ (the files its framework's
# SageMaker container loads, as model.tar.gz holds them).
TRAIN = """
import sys, tarfile
from pathlib import Path
import numpy as np
case, work, trees = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
data = np.load(work / "data.npz")
X, y = data["X"], data["y"]
out = work / case / "model"
out.mkdir(parents=True)
if case in ("random-forest", "gradient-boosting"):
    import joblib
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    model = (RandomForestClassifier(n_estimators=trees, max_depth=10, random_state=0) if case == "random-forest"
             else GradientBoostingClassifier(n_estimators=trees, max_depth=3, random_state=0))
    joblib.dump(model.fit(X, y), out / "model.joblib")
elif case == "xgboost":
    import xgboost
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.3, "seed": 0},
                            xgboost.DMatrix(X, label=y), num_boost_round=trees)
    booster.save_model(out / "xgboost-model.json")
    (out / "xgboost-model.json").rename(out / "xgboost-model")
else:
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 2))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    inputs, labels = torch.from_numpy(X), torch.from_numpy(y.astype("int64"))
    for _ in range(200):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(inputs), labels).backward()
        optimizer.step()
    torch.jit.trace(net.eval(), inputs[:1]).save(str(out / "model.pth"))
with tarfile.open(work / case / "model.tar.gz", "w:gz") as archive:
    for path in sorted(out.iterdir()):
        archive.add(path, arcname=path.name)
"""

# Run in a process of its own per side: load, one predict, VmRSS; then the timing loops and the batch's outputs.
MEASURE = """
import json, statistics, sys, time
from pathlib import Path
import numpy as np
side, framework, model_dir, work = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
warmup, calls, call_cap_s, batch_s = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8])
batch = np.load(work / "batch.npy")
started = time.perf_counter()
probabilities = None  # a classifier's whose predict gives labels
if side == "compiled":
    from modelbay.container import compiled_models
    model = compiled_models.load(model_dir)
    predict = model.predict
    probabilities = model.predict_proba if model.output == "labels" else None
elif framework == "SKLEARN":
    import joblib
    model = joblib.load(model_dir / "model.joblib")
    predict, probabilities = model.predict, model.predict_proba
elif framework == "XGBOOST":
    import xgboost
    booster = xgboost.Booster()
    booster.load_model(bytearray((model_dir / "xgboost-model").read_bytes()))
    predict = booster.inplace_predict
else:
    import torch
    torch.set_grad_enabled(False)
    net = torch.jit.load(str(model_dir / "model.pth"))
    predict = lambda rows: net(torch.from_numpy(rows)).numpy()
row = batch[:1]
predict(row)
load_s = time.perf_counter() - started
rss_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:"))
for _ in range(warmup):
    predict(row)
times, end = [], time.perf_counter() + call_cap_s
while len(times) < calls and (len(times) < 20 or time.perf_counter() < end):
    began = time.perf_counter()
    predict(row)
    times.append(time.perf_counter() - began)
times.sort()
rounds, began = 0, time.perf_counter()
while rounds < 3 or time.perf_counter() - began < batch_s:
    outputs = predict(batch)
    rounds += 1
rows_per_s = rounds * len(batch) / (time.perf_counter() - began)
np.save(work / f"{side}-outputs.npy", np.asarray(outputs))
if probabilities is not None:
    np.save(work / f"{side}-probabilities.npy", np.asarray(probabilities(batch)))
print(json.dumps({"rss_mb": rss_kb / 1024, "load_s": load_s, "calls": len(times), "p50_s": statistics.median(times),
                  "p99_s": times[min(len(times) - 1, int(len(times) * 0.99))], "rows_per_s": rows_per_s}))
"""

COMPILE = """
import json, sys
from pathlib import Path
from modelbay.container.neo.compiler import compile_model
compile_model(json.loads(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
"""

BASELINE = """
import numpy
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:")) / 1024)
"""


@dataclass(frozen=True)
class Side:
    """One side's figures (a model loaded in a process of its own)."""

    rss_mb: float
    load_s: float
    calls: int
    p50_s: float
    p99_s: float
    rows_per_s: float


@dataclass(frozen=True)
class Result:
    case: Case
    label: str
    compile_s: float
    original: Side
    compiled: Side
    max_abs_diff: float
    labels_equal: bool
    verification: dict[str, Any]  # what the compiler's own check found (neo-manifest.json)

    @property
    def speedup(self) -> float:
        return self.original.p50_s / self.compiled.p50_s

    @property
    def throughput_ratio(self) -> float:
        return self.compiled.rows_per_s / self.original.rows_per_s

    @property
    def memory_fraction(self) -> float:
        return self.compiled.rss_mb / self.original.rss_mb


def make_data(work: Path, rows: int) -> None:
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=rows, n_features=FEATURES, n_informative=10, random_state=SEED)
    np.savez(work / "data.npz", X=X.astype(np.float32), y=y.astype(np.float32))
    np.save(work / "batch.npy", X[:BATCH].astype(np.float32))


def run_python(python: Path, script: str, *args: str, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"{python} failed ({done.returncode}): {done.stderr[-3000:]}")
    return done.stdout


def measure(python: Path, side: str, case: Case, model_dir: Path, work: Path, effort: Effort) -> Side:
    out = run_python(python, MEASURE, side, case.framework, str(model_dir), str(work / case.name),
                     str(effort.warmup), str(effort.calls), str(effort.call_cap_s), str(effort.batch_s),
                     env=ONE_THREAD)
    return Side(**json.loads(out.strip().splitlines()[-1]))


def compare(work: Path) -> tuple[float, bool]:
    """Max |diff| of the two sides' values on the batch (probabilities when predict gives labels), and whether
    their labels agree (of values: P(class 1) > 0.5 for one column, else the highest column; all four models
    here are binary classifiers)."""
    outputs = [np.load(work / f"{side}-outputs.npy") for side in ("original", "compiled")]
    if outputs[0].shape != outputs[1].shape:
        raise RuntimeError(f"outputs differ in shape: original {outputs[0].shape}, compiled {outputs[1].shape}")
    if (work / "original-probabilities.npy").is_file():  # predict gives labels: compare them, and probabilities
        values = [np.load(work / f"{side}-probabilities.npy") for side in ("original", "compiled")]
        return _max_abs_diff(*values), bool(np.array_equal(*outputs))
    labels = [output > 0.5 if output.ndim == 1 else output.argmax(axis=1) for output in outputs]
    return _max_abs_diff(*outputs), bool(np.array_equal(*labels))


def _max_abs_diff(original: np.ndarray[Any, Any], compiled: np.ndarray[Any, Any]) -> float:
    return float(np.max(np.abs(original.astype(np.float64) - compiled.astype(np.float64))))


def run_case(case: Case, pythons: Pythons, work: Path, effort: Effort) -> Result:
    case_dir = work / case.name
    case_dir.mkdir()
    np.save(case_dir / "batch.npy", np.load(work / "batch.npy"))
    run_python(pythons.framework, TRAIN, case.name, str(work), str(effort.trees))
    compiled_dir, started = case_dir / "compiled", time.perf_counter()
    pythons.compile(case, case_dir / "model.tar.gz", compiled_dir)
    compile_s = time.perf_counter() - started
    original = measure(pythons.framework, "original", case, case_dir / "model", work, effort)
    compiled = measure(pythons.compiled, "compiled", case, compiled_dir, work, effort)
    max_abs_diff, labels_equal = compare(case_dir)
    manifest = json.loads((compiled_dir / "neo-manifest.json").read_text())
    return Result(case, case.label.format(trees=effort.trees), compile_s, original, compiled, max_abs_diff,
                  labels_equal, manifest.get("verification", {}))


@dataclass(frozen=True)
class Pythons:
    """The Pythons one case runs in, and how its model is compiled."""

    framework: Path  # trains and measures the original
    compiled: Path  # measures the compiled artifact
    compile: Callable[[Case, Path, Path], None]


def compile_in(python: Path, output_config: Mapping[str, Any] | None = None) -> Callable[[Case, Path, Path], None]:
    """Compile with the compiler program's own code (compile_model, what `python -m modelbay.container.neo` runs),
    in `python` (this venv's, which has the compilers, or the PyTorch compiler environment's), for the target
    `output_config` names (CreateCompilationJob's OutputConfig; default TargetDevice ml_c5)."""
    from modelbay.compilation_targets import resolve

    def compile_model(case: Case, tarball: Path, out: Path) -> None:
        target = resolve(output_config or {"TargetDevice": TARGET_DEVICE}, case.framework)
        config = {"Framework": case.framework, "Target": target.as_config()}
        if case.framework == "PYTORCH":
            config["DataInputConfig"] = json.dumps({"input0": [1, FEATURES]})
        with tempfile.TemporaryDirectory(prefix="neo-") as work:
            run_python(python, COMPILE, json.dumps(config), str(tarball), str(out), work)
    return compile_model


def pythons_for(case: Case, work: Path, build: bool) -> Pythons | str:
    """The Pythons of `case`, or the reason it cannot run here (its environment not built)."""
    venv = Path(sys.executable)
    if case.framework != "PYTORCH":
        return Pythons(venv, venv, compile_in(venv))
    from modelbay.config import Settings
    from modelbay.runtime.environments import FrameworkEnvironments
    from modelbay.runtime.frameworks import compiler_recipe

    environments = FrameworkEnvironments(Settings.from_env().environments_dir)
    recipe = compiler_recipe(case.framework, None).recipe
    if not environments.is_built(recipe) and not build:
        return (f"the {recipe.label} compiler environment is not built in {environments.root} "
                "(--build-environments builds it; so does a PyTorch compilation job)")
    environments.ensure(recipe, print)
    python = environments.layer(recipe, work / "layer-pytorch")
    return Pythons(python, venv, compile_in(python))


def mb(value: float) -> str:
    return f"{value:.0f}"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}"


def print_results(results: list[Result], skipped: dict[str, str], baseline_mb: float, effort: Effort) -> None:
    print(f"compiled ({TARGET_DEVICE}) vs original; {effort.rows} training rows, {FEATURES} features; "
          f"single-row latency over up to {effort.calls} calls, batch of {BATCH} rows; one thread a side")
    header = f"{'model':44} {'side':9} {'RSS MB':>7} {'load s':>7} {'p50 us':>9} {'p99 us':>9} {'batch rows/s':>13}"
    print(header)
    print("-" * len(header))
    for result in results:
        for side, figures in (("original", result.original), ("compiled", result.compiled)):
            label = result.label if side == "original" else ""
            print(f"{label:44} {side:9} {mb(figures.rss_mb):>7} {figures.load_s:7.2f} {us(figures.p50_s):>9} "
                  f"{us(figures.p99_s):>9} {figures.rows_per_s:13,.0f}")
    for name, reason in skipped.items():
        print(f"{name:44} skipped: {reason}")
    print(f"(load s: imports, load and one predict; base: a bare Python with numpy imported, {baseline_mb:.0f} MB "
          "RSS; memory: RSS compiled/original; over base: what each adds to the base, compiled/original)")
    print()
    print(f"{'compiled vs original':44} {'speed-up p50':>12} {'batch':>7} {'memory':>7} {'over base':>9} "
          f"{'max |diff|':>11} {'labels':>7} {'check':>6} {'compile s':>9}")
    for r in results:
        labels = "equal" if r.labels_equal else "DIFFER"
        check = "passed" if r.verification.get("passed") else "FAILED"
        over_base = (r.compiled.rss_mb - baseline_mb) / (r.original.rss_mb - baseline_mb)
        print(f"{r.label:44} {r.speedup:11.1f}x {r.throughput_ratio:6.1f}x {r.memory_fraction:7.2f} {over_base:9.2f} "
              f"{r.max_abs_diff:11.2e} {labels:>7} {check:>6} {r.compile_s:9.1f}")
    print()
    for r in (r for r in results if r.case.tree_ensemble):
        faster = "met" if r.speedup >= TREE_SPEEDUP_GOAL else "missed"
        smaller = "met" if r.memory_fraction <= TREE_MEMORY_GOAL else "missed"
        print(f"goal on {r.label}: >= {TREE_SPEEDUP_GOAL:.0f}x faster {faster} ({r.speedup:.1f}x), "
              f"<= 1/3 memory {smaller} ({r.memory_fraction:.2f})")
    print("SageMaker's claim for Neo: up to 2x faster at less than 1/10 the footprint.")
    print("Measured on a 2-core machine shared with other work: absolute times vary between runs, ratios less.")


def main(quick: bool, build: bool) -> None:
    os.environ.setdefault("MODELBAY_ENVIRONMENTS_DIR", str(ROOT / ".cache" / "environments"))
    effort = QUICK if quick else FULL
    results: list[Result] = []
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="compilation-bench-") as scratch:
        work = Path(scratch)
        make_data(work, effort.rows)
        for case in CASES:
            pythons = pythons_for(case, work, build)
            if isinstance(pythons, str):
                skipped[case.label.format(trees=effort.trees)] = pythons
                continue
            results.append(run_case(case, pythons, work, effort))
    baseline = float(run_python(Path(sys.executable), BASELINE))
    print_results(results, skipped, baseline, effort)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer calls and shorter loops (a smoke run, ~30 s)")
    parser.add_argument("--build-environments", action="store_true",
                        help="build the PyTorch compiler environment first if it is not built")
    arguments = parser.parse_args()
    main(arguments.quick, arguments.build_environments)
