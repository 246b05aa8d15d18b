"""The tuning job's search: strategies over a bowl with a known optimum, Grid, seeds, rebuilds, warm start, stops."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

import pytest

from modelbay.controllers.tuning_jobs.search import (
    CONVERGED,
    NOT_IMPROVING,
    TARGET_REACHED,
    Observation,
    Search,
)

BOWL = {"ContinuousParameterRanges": [
    {"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"},
    {"Name": "y", "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"}]}


def bowl(parameters: dict[str, str]) -> float:
    """A score with its optimum, 1.0, at x=0.3, y=0.7."""
    return 1.0 - (float(parameters["x"]) - 0.3) ** 2 - (float(parameters["y"]) - 0.7) ** 2


def config(strategy: str, ranges: dict[str, Any] = BOWL, **more: Any) -> dict[str, Any]:
    return {"Strategy": strategy, "ParameterRanges": ranges,
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "score"}, **more}


def run(settings: dict[str, Any], trials: int, score: Callable[[dict[str, str]], float] = bowl,
        until: float | None = None) -> list[Observation]:
    """Each trial suggested by a Search rebuilt from the ones before, as the controller does."""
    history: list[Observation] = []
    for number in range(trials):
        suggested = Search(settings, [{}], history).suggest()
        assert suggested is not None
        definition, parameters = suggested
        history.append(Observation(number, definition, parameters, "completed", score(parameters)))
        if until is not None and history[-1].objective >= until:  # type: ignore[operator]
            break
    return history


def completed(number: int, objective: float, **parameters: str) -> Observation:
    return Observation(number, None, parameters or {"x": "0.5", "y": "0.5"}, "completed", objective)


@pytest.mark.parametrize("strategy", ["Random", "Bayesian"])
def test_random_and_bayesian_find_the_optimum_region(strategy: str) -> None:
    history = run(config(strategy, RandomSeed=7), 40)
    best = Search(config(strategy), [{}], history).best()
    assert best is not None and best.objective is not None and best.objective > 0.98
    assert math.dist((float(best.parameters["x"]), float(best.parameters["y"])), (0.3, 0.7)) < 0.15


def test_bayesian_needs_fewer_trials_than_random() -> None:
    def needed(strategy: str, seed: int) -> int:
        return len(run(config(strategy, RandomSeed=seed), 80, until=0.995))

    bayesian = statistics.median(needed("Bayesian", seed) for seed in range(5))
    random = statistics.median(needed("Random", seed) for seed in range(5))
    assert bayesian < random


def test_grid_enumerates_exactly_its_grid_then_none() -> None:
    ranges = {"CategoricalParameterRanges": [{"Name": "kernel", "Values": ["linear", "rbf"]}],
              "IntegerParameterRanges": [{"Name": "depth", "MinValue": "1", "MaxValue": "3"}]}
    history: list[Observation] = []
    while (suggested := Search(config("Grid", ranges), [{}], history).suggest()) is not None:
        history.append(Observation(len(history), suggested[0], suggested[1], "running"))  # none has ended yet
    taken = sorted((o.parameters["kernel"], o.parameters["depth"]) for o in history)
    assert taken == sorted((kernel, depth) for kernel in ("linear", "rbf") for depth in ("1", "2", "3"))


def test_successive_suggestions_of_one_search_are_those_of_rebuilt_searches() -> None:
    settings = config("Bayesian", RandomSeed=3)
    history = run(settings, 12)
    search = Search(settings, [{}], history)
    first, second = search.suggest(), search.suggest()
    assert first is not None
    running = Observation(12, first[0], first[1], "running")
    assert Search(settings, [{}], [*history, running]).suggest() == second != first


def test_grid_never_repeats_a_running_point_within_one_search() -> None:
    ranges = {"CategoricalParameterRanges": [{"Name": "c", "Values": ["a", "b", "c"]}]}
    search = Search(config("Grid", ranges), [{}], [])
    suggestions = [search.suggest() for _ in range(4)]
    assert sorted(s[1]["c"] for s in suggestions[:3] if s) == ["a", "b", "c"] and suggestions[3] is None


@pytest.mark.parametrize("strategy", ["Random", "Bayesian", "Grid"])
def test_random_seed_reproduces_the_suggestions_and_a_rebuild_does_not_repeat_them(strategy: str) -> None:
    ranges = BOWL if strategy != "Grid" else {"IntegerParameterRanges": [
        {"Name": "x", "MinValue": "1", "MaxValue": "30"}, {"Name": "y", "MinValue": "1", "MaxValue": "30"}]}
    settings = config(strategy, ranges, RandomSeed=42)
    first, again = run(settings, 15), run(settings, 15)
    assert [o.parameters for o in first] == [o.parameters for o in again]
    assert len({tuple(o.parameters.values()) for o in first}) == 15  # rebuilt samplers do not replay
    other = run(config(strategy, ranges, RandomSeed=43), 15)
    assert [o.parameters for o in other] != [o.parameters for o in first]


def test_values_are_formatted_as_sagemaker_passes_them() -> None:
    ranges = {"IntegerParameterRanges": [{"Name": "depth", "MinValue": "1", "MaxValue": "9"}],
              "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5"}],
              "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}]}
    suggested = Search(config("Random", ranges, RandomSeed=1), [{}], []).suggest()
    assert suggested is not None
    definition, parameters = suggested
    assert definition is None and parameters["depth"].isdigit() and parameters["booster"] in ("gbtree", "dart")
    assert 0.1 <= float(parameters["eta"]) <= 0.5 and repr(float(parameters["eta"])) == parameters["eta"]


def samples(scale: str, low: str, high: str, count: int = 300) -> list[float]:
    ranges = {"ContinuousParameterRanges": [{"Name": "v", "MinValue": low, "MaxValue": high, "ScalingType": scale}]}
    search = Search(config("Random", ranges, RandomSeed=5), [{}], [])
    return [float(s[1]["v"]) for s in (search.suggest() for _ in range(count)) if s]


def test_logarithmic_samples_spread_evenly_in_log_space() -> None:
    values = samples("Logarithmic", "1e-5", "1e-1")
    assert all(1e-5 <= v <= 1e-1 for v in values)
    for decade in range(-5, -1):  # each of the four decades holds about a quarter
        share = sum(10.0**decade <= v < 10.0 ** (decade + 1) for v in values) / len(values)
        assert 0.15 < share < 0.35


def test_auto_scaling_is_logarithmic_over_three_orders_of_magnitude_else_linear() -> None:
    assert statistics.median(samples("Auto", "1e-5", "1e-1")) < 1e-2  # log: the median near 1e-3
    assert 0.4 < statistics.median(samples("Auto", "0.1", "1")) / 1.1 < 0.6  # linear: near the middle


def test_reverse_logarithmic_crowds_towards_one() -> None:
    values = samples("ReverseLogarithmic", "0", "0.9999")
    assert all(0 <= v <= 0.9999 for v in values)
    assert statistics.median(values) > 0.98  # 1 - v spread evenly in log space over 1e-4..1


def test_several_definitions_each_with_its_own_ranges() -> None:
    definitions = [
        {"DefinitionName": "tree", "HyperParameterRanges": {
            "IntegerParameterRanges": [{"Name": "depth", "MinValue": "1", "MaxValue": "10"}]}},
        {"DefinitionName": "linear", "HyperParameterRanges": {
            "ContinuousParameterRanges": [{"Name": "alpha", "MinValue": "0", "MaxValue": "1"}]}}]
    settings = config("Bayesian", {}, RandomSeed=11)
    history: list[Observation] = []
    for number in range(30):
        suggested = Search(settings, definitions, history).suggest()
        assert suggested is not None
        name, parameters = suggested
        assert set(parameters) == ({"depth"} if name == "tree" else {"alpha"})
        score = 1 - abs(float(parameters["alpha"]) - 0.2) if name == "linear" else 0.5  # linear is better
        history.append(Observation(number, name, parameters, "completed", score))
    assert {o.definition for o in history} == {"tree", "linear"}
    assert sum(o.definition == "linear" for o in history[15:]) > 10  # the search learnt which is better
    best = Search(settings, definitions, history).best()
    assert best is not None and best.definition == "linear"


def test_grid_over_several_definitions() -> None:
    definitions: list[dict[str, Any]] = [
        {"DefinitionName": "a", "HyperParameterRanges": {"CategoricalParameterRanges": [
            {"Name": "p", "Values": ["1", "2"]}]}},
        {"DefinitionName": "b", "HyperParameterRanges": {"CategoricalParameterRanges": [
            {"Name": "q", "Values": ["x", "y", "z"]}]}},
        {"DefinitionName": "c"}]  # nothing tuned: one point
    history: list[Observation] = []
    while (suggested := Search(config("Grid", {}), definitions, history).suggest()) is not None:
        history.append(Observation(len(history), suggested[0], suggested[1], "completed", 1.0))
    assert sorted((o.definition, *o.parameters.values()) for o in history) == [
        ("a", "1"), ("a", "2"), ("b", "x"), ("b", "y"), ("b", "z"), ("c",)]


def test_warm_start_seeds_the_study_near_the_parents_best() -> None:
    parents = run(config("Random", RandomSeed=1), 30)
    parents_best = max(parents, key=lambda o: o.objective or 0.0)
    cold: list[float] = []
    warm: list[float] = []
    for seed in range(5):
        seeded = config("Bayesian", RandomSeed=seed)
        for into, parent_trials in ((cold, []), (warm, parents)):
            suggested = Search(seeded, [{}], [], parent_trials).suggest()
            assert suggested is not None
            into.append(bowl(suggested[1]))
    assert statistics.median(warm) > statistics.median(cold)
    assert statistics.median(warm) > parents_best.objective - 0.05  # type: ignore[operator]
    assert Search(config("Bayesian"), [{}], [], parents).best() is None  # the parents' trials are not this job's


def test_warm_start_keeps_the_parameters_within_this_jobs_ranges() -> None:
    narrow = {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "0.5"}]}
    parents = [completed(0, 0.9, x="0.4", y="0.1"), completed(1, 0.8, x="0.9", y="0.9")]
    search = Search(config("Bayesian", narrow), [{}], [], parents)
    assert [t.params for t in search._study.trials] == [{"x": 0.4}]  # y is not tuned, 0.9 is out of range


def curve(*values: float) -> tuple[tuple[int, float], ...]:
    return tuple((step, value) for step, value in enumerate(values, start=1))


def trial(number: int, state: str, *values: float) -> Observation:
    return Observation(number, None, {"x": "0.5", "y": "0.5"}, state, values[-1] if values else None, curve(*values))


def test_the_median_rule_stops_a_clearly_bad_trial_and_keeps_a_good_one() -> None:
    settings = config("Bayesian", TrainingJobEarlyStoppingType="Auto")
    earlier = [trial(n, "completed", 0.5, 0.6, 0.7, 0.8) for n in range(3)]
    search = Search(settings, [{}], earlier)
    assert search.should_stop(trial(3, "running", 0.1, 0.2))
    assert not search.should_stop(trial(3, "running", 0.6, 0.7))
    assert not Search(settings, [{}], earlier[:2]).should_stop(trial(2, "running", 0.1, 0.2))  # too few
    assert not Search(config("Bayesian"), [{}], earlier).should_stop(trial(3, "running", 0.1, 0.2))  # Off


def test_the_median_rule_compares_running_averages_at_the_same_step() -> None:
    settings = {**config("Bayesian", TrainingJobEarlyStoppingType="Auto"),
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"}}
    earlier = [trial(n, "completed", 1.0, 0.2) for n in range(3)]  # running average at step 2: 0.6
    assert not Search(settings, [{}], earlier).should_stop(trial(3, "running", 0.9, 0.5))
    assert Search(settings, [{}], earlier).should_stop(trial(3, "running", 0.9, 0.7))


def test_hyperband_stops_trials_at_rungs() -> None:
    settings = config("Hyperband", StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 27}})
    earlier = [trial(0, "completed", *[0.5] * 27), trial(1, "stopped", 0.4), trial(2, "stopped", 0.3)]
    search = Search(settings, [{}], earlier)
    assert not search.should_stop(trial(3, "running", 0.6))  # the best at rung 1
    assert search.should_stop(trial(3, "running", 0.45))  # not in the best third at rung 1 (4 trials: the best)
    assert not search.should_stop(trial(3, "running", 0.6, 0.1))  # no judgement between rungs 1 and 3
    assert search.should_stop(trial(3, "running", 0.6, 0.1, 0.1))  # at rung 3, worse than trial 0


def test_hyperband_infers_max_resource_from_epochs() -> None:
    settings = config("Hyperband", StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1}})
    search = Search(settings, [{"StaticHyperParameters": {"epochs": "3"}}], [trial(0, "completed", 0.9, 0.9, 0.9)])
    assert search.should_stop(trial(1, "running", 0.1))  # rung 1 is below MaxResource 3
    assert not search.should_stop(trial(1, "running", 0.95, 0.1, 0.1))  # rung 3 is MaxResource: no judgement


def test_best_follows_the_objective_type() -> None:
    history = [completed(0, 0.5), completed(1, 0.9), completed(2, 0.1), trial(3, "running", 0.99)]
    assert Search(config("Random"), [{}], history).best() == history[1]
    minimize = {**config("Random"), "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "l"}}
    assert Search(minimize, [{}], history).best() == history[2]
    assert Search(config("Random"), [{}], [trial(0, "running", 0.5)]).best() is None


def test_completion_criteria() -> None:
    improving = [completed(n, 0.5 + 0.1 * n) for n in range(4)]  # 0.5 .. 0.8
    flat = [*improving, *(completed(4 + n, 0.801) for n in range(3))]  # +0.1 %: not improving

    def criteria(completion: dict[str, Any]) -> dict[str, Any]:
        return config("Random", TuningJobCompletionCriteria=completion)

    assert Search(criteria({"TargetObjectiveMetricValue": 0.8}), [{}], improving).complete() == TARGET_REACHED
    assert Search(criteria({"TargetObjectiveMetricValue": 0.85}), [{}], improving).complete() is None
    patience = criteria({"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}})
    assert Search(patience, [{}], improving).complete() is None
    assert Search(patience, [{}], flat).number_of_trials_not_improving() == 3
    assert Search(patience, [{}], flat).complete() == NOT_IMPROVING
    convergence = criteria({"ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}})
    plateau = [*improving, *(completed(4 + n, 0.8) for n in range(6))]  # 10 trials, the last 6 not improving
    assert Search(convergence, [{}], plateau).complete() == CONVERGED
    assert Search(convergence, [{}], plateau[:8]).complete() is None  # fewer than 10 trials
