"""A tuning job's search: the next trial's hyperparameters, early stops, the best trial, completion. Pure: no I/O.

The store is the truth: every Search rebuilds an Optuna study in memory from the job's trials (`history`) and its
parents' (`warm`), so a restarted server loses nothing and the same history gives the same suggestions.

- Trials become Optuna trials: completed with an objective COMPLETE, stopped PRUNED (their intermediate values
  rank them), running RUNNING (so parallel suggestions steer clear of them), the rest FAIL.
- Strategies: Random, Optuna's RandomSampler; Bayesian, its TPESampler (a Gaussian-process sampler would need
  torch and scipy): multivariate (15 trials to benchmarks/tuning.py's 1 % of the optimum, median of 20 seeds,
  against 24 independent), Optuna's 10 random start-up trials (5 did worse), a constant liar for the running
  trials; it needs a sixth of Random's trials there. Hyperband: TPE, with stopping.py's rungs. Grid: Optuna's
  BruteForceSampler, which enumerates a define-by-run space (several definitions, each its own ranges) from the
  trials alone, skipping running ones, where GridSampler keeps its grid ids in attributes a rebuilt study lacks.
  Grid takes categorical and integer ranges (SageMaker documents categorical ones only; the service decides) in an
  order of its own, as SageMaker promises none.
- RandomSeed: the sampler is seeded from (RandomSeed, trials so far), so a rebuilt sampler does not replay the
  first suggestions and the same history gives the same next one. No RandomSeed, no seed.
- Several TrainingJobDefinitions: the definition is a categorical choice; each one's hyperparameters are
  its own Optuna parameters ("<DefinitionName>/<name>"), suggested after it.
- Warm start (both WarmStartTypes): a parent's trial enters the study with the parameters that lie in this job's
  ranges (the others are dropped, not clipped: a clipped value is a point nobody measured), under the definition
  of its name, or the first whose ranges take any of its parameters; a trial left with none is left out. Grid
  ignores them: it enumerates its own grid whatever the parents tried.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, Trial, TrialState

from modelbay.controllers.tuning_jobs import stopping
from modelbay.controllers.tuning_jobs.ranges import Range, ranges

DEFINITION = "TrainingJobDefinition"  # Optuna's parameter for the choice between several definitions
TARGET_REACHED = "TargetObjectiveMetricValue"
NOT_IMPROVING = "BestObjectiveNotImproving"
CONVERGED = "ConvergenceDetected"
IMPROVEMENT = 0.01  # SageMaker: a trial not improving the best by more than 1 % is "not improving"
CONVERGENCE_MIN_TRIALS = 10  # converged: this many objectives, the best not improving over the later half
EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")  # where Hyperband finds MaxResource

_STATES = {"completed": TrialState.COMPLETE, "stopped": TrialState.PRUNED, "running": TrialState.RUNNING}


@dataclass(frozen=True)
class Observation:
    """One trial of a tuning job as the store has it."""

    number: int  # the trial's index in its tuning job: 0, 1, 2, ... (creation order)
    definition: str | None  # its TrainingJobDefinition's DefinitionName (None: the single definition)
    parameters: dict[str, str]  # its tuned hyperparameters, as passed to the training job (strings)
    state: str  # "running" | "completed" | "stopped" (early-stopped or by the user) | "failed"
    objective: float | None = None  # its final objective value, if it has one
    intermediate: tuple[tuple[int, float], ...] = ()  # (step, value): the objective metric each time it was logged


@dataclass(frozen=True)
class _Definition:
    """A TrainingJobDefinition's tuned ranges, and their Optuna parameter names."""

    name: str | None
    ranges: tuple[Range, ...]
    prefixed: bool  # several definitions: its parameters are "<name>/<parameter>" in the study

    def key(self, tuned: Range) -> str:
        return f"{self.name}/{tuned.name}" if self.prefixed else tuned.name

    def grid_size(self) -> int:
        return math.prod(len(tuned.grid()) for tuned in self.ranges)


class Search:
    """The search of one tuning job over its history; make a new one whenever the history changes."""

    def __init__(self, config: dict[str, Any], definitions: Sequence[dict[str, Any]],
                 history: Sequence[Observation], warm: Sequence[Observation] = (), *,
                 median_min_trials: int = stopping.MEDIAN_MIN_TRIALS) -> None:
        """`config`: the request's HyperParameterTuningJobConfig (Strategy, StrategyConfig,
        HyperParameterTuningJobObjective, ResourceLimits, ParameterRanges, TrainingJobEarlyStoppingType,
        TuningJobCompletionCriteria, RandomSeed);
        `definitions`: the TrainingJobDefinition(s) (each may carry its own HyperParameterRanges and TuningObjective
        and DefinitionName); `history`: this job's trials so far; `warm`: the parents' trials (WarmStartConfig).
        Raises ValueError for ranges Optuna cannot search (the service rejects them first)."""
        self._config, self._specs = config, list(definitions) or [{}]
        self._strategy = str(config.get("Strategy") or "Bayesian")
        self._minimize = _objective(config, self._specs).get("Type") == "Minimize"
        self._median_min_trials = median_min_trials
        self._definitions = [_Definition(spec.get("DefinitionName"),
                                         tuple(ranges(spec.get("HyperParameterRanges") or config.get("ParameterRanges")
                                                      or {})), len(self._specs) > 1) for spec in self._specs]
        self._history = sorted(history, key=lambda observation: observation.number)
        self._study = self._rebuild([] if self._strategy == "Grid" else warm)

    # ---- suggestions -------------------------------------------------------------------------------------

    def suggest(self) -> tuple[str | None, dict[str, str]] | None:
        """The next trial's definition name and hyperparameters (values as strings, formatted as SageMaker passes
        them: integers without a decimal point, continuous as repr-ish floats, categoricals as given), or None
        when the strategy has nothing more to try (Grid: every combination taken). Successive calls on one Search
        propose what a Search rebuilt with the earlier proposals running would."""
        if self._strategy == "Grid" and self._grid_taken() >= sum(d.grid_size() for d in self._definitions):
            return None
        self._study.sampler = self._sampler(len(self._study.get_trials(deepcopy=False)))
        trial = self._study.ask()
        definition = self._choose(trial)
        return definition.name, {tuned.name: tuned.format(_draw(trial, definition.key(tuned), tuned.distribution))
                                 for tuned in definition.ranges}

    def _choose(self, trial: Trial) -> _Definition:
        if len(self._definitions) == 1:
            return self._definitions[0]
        name = trial.suggest_categorical(DEFINITION, [d.name for d in self._definitions])
        return next(d for d in self._definitions if d.name == name)

    def _sampler(self, trials: int) -> optuna.samplers.BaseSampler:
        seed = _seed(self._config.get("RandomSeed"), trials)
        with warnings.catch_warnings():  # constant_liar and BruteForceSampler are marked experimental
            warnings.simplefilter("ignore", ExperimentalWarning)
            if self._strategy == "Random":
                return optuna.samplers.RandomSampler(seed=seed)
            if self._strategy == "Grid":
                return optuna.samplers.BruteForceSampler(seed=seed)
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True,
                                              multivariate=True, group=len(self._definitions) > 1)

    def _grid_taken(self) -> int:
        """The distinct points of the grid this job's trials (any state) have taken."""
        return len({tuple(sorted(trial.params.items())) for trial in self._study.get_trials(deepcopy=False)})

    # ---- the study ---------------------------------------------------------------------------------------

    def _rebuild(self, warm: Sequence[Observation]) -> optuna.Study:
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # a study per pass: its INFO lines are noise
        direction = StudyDirection.MINIMIZE if self._minimize else StudyDirection.MAXIMIZE
        study = optuna.create_study(study_name="tuning-job", direction=direction)
        for observation, partial in [*((o, True) for o in warm), *((o, False) for o in self._history)]:
            if (trial := self._trial(observation, partial=partial)) is not None:
                study.add_trial(trial)
        return study

    def _trial(self, observation: Observation, *, partial: bool) -> FrozenTrial | None:
        """The Optuna trial of an observation; None for a parent's trial none of whose parameters is in the ranges
        (this job's own are all kept: a definition without ranges is a point of Grid's too)."""
        for definition in self._candidates(observation, partial=partial):
            params = _parsed(definition, observation.parameters)
            if params or not partial:
                return self._frozen(observation, definition, params)
        return None

    def _candidates(self, observation: Observation, *, partial: bool) -> list[_Definition]:
        named = [d for d in self._definitions if d.name == observation.definition]
        if named or (not partial and len(self._definitions) > 1):
            return named
        return self._definitions  # the single definition, or any for a parent's trial

    def _frozen(self, observation: Observation, definition: _Definition,
                params: list[tuple[Range, Any]]) -> FrozenTrial:
        values = {definition.key(tuned): value for tuned, value in params}
        distributions = {definition.key(tuned): tuned.distribution for tuned, _ in params}
        if definition.prefixed:  # the choice comes first: BruteForceSampler walks parameters in this order
            values = {DEFINITION: definition.name, **values}
            distributions = {DEFINITION: CategoricalDistribution([d.name for d in self._definitions]),
                             **distributions}
        state = _STATES.get(observation.state, TrialState.FAIL)
        if state == TrialState.COMPLETE and observation.objective is None:
            state = TrialState.FAIL
        return optuna.trial.create_trial(
            state=state, value=observation.objective if state == TrialState.COMPLETE else None,
            params=values, distributions=distributions, intermediate_values=dict(observation.intermediate))

    # ---- early stopping ----------------------------------------------------------------------------------

    def should_stop(self, running: Observation) -> bool:
        """Whether a running trial should be stopped early now, from its intermediate values: with
        TrainingJobEarlyStoppingType=Auto, SageMaker's rule (its objective at the latest step is worse than the
        median of earlier trials' objectives at the same step, given enough earlier trials); with the Hyperband
        strategy, Hyperband's rungs between MinResource and MaxResource (the step is the resource: epochs)."""
        earlier = [o.intermediate for o in self._history if o.number < running.number]
        if self._strategy == "Hyperband":
            hyperband = (self._config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
            return stopping.off_the_rungs(running.intermediate, earlier, minimize=self._minimize,
                                          min_resource=int(hyperband.get("MinResource") or 1),
                                          max_resource=hyperband.get("MaxResource") or self._epochs(running))
        if self._config.get("TrainingJobEarlyStoppingType") == "Auto":
            return stopping.below_median(running.intermediate, earlier, minimize=self._minimize,
                                         min_trials=self._median_min_trials)
        return False

    def _epochs(self, running: Observation) -> float:
        """MaxResource as SageMaker infers it from the static hyperparameters; without it, no upper rung."""
        spec = next((s for s in self._specs if s.get("DefinitionName") == running.definition), self._specs[0])
        static = spec.get("StaticHyperParameters") or {}
        return next((float(static[key]) for key in EPOCH_KEYS if key in static), math.inf)

    # ---- results -----------------------------------------------------------------------------------------

    def best(self) -> Observation | None:
        """The best completed trial of this job (Minimize/Maximize), None if none has an objective."""
        best: Observation | None = None
        for observation in self._completed():
            if best is None or stopping.worse(best.objective, observation.objective,  # type: ignore[arg-type]
                                              minimize=self._minimize):
                best = observation
        return best

    def complete(self) -> str | None:
        """Why the tuning job is done by TuningJobCompletionCriteria: TARGET_REACHED (the best objective reached
        TargetObjectiveMetricValue), NOT_IMPROVING (BestObjectiveNotImproving's MaxNumberOfTrainingJobsNotImproving
        trials in a row have not improved it by more than 1 %) or CONVERGED (ConvergenceDetected's
        CompleteOnConvergence Enabled, and the best has not improved over the later half of at least
        CONVERGENCE_MIN_TRIALS trials); None if not done. MaxNumberOfTrainingJobs is the controller's to count."""
        criteria = self._config.get("TuningJobCompletionCriteria") or {}
        target, best = criteria.get("TargetObjectiveMetricValue"), self.best()
        if target is not None and best is not None and not stopping.worse(
                best.objective, float(target), minimize=self._minimize):  # type: ignore[arg-type]
            return TARGET_REACHED
        patience = (criteria.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving")
        not_improving = self.number_of_trials_not_improving()
        if patience is not None and not_improving >= int(patience):
            return NOT_IMPROVING
        converging = (criteria.get("ConvergenceDetected") or {}).get("CompleteOnConvergence") == "Enabled"
        measured = sum(1 for _ in self._completed())
        if converging and measured >= CONVERGENCE_MIN_TRIALS and 2 * not_improving >= measured:
            return CONVERGED
        return None

    def number_of_trials_not_improving(self) -> int:
        """For TuningJobCompletionDetails.NumberOfTrainingJobsObjectiveNotImproving: the completed trials since
        the last one that improved the best objective by more than 1 %."""
        best: float | None = None
        count = 0
        for observation in self._completed():
            value = observation.objective
            assert value is not None
            if best is None or self._improves(value, best):
                count = 0
            else:
                count += 1
            best = value if best is None or stopping.worse(best, value, minimize=self._minimize) else best
        return count

    def _improves(self, value: float, best: float) -> bool:
        margin = IMPROVEMENT * abs(best)
        return value < best - margin if self._minimize else value > best + margin

    def _completed(self) -> Iterator[Observation]:
        return (o for o in self._history if o.state == "completed" and o.objective is not None)


def _objective(config: Mapping[str, Any], specs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The objective (its Type decides the direction): the job's, else the first definition's TuningObjective."""
    return config.get("HyperParameterTuningJobObjective") or specs[0].get("TuningObjective") or {}


def _parsed(definition: _Definition, parameters: Mapping[str, str]) -> list[tuple[Range, Any]]:
    """The observation's values that lie in the definition's ranges, as Optuna's values."""
    values: list[tuple[Range, Any]] = []
    for tuned in definition.ranges:
        if tuned.name in parameters:
            try:
                values.append((tuned, tuned.parse(parameters[tuned.name])))
            except ValueError:
                continue
    return values


def _draw(trial: Trial, key: str, distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(key, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(key, distribution.low, distribution.high, log=distribution.log)
    assert isinstance(distribution, optuna.distributions.FloatDistribution)
    return trial.suggest_float(key, distribution.low, distribution.high, log=distribution.log)


def _seed(random_seed: Any, trials: int) -> int | None:
    """A sampler's seed from RandomSeed and the trials so far (None without RandomSeed): a 32-bit hash of both."""
    if random_seed is None:
        return None
    return int.from_bytes(hashlib.sha256(f"{random_seed}/{trials}".encode()).digest()[:4], "big")
