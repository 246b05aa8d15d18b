"""A tuning job's trials as `modelbay tuning trials` shows them: ranked by objective, the early-stopped ones told
apart, the parameters' importance, and the plot.

Everything is read from the server's answers (DescribeHyperParameterTuningJob and
ListTrainingJobsForHyperParameterTuningJob). The importance is Optuna's, computed here over a study rebuilt from the
trials: each trial's TunedHyperParameters in the distributions its definition's ParameterRanges describe, and its
final objective value. The evaluator is PED-ANOVA (`PedAnovaImportanceEvaluator`), which needs nothing beyond Optuna
(its default, fANOVA, needs scikit-learn) and is meant for studies of a few dozen trials, as tuning jobs are.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelbay.cli.metrics import PLOT_PIXELS
from modelbay.user_files import open_for_writing

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

_DPI = 100
_STOPPED_BY_THE_USER = ("Stopping", "Stopped")  # a tuning job in these stopped its trials itself
_MARKERS = {"Completed": "o", "Stopped": "x"}  # any other status: "s"


@dataclass(frozen=True)
class Trials:
    """A tuning job's trials: best first (those without an objective value last, oldest first), and as created."""

    objective: str
    maximize: bool
    ranked: list[dict[str, Any]]
    created: list[dict[str, Any]]
    best: str | None
    early_stopped: frozenset[str]

    @property
    def title(self) -> str:
        return f"{'Maximize' if self.maximize else 'Minimize'} {self.objective}"


def trials(job: dict[str, Any], summaries: list[dict[str, Any]]) -> Trials:
    """`job`'s trials (`summaries`, any order) ranked by their final objective value, as SageMaker's BestTrainingJob
    names the best."""
    objective = (job["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective")
                 or job["TrainingJobDefinitions"][0]["TuningObjective"])
    maximize = objective["Type"] == "Maximize"
    created = sorted(summaries, key=lambda trial: trial["CreationTime"])
    scored = sorted(((score, trial) for trial in created if (score := value(trial)) is not None),
                    key=lambda pair: -pair[0] if maximize else pair[0])  # stable: ties stay in creation order
    return Trials(objective["MetricName"], maximize,
                  [trial for _, trial in scored] + [trial for trial in created if value(trial) is None], created,
                  job.get("BestTrainingJob", {}).get("TrainingJobName"), _early_stopped(job, created))


def value(trial: dict[str, Any]) -> float | None:
    """The trial's final objective value, if it reported one."""
    final = trial.get("FinalHyperParameterTuningJobObjectiveMetric")
    return None if final is None else float(final["Value"])


def _early_stopped(job: dict[str, Any], created: list[dict[str, Any]]) -> frozenset[str]:
    """The trials the tuning job stopped early: Stopped while the job uses early stopping (Auto, or Hyperband's own
    between rungs) and was not itself asked to stop (then it stops every trial)."""
    config = job["HyperParameterTuningJobConfig"]
    stops_early = config.get("TrainingJobEarlyStoppingType") == "Auto" or config["Strategy"] == "Hyperband"
    if not stops_early or job["HyperParameterTuningJobStatus"] in _STOPPED_BY_THE_USER:
        return frozenset()
    return frozenset(trial["TrainingJobName"] for trial in created if trial["TrainingJobStatus"] == "Stopped")


def parameter_ranges(job: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    """Each training job definition's ParameterRanges by its DefinitionName (None: the one TrainingJobDefinition)."""
    if "TrainingJobDefinitions" in job:
        return {definition.get("DefinitionName"): definition.get("HyperParameterRanges", {})
                for definition in job["TrainingJobDefinitions"]}
    return {None: job["HyperParameterTuningJobConfig"].get("ParameterRanges", {})}


def importances(found: Trials, ranges: Mapping[str | None, dict[str, Any]]) -> dict[str, float]:
    """Each tuned parameter's share of what made the best trials best (Optuna's PED-ANOVA, summing to 1), most
    important first; empty with fewer than two trials that have an objective value in their ranges."""
    import optuna  # lazily: only --plot needs it, and it takes a while to import
    from optuna.importance import PedAnovaImportanceEvaluator

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if found.maximize else "minimize")
    for trial in found.ranked:
        if (score := value(trial)) is None:
            continue
        distributions = _distributions(ranges.get(trial.get("TrainingJobDefinitionName"), {}))
        tuned = {name: given for name, given in trial["TunedHyperParameters"].items() if name in distributions}
        try:
            study.add_trial(optuna.trial.create_trial(
                params={name: _typed(distributions[name], given) for name, given in tuned.items()},
                distributions={name: distributions[name] for name in tuned}, value=score))
        except ValueError:  # a value outside its range (a parent's trial, warm-started with other ranges)
            continue
    if len(study.trials) < 2:
        return {}
    with warnings.catch_warnings():  # its advice on small studies: a tuning job has the trials it has
        warnings.simplefilter("ignore")
        return optuna.importance.get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())


def _distributions(ranges: dict[str, Any]) -> dict[str, BaseDistribution]:
    """Optuna's distribution of each range; Logarithmic is log-scaled, the other scalings are read as linear."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    found: dict[str, BaseDistribution] = {}
    for given in ranges.get("IntegerParameterRanges", []):
        found[given["Name"]] = IntDistribution(int(given["MinValue"]), int(given["MaxValue"]),
                                               log=given.get("ScalingType") == "Logarithmic")
    for given in ranges.get("ContinuousParameterRanges", []):
        found[given["Name"]] = FloatDistribution(float(given["MinValue"]), float(given["MaxValue"]),
                                                 log=given.get("ScalingType") == "Logarithmic")
    for given in ranges.get("CategoricalParameterRanges", []):
        found[given["Name"]] = CategoricalDistribution(given["Values"])
    return found


def _typed(distribution: BaseDistribution, given: str) -> Any:
    """A TunedHyperParameters value (a string) as a value of its distribution: categorical values stay strings."""
    from optuna.distributions import FloatDistribution, IntDistribution

    if isinstance(distribution, IntDistribution):
        return int(float(given))
    return float(given) if isinstance(distribution, FloatDistribution) else given


def draw(path: Path, name: str, found: Trials, importance: dict[str, float]) -> None:
    """The objective of each trial in the order they were created, the running best as a line, beside the
    parameters' importance: a PNG at `path`."""
    from matplotlib.figure import Figure  # lazily: matplotlib takes a while to import, and only --plot needs it

    figure = Figure(figsize=(PLOT_PIXELS[0] / _DPI, PLOT_PIXELS[1] / _DPI), dpi=_DPI, layout="constrained")
    over_trials, ranked = figure.subplots(1, 2, width_ratios=(2, 1))
    figure.suptitle(f"{name}: {found.title}")
    _draw_objective(over_trials, found)
    _draw_importance(ranked, importance)
    with open_for_writing(path) as stream:
        figure.savefig(stream, format="png")


def _draw_objective(axes: Any, found: Trials) -> None:
    numbers = range(1, len(found.created) + 1)
    for shown_as in sorted({status(found, trial) for trial in found.created}):
        points = [(n, value(trial)) for n, trial in zip(numbers, found.created, strict=True)
                  if status(found, trial) == shown_as and value(trial) is not None]
        axes.scatter([n for n, _ in points], [score for _, score in points],
                     marker=_MARKERS.get(shown_as.split()[0], "s"), label=shown_as, zorder=3)
    axes.step(numbers, [float("nan") if best is None else best for best in running_best(found)], where="post",
              color="C3", label="best so far")
    for n, trial in zip(numbers, found.created, strict=True):
        if trial["TrainingJobName"] == found.best:
            axes.scatter([n], [value(trial)], marker="*", s=250, color="gold", edgecolors="black",
                         label=f"best: {found.best}", zorder=4)
    axes.xaxis.get_major_locator().set_params(integer=True)  # trials are counted
    axes.set_xlabel("trial, in the order created")
    axes.set_ylabel(found.objective)
    axes.grid(alpha=0.3)
    if found.created:
        axes.legend(fontsize="small")


def running_best(found: Trials) -> list[float | None]:
    """After each trial in the order created, the best objective value reported so far (None: none yet)."""
    best: list[float | None] = []
    for trial in found.created:
        score, previous = value(trial), best[-1] if best else None
        if score is not None and previous is not None:
            score = max(score, previous) if found.maximize else min(score, previous)
        best.append(previous if score is None else score)
    return best


def _draw_importance(axes: Any, importance: dict[str, float]) -> None:
    axes.set_title("parameter importance (Optuna, PED-ANOVA)", fontsize="medium")
    if not importance:
        axes.text(0.5, 0.5, "needs two trials with an objective value", ha="center", va="center",
                  transform=axes.transAxes)
        axes.set_axis_off()
        return
    names = list(importance)[::-1]  # the most important on top
    axes.barh(names, [importance[name] for name in names], color="C0")
    axes.set_xlim(0, 1)
    axes.grid(axis="x", alpha=0.3)


def status(found: Trials, trial: dict[str, Any]) -> str:
    """The trial's TrainingJobStatus, `Stopped (early)` for one the tuning job stopped early."""
    return "Stopped (early)" if trial["TrainingJobName"] in found.early_stopped else str(trial["TrainingJobStatus"])
