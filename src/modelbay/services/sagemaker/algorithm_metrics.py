"""The metrics SageMaker's built-in algorithms define for themselves, used where a request gives no MetricDefinitions.

SageMaker's XGBoost algorithm logs each round as `[n]#011train-rmse:…#011validation-rmse:…` and defines a metric
`<channel>:<metric>` for each evaluation metric it can log, which a tuning job may name as its objective without
MetricDefinitions of its own. An image is the algorithm's when its repository is `sagemaker-xgboost`.
"""

from __future__ import annotations

from typing import Any

_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_XGBOOST_METRICS = ("rmse", "mae", "mse", "rmsle", "mape", "logloss", "error", "auc", "aucpr", "merror", "mlogloss",
                    "ndcg", "map", "poisson-nloglik", "gamma-nloglik", "cox-nloglik", "gamma-deviance",
                    "tweedie-nloglik", "f1", "accuracy", "balanced_accuracy", "r2", "precision", "recall")
_ALGORITHMS = {"sagemaker-xgboost": [
    {"Name": f"{channel}:{metric}", "Regex": rf".*\[[0-9]+\].*#011{channel}-{metric}:{_NUMBER}.*"}
    for channel in ("train", "validation") for metric in _XGBOOST_METRICS]}


def algorithm_metrics(training_image: str) -> list[dict[str, Any]]:
    """The MetricDefinitions of the built-in algorithm `training_image` runs (none for other images)."""
    repository = training_image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return [dict(definition) for definition in _ALGORITHMS.get(repository, [])]


def metric_definitions(algorithm: dict[str, Any]) -> list[dict[str, Any]]:
    """An AlgorithmSpecification's MetricDefinitions, else its built-in algorithm's."""
    given: list[dict[str, Any]] = algorithm.get("MetricDefinitions") or []
    return given or algorithm_metrics(algorithm.get("TrainingImage", ""))
