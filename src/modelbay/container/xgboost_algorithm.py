"""SageMaker's built-in XGBoost algorithm: what the XGBoost image trains when it is given no script.

Users reach it with the generic `Estimator(image_uri=<xgboost image>)` and hyperparameters only. As
SageMaker's algorithm does: the `train` channel (and `validation`, if given) hold CSV with the label in
the first column and no header (ContentType `text/csv`) or LIBSVM (`text/libsvm`, the default);
`num_round` is required and every other hyperparameter is an XGBoost parameter; each round's
evaluation is logged as `[n]#011train-rmse:…#011validation-rmse:…`; the booster is saved as
`xgboost-model` in the model dir, which the XGBoost model server loads.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from modelbay.container.training_env import TrainingEnv
from modelbay.container.user_program import UserProgramError

CSV, LIBSVM = "text/csv", "text/libsvm"
MODEL_FILE = "xgboost-model"


def train(env: TrainingEnv) -> None:
    """Train a booster from the channels and hyperparameters; raise UserProgramError for a bad job."""
    xgboost = importlib.import_module("xgboost")
    params = {name: _number(value) for name, value in env.hyperparameters.items()}
    try:
        rounds = int(params.pop("num_round"))
    except KeyError:
        raise UserProgramError("Hyperparameter num_round is required by the XGBoost algorithm") from None
    except (TypeError, ValueError):
        raise UserProgramError(f"Hyperparameter num_round must be an integer, not {params['num_round']!r}") from None
    if "train" not in env.input_data_config:
        raise UserProgramError("The XGBoost algorithm needs a channel named 'train'")
    sets = [(_matrix(xgboost, env, name), name) for name in ("train", "validation") if name in env.input_data_config]
    try:
        booster = xgboost.train(params, sets[0][0], num_boost_round=rounds, evals=sets,
                                callbacks=[_round_logger(xgboost)], verbose_eval=False)
    except xgboost.core.XGBoostError as err:
        raise UserProgramError(f"XGBoost could not train: {str(err).splitlines()[0]}") from None
    env.paths.model_dir.mkdir(parents=True, exist_ok=True)
    (env.paths.model_dir / MODEL_FILE).write_bytes(booster.save_raw(raw_format="ubj"))  # the name says no format


def _matrix(xgboost: Any, env: TrainingEnv, channel: str) -> Any:
    """The channel's files as one DMatrix, read by its ContentType."""
    content_type = str(env.input_data_config[channel].get("ContentType") or LIBSVM).split(";")[0].strip().lower()
    files = sorted(path for path in (env.paths.input_dir / "data" / channel).rglob("*") if path.is_file())
    if not files:
        raise UserProgramError(f"Channel {channel!r} holds no files")
    if content_type == CSV:
        numpy = importlib.import_module("numpy")
        rows = numpy.vstack([numpy.loadtxt(path, delimiter=",", ndmin=2) for path in files])
        return xgboost.DMatrix(rows[:, 1:], label=rows[:, 0])
    if content_type in (LIBSVM, "libsvm"):
        return xgboost.DMatrix(_joined(files, env.paths.input_dir / f"{channel}.libsvm") + "?format=libsvm")
    raise UserProgramError(f"Channel {channel!r} has content type {content_type!r}; the XGBoost algorithm "
                           f"reads {CSV} and {LIBSVM}")


def _joined(files: list[Path], target: Path) -> str:
    """One file holding all of `files`, for XGBoost's LIBSVM reader, which takes a single path."""
    if len(files) == 1:
        return str(files[0])
    with target.open("wb") as out:
        for path in files:
            out.write(path.read_bytes().rstrip(b"\n") + b"\n")
    return str(target)


def _number(value: Any) -> Any:
    """Hyperparameters arrive as strings: "5" → 5, "0.1" → 0.1, anything else as given."""
    for kind in (int, float):
        try:
            return kind(value)
        except (TypeError, ValueError):
            continue
    return value


def _round_logger(xgboost: Any) -> Any:
    """An XGBoost callback printing each round as SageMaker's algorithm does (MetricDefinitions read it).

    Defined here because its base class comes from the xgboost of the image, imported at run time."""

    class RoundLogger(xgboost.callback.TrainingCallback):  # type: ignore[misc]
        def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, list[float]]]) -> bool:
            scores = [f"{data}-{metric}:{values[-1]:.5f}" for data, metrics in evals_log.items()
                      for metric, values in metrics.items()]
            print(f"[{epoch}]#011" + "#011".join(scores), flush=True)
            return False

    return RoundLogger()
