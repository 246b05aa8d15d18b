"""The user's scripts a job may name: a record preprocessor (`preprocess_handler`) and a post-analytics processor
(`postprocess_handler`), loaded from their files as SageMaker's analyzer loads them."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelbay.container.model_monitor.job import AnalysisError


def load_handler(script: Path, name: str) -> Callable[..., Any]:
    """The function `name` of the Python file `script` (its folder importable); raise AnalysisError, also when the
    function raises."""
    spec = importlib.util.spec_from_file_location(f"_user_{script.stem}", script)
    if spec is None or spec.loader is None or not script.is_file():
        raise AnalysisError(f"The script {str(script)!r} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(script.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the user's script: any failure is reported as its own
        raise AnalysisError(f"The script {script.name} failed to load: {type(err).__name__}: {err}") from err
    handler = getattr(module, name, None)
    if not callable(handler):
        raise AnalysisError(f"The script {script.name} defines no function {name}()")

    def reported(*args: Any) -> Any:
        try:
            return handler(*args)
        except Exception as err:  # the user's code: its failure ends the job with its words
            raise AnalysisError(f"{name} of {script.name} failed: {type(err).__name__}: {err}") from err
    return reported
