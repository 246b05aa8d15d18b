"""What CreateHyperParameterTuningJob refuses beyond botocore's model, in SageMaker's words where it has them.

The model checks types, enums and list lengths; SageMaker also checks that the job has one kind of
training job definition, an objective that its metric definitions can find, parameter ranges that make
sense for their scaling (Logarithmic: above 0; ReverseLogarithmic: within [0, 1), continuous only), at most
30 hyperparameters to search, what each strategy needs (Grid: categorical ranges only; Hyperband: its own
early stopping and a MaxResource), and warm start parents that exist and have ended.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelbay.errors import ValidationError
from modelbay.services.sagemaker.algorithm_metrics import metric_definitions
from modelbay.services.sagemaker.training_jobs import check_runnable
from modelbay.store.metadata.tuning_jobs import training_resources

MAX_TUNED_PARAMETERS = 30  # ParameterRanges: the sum over all three kinds of range
MAX_STATIC_AND_TUNED = 100  # static + tunable hyperparameters
MAX_HYPERBAND_RESOURCE = 20000
# Where Hyperband reads MaxResource when its StrategyConfig gives none (SageMaker's list).
EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
_RANGE_KINDS = ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges")


def check_tuning_job(params: dict[str, Any], status_of: Callable[[str], str | None]) -> None:
    """Refuse a CreateHyperParameterTuningJob request SageMaker refuses (ValidationError naming the member).

    `status_of(name)` is a tuning job's status, None if there is none (for the warm start's parents).
    """
    config = params["HyperParameterTuningJobConfig"]
    if params.get("Autotune"):
        raise ValidationError("Autotune is not available in modelbay: give the HyperParameterTuningJobConfig's "
                              "Strategy, ParameterRanges and ResourceLimits")
    definitions = _definitions(params)
    for definition in definitions:
        _check_definition(config, definition, several=len(definitions) > 1)
    _check_strategy(config, definitions)
    _check_limits(config["ResourceLimits"], config["Strategy"])
    if len(definitions) > 1 and (params.get("WarmStartConfig") or config.get("TrainingJobEarlyStoppingType") == "Auto"):
        raise ValidationError("Warm start and early stopping are available only when tuning a single training job "
                              "definition")
    if "WarmStartConfig" in params:
        _check_parents(params["WarmStartConfig"], status_of)


def _definitions(params: dict[str, Any]) -> list[dict[str, Any]]:
    single: dict[str, Any] | None = params.get("TrainingJobDefinition")
    several: list[dict[str, Any]] | None = params.get("TrainingJobDefinitions")
    if single is not None and several is None:
        return [single]
    if several is None or single is not None:
        raise ValidationError("Exactly one of TrainingJobDefinition or TrainingJobDefinitions must be specified")
    if any("DefinitionName" not in definition for definition in several):
        raise ValidationError("Each of TrainingJobDefinitions must have a DefinitionName")
    names: list[str] = [definition["DefinitionName"] for definition in several]
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise ValidationError(f"TrainingJobDefinitions: DefinitionName must be unique; repeated: {', '.join(repeated)}")
    return list(several)


def _check_definition(config: dict[str, Any], definition: dict[str, Any], *, several: bool) -> None:
    what = f"TrainingJobDefinition {definition['DefinitionName']}" if several else "TrainingJobDefinition"
    check_runnable({key: value for key, value in definition.items() if key != "HyperParameterRanges"}
                   | {"ResourceConfig": training_resources(definition)})
    objective = config.get("HyperParameterTuningJobObjective") or definition.get("TuningObjective")
    if objective is None:
        raise ValidationError(f"{what}: a TuningObjective is required when the HyperParameterTuningJobConfig has no "
                              "HyperParameterTuningJobObjective")
    metrics = [metric["Name"] for metric in metric_definitions(definition["AlgorithmSpecification"])]
    if objective["MetricName"] not in metrics:
        raise ValidationError(f"{what}: the objective metric {objective['MetricName']!r} is not defined in "
                              f"AlgorithmSpecification.MetricDefinitions ({', '.join(metrics) or 'none'})")
    ranges = definition.get("HyperParameterRanges") or config.get("ParameterRanges")
    if ranges is None:
        raise ValidationError(f"{what}: ParameterRanges (or the definition's HyperParameterRanges) is required")
    check_ranges(ranges, definition.get("StaticHyperParameters", {}))


def check_ranges(ranges: dict[str, Any], static: dict[str, str]) -> None:
    """Refuse ranges SageMaker refuses: repeated or static names, too many, bad bounds for the scaling."""
    if ranges.get("AutoParameters"):
        raise ValidationError("AutoParameters (Autotune) are not available in modelbay")
    names = [given["Name"] for kind in _RANGE_KINDS for given in ranges.get(kind, [])]
    if not names:
        raise ValidationError("ParameterRanges must specify at least one hyperparameter range")
    if len(names) > MAX_TUNED_PARAMETERS:
        raise ValidationError(f"ParameterRanges specifies {len(names)} hyperparameters; a tuning job can search at "
                              f"most {MAX_TUNED_PARAMETERS}")
    if repeated := sorted({name for name in names if names.count(name) > 1} | (set(names) & set(static))):
        raise ValidationError(f"Hyperparameter names must be unique across ParameterRanges and "
                              f"StaticHyperParameters; repeated: {', '.join(repeated)}")
    if len(names) + len(static) > MAX_STATIC_AND_TUNED:
        raise ValidationError(f"A tuning job can use at most {MAX_STATIC_AND_TUNED} hyperparameters in total "
                              "(static + tunable)")
    for given in ranges.get("IntegerParameterRanges", []):
        _check_bounds(given, int, "IntegerParameterRange")
    for given in ranges.get("ContinuousParameterRanges", []):
        _check_bounds(given, float, "ContinuousParameterRange")
    for given in ranges.get("CategoricalParameterRanges", []):
        if len(set(given["Values"])) != len(given["Values"]):
            raise ValidationError(f"CategoricalParameterRange {given['Name']}: Values must be unique")


def _check_bounds(given: dict[str, Any], kind: Callable[[str], float], what: str) -> None:
    name, scaling = given["Name"], given.get("ScalingType", "Auto")
    try:
        low, high = kind(given["MinValue"]), kind(given["MaxValue"])
    except ValueError as err:
        number = "an integer" if kind is int else "a number"
        raise ValidationError(f"{what} {name}: MinValue and MaxValue must each be {number}") from err
    if low >= high:
        raise ValidationError(f"{what} {name}: MinValue ({given['MinValue']}) must be less than MaxValue "
                              f"({given['MaxValue']})")
    if scaling == "Logarithmic" and low <= 0:
        raise ValidationError(f"{what} {name}: Logarithmic scaling works only for ranges that have only values "
                              "greater than 0")
    if scaling == "ReverseLogarithmic" and (kind is int or not 0 <= low < high < 1):
        raise ValidationError(f"{what} {name}: Reverse logarithmic scaling works only for continuous ranges that "
                              "are entirely within the range 0<=x<1.0")


def _check_strategy(config: dict[str, Any], definitions: list[dict[str, Any]]) -> None:
    strategy = config["Strategy"]
    if "StrategyConfig" in config and strategy != "Hyperband":
        raise ValidationError("StrategyConfig is only supported for the Hyperband strategy")
    if strategy == "Grid":
        for definition in definitions:
            ranges = definition.get("HyperParameterRanges") or config.get("ParameterRanges") or {}
            if ranges.get("IntegerParameterRanges") or ranges.get("ContinuousParameterRanges"):
                raise ValidationError("Only categorical parameters are supported when using the Grid search "
                                      "strategy")
    if strategy == "Hyperband":
        _check_hyperband(config, definitions)


def _check_hyperband(config: dict[str, Any], definitions: list[dict[str, Any]]) -> None:
    if config.get("TrainingJobEarlyStoppingType", "Off") != "Off":
        raise ValidationError("TrainingJobEarlyStoppingType must be Off to use Hyperband, which has its own internal "
                              "early stopping mechanism")
    given = config.get("StrategyConfig", {}).get("HyperbandStrategyConfig", {})
    for definition in definitions:
        static = definition.get("StaticHyperParameters", {})
        inferred = next((static[key] for key in EPOCH_KEYS if key in static), None)
        maximum = given.get("MaxResource") or (int(inferred) if inferred and inferred.isdigit() else None)
        if maximum is None:
            raise ValidationError("HyperbandStrategyConfig.MaxResource is required: it could not be inferred from "
                                  f"the StaticHyperParameters ({', '.join(EPOCH_KEYS)})")
        if maximum > MAX_HYPERBAND_RESOURCE:
            raise ValidationError(f"HyperbandStrategyConfig.MaxResource must be at most {MAX_HYPERBAND_RESOURCE}")
        if given.get("MinResource", 1) > maximum:
            raise ValidationError(f"HyperbandStrategyConfig.MinResource ({given['MinResource']}) must not be greater "
                                  f"than MaxResource ({maximum})")


def _check_limits(limits: dict[str, Any], strategy: str) -> None:
    if strategy != "Grid" and "MaxNumberOfTrainingJobs" not in limits:
        raise ValidationError(f"ResourceLimits.MaxNumberOfTrainingJobs is required for the {strategy} strategy")


def _check_parents(warm: dict[str, Any], status_of: Callable[[str], str | None]) -> None:
    for parent in warm["ParentHyperParameterTuningJobs"]:
        name = parent.get("HyperParameterTuningJobName")
        if name is None:
            raise ValidationError("WarmStartConfig: each parent needs its HyperParameterTuningJobName")
        status = status_of(name)
        if status is None:
            raise ValidationError(f"WarmStartConfig: the parent hyperparameter tuning job {name} does not exist")
        if status not in ("Completed", "Stopped", "Failed"):
            raise ValidationError(f"WarmStartConfig: the parent hyperparameter tuning job {name} is {status}; a "
                                  "parent must have ended (Completed, Stopped or Failed)")
