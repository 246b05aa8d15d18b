"""The analyzer's run: read the dataset, write its statistics, then suggest constraints (baselining) or check the
baseline's (monitoring). See the package docstring for the environment and the files."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelbay.container.model_monitor.capture import read_capture
from modelbay.container.model_monitor.cloudwatch import metric_data, write_metrics
from modelbay.container.model_monitor.constraints import ConstraintsConfig, suggest_constraints
from modelbay.container.model_monitor.datasets import Table, read_dataset
from modelbay.container.model_monitor.job import AnalysisError, AnalysisJob
from modelbay.container.model_monitor.scripts import load_handler
from modelbay.container.model_monitor.statistics import dataset_statistics
from modelbay.container.model_monitor.violations import check

OPT_ML = Path("/opt/ml")
MESSAGE_FILE = "output/message"  # under /opt/ml: the job's ExitMessage


def main(environ: Mapping[str, str], opt_ml: Path = OPT_ML) -> int:
    """Run the analysis `environ` asks for; 0 when it ran (violations or not), 1 with the reason written when not."""
    try:
        analyze(AnalysisJob.from_environ(environ), opt_ml)
    except AnalysisError as err:
        print(f"model monitor analyzer: {err}", file=sys.stderr, flush=True)
        message = opt_ml / MESSAGE_FILE
        message.parent.mkdir(parents=True, exist_ok=True)
        message.write_text(f"{err}\n")
        return 1
    return 0


def analyze(job: AnalysisJob, opt_ml: Path) -> None:
    """One analysis, its files written; raise AnalysisError when it cannot run."""
    constraints, baseline = _baseline(job.baseline_constraints), _baseline(job.baseline_statistics)
    table = read_table(job, constraints or baseline)
    if not table.records:
        raise AnalysisError("Job inputs had no data: " + (
            f"no captured record under {job.dataset_source} lies between {job.window.start} and {job.window.end}"
            if job.is_capture else f"the dataset under {job.dataset_source} holds no record"))
    statistics = dataset_statistics(table)
    _write(job.output_path / "statistics.json", statistics)
    print(f"Analysed {len(table.records)} records of {len(table.names)} features", flush=True)
    if job.is_monitoring:
        findings = check(table, constraints, baseline)
        if constraints is not None:
            _write(job.output_path / "constraint_violations.json", {"violations": findings.violations})
            print(f"Found {len(findings.violations)} constraint violations", flush=True)
        if job.publish_metrics and ConstraintsConfig.of(constraints).emit_metrics:
            dimensions = {"Endpoint": job.endpoint_name, "MonitoringSchedule": job.schedule_name}
            write_metrics(opt_ml, metric_data(statistics, findings.drift, job.window.end or datetime.now(UTC),
                                              {k: v for k, v in dimensions.items() if v}))
    else:
        _write(job.output_path / "constraints.json", suggest_constraints(statistics, job.categorical_drift_method))
    if job.post_analytics_processor_script is not None:
        load_handler(job.post_analytics_processor_script, "postprocess_handler")()


def read_table(job: AnalysisJob, baseline: dict[str, Any] | None) -> Table:
    """The job's dataset, its positional columns (captured CSV's, a CSV's without a header) named after the
    baseline's features."""
    if job.is_capture:
        preprocessor = None if job.record_preprocessor_script is None else load_handler(
            job.record_preprocessor_script, "preprocess_handler")
        table = read_capture(job.dataset_format["sagemakerCaptureJson"], job.dataset_source, job.window, preprocessor)
    else:
        table = read_dataset(job.dataset_format, job.dataset_source)
    return table.renamed([feature["name"] for feature in (baseline or {}).get("features", [])])


def _baseline(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise AnalysisError(f"The baseline file {path} cannot be read: {err}") from err
    if not isinstance(document, dict):
        raise AnalysisError(f"The baseline file {path} is not a JSON object")
    return document


def _write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
