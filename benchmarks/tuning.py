"""Bayesian vs Random search: the trials each needs to come within 1 % of a known optimum.

    .venv/bin/python benchmarks/tuning.py [SEEDS]

The search's own trial efficiency, measured on the tuning controller's Search directly, one trial after another
(each suggestion from a Search rebuilt from the trials before it, as the controller makes them), with a fast
function standing in for the training script: a "validation accuracy" of three hyperparameters, learning_rate
(1e-5..0.1, Logarithmic), momentum (0..0.99, Linear) and layers (1..20, integer), whose optimum, 0.95, is at
learning_rate 1e-3, momentum 0.6, 7 layers. For each of SEEDS RandomSeeds (default 20), each strategy runs until a
trial scores within 1 % of the optimum (>= 0.9405), or CAP trials; prints the medians side by side and their
ratio. The goal: Bayesian within a third of Random's trials.
"""

from __future__ import annotations

import argparse
import math
import statistics
from typing import Any

from modelbay.controllers.tuning_jobs.search import Observation, Search

OPTIMUM = 0.95
WITHIN = 0.01
CAP = 400  # trials a strategy may take for one seed; a run that gets there counts as CAP
GOAL = 1 / 3
RANGES = {"ContinuousParameterRanges": [
    {"Name": "learning_rate", "MinValue": "1e-5", "MaxValue": "0.1", "ScalingType": "Logarithmic"},
    {"Name": "momentum", "MinValue": "0", "MaxValue": "0.99", "ScalingType": "Linear"}],
    "IntegerParameterRanges": [{"Name": "layers", "MinValue": "1", "MaxValue": "20"}]}


def accuracy(parameters: dict[str, str]) -> float:
    """The stand-in for a training script's validation accuracy: OPTIMUM at (1e-3, 0.6, 7), a bowl around it."""
    learning_rate, momentum = float(parameters["learning_rate"]), float(parameters["momentum"])
    layers = int(parameters["layers"])
    return (OPTIMUM - 0.02 * (math.log10(learning_rate) + 3) ** 2 - 0.5 * (momentum - 0.6) ** 2
            - 0.002 * (layers - 7) ** 2)


def trials_needed(strategy: str, seed: int) -> int:
    config: dict[str, Any] = {"Strategy": strategy, "RandomSeed": seed, "ParameterRanges": RANGES,
                              "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "accuracy"}}
    history: list[Observation] = []
    while len(history) < CAP:
        suggested = Search(config, [{}], history).suggest()
        assert suggested is not None  # Random and Bayesian always have one
        score = accuracy(suggested[1])
        history.append(Observation(len(history), suggested[0], suggested[1], "completed", score))
        if score >= OPTIMUM * (1 - WITHIN):
            break
    return len(history)


def main(seeds: int) -> None:
    needed = {strategy: [trials_needed(strategy, seed) for seed in range(seeds)] for strategy in ("Bayesian", "Random")}
    print(f"trials to come within {WITHIN:.0%} of the optimum ({OPTIMUM}), {seeds} seeds, at most {CAP} trials each")
    print(f"{'':10} {'median':>8} {'p25':>6} {'p75':>6} {'max':>6}")
    for strategy, counts in needed.items():
        p25, _, p75 = statistics.quantiles(counts, n=4)
        print(f"{strategy:10} {statistics.median(counts):8.1f} {p25:6.1f} {p75:6.1f} {max(counts):6d}")
    ratio = statistics.median(needed["Bayesian"]) / statistics.median(needed["Random"])
    verdict = "meets" if ratio <= GOAL else "misses"
    print(f"Bayesian / Random (medians): {ratio:.2f} ({verdict} the goal of at most {GOAL:.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("seeds", type=int, nargs="?", default=20, help="RandomSeeds per strategy (default 20)")
    main(parser.parse_args().seeds)
