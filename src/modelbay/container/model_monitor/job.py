"""The analysis a job asks for, read from its environment (the variables the package docstring lists)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_OUTPUT = "/opt/ml/processing/output"


class AnalysisError(Exception):
    """The analysis cannot run; the message says why, for the job's ExitMessage."""


@dataclass(frozen=True)
class Window:
    """The captured records to analyse: those whose inference time is in [start, end); None is unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    def holds(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and (self.end is None or moment < self.end)


@dataclass(frozen=True)
class AnalysisJob:
    """One run of the analyzer."""

    dataset_format: dict[str, Any]
    dataset_source: Path
    output_path: Path
    baseline_constraints: Path | None = None
    baseline_statistics: Path | None = None
    publish_metrics: bool = False
    endpoint_name: str | None = None
    schedule_name: str | None = None
    window: Window = Window()
    categorical_drift_method: str | None = None
    record_preprocessor_script: Path | None = None
    post_analytics_processor_script: Path | None = None

    @property
    def is_capture(self) -> bool:
        """Whether the dataset is an endpoint's captured data."""
        return "sagemakerCaptureJson" in self.dataset_format

    @property
    def is_monitoring(self) -> bool:
        """A monitoring execution (checks against a baseline), not a baselining job (which suggests one)."""
        return self.is_capture or self.baseline_constraints is not None or self.baseline_statistics is not None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AnalysisJob:
        """The job `environ` describes; raise AnalysisError naming a missing or malformed variable."""
        return cls(
            dataset_format=_dataset_format(environ.get("dataset_format")),
            dataset_source=Path(_required(environ, "dataset_source")),
            output_path=Path(environ.get("output_path") or DEFAULT_OUTPUT),
            baseline_constraints=_path(environ, "baseline_constraints"),
            baseline_statistics=_path(environ, "baseline_statistics"),
            publish_metrics=environ.get("publish_cloudwatch_metrics", "").lower() == "enabled",
            endpoint_name=environ.get("sagemaker_endpoint_name") or None,
            schedule_name=environ.get("sagemaker_monitoring_schedule_name") or None,
            window=Window(_time(environ, "start_time"), _time(environ, "end_time")),
            categorical_drift_method=environ.get("categorical_drift_method") or None,
            record_preprocessor_script=_path(environ, "record_preprocessor_script"),
            post_analytics_processor_script=_path(environ, "post_analytics_processor_script"),
        )


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (`2026-12-05T21:00:00Z`), naive ones taken as UTC; raise ValueError."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _dataset_format(text: str | None) -> dict[str, Any]:
    if not text:
        raise AnalysisError("The environment variable dataset_format is required (for example "
                            '{"csv": {"header": true}})')
    try:
        value = json.loads(text)
    except ValueError as err:
        raise AnalysisError(f"dataset_format is not JSON: {err}") from err
    kinds = {"csv", "json", "sagemakerCaptureJson"}
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in kinds:
        raise AnalysisError(f"dataset_format {text!r} is not supported: give one of {sorted(kinds)} with its "
                            "options, such as {\"csv\": {\"header\": true}}")
    return value


def _required(environ: Mapping[str, str], name: str) -> str:
    if not environ.get(name):
        raise AnalysisError(f"The environment variable {name} is required")
    return environ[name]


def _path(environ: Mapping[str, str], name: str) -> Path | None:
    return Path(environ[name]) if environ.get(name) else None


def _time(environ: Mapping[str, str], name: str) -> datetime | None:
    if not environ.get(name):
        return None
    try:
        return parse_time(environ[name])
    except ValueError as err:
        raise AnalysisError(f"{name} {environ[name]!r} is not an ISO 8601 time") from err
