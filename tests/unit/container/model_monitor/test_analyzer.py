"""The analyzer run as a job runs it: its environment in, its files out, its exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sagemaker.model_monitor import Constraints, ConstraintViolations, Statistics

from modelbay.container.model_monitor.analyzer import main
from tests.unit.container.model_monitor.test_datasets import captured

BASELINE_CSV = "".join(f"{i % 7},{(i % 13) / 2},{'ab'[i % 2]}\n" for i in range(300))


def baseline(folder: Path, header: bool = False) -> dict[str, str]:
    """Run a baselining job over a CSV like BASELINE_CSV; answer the environment a monitoring job needs of it."""
    (folder / "input").mkdir(parents=True)
    (folder / "input" / "train.csv").write_text(("a,b,c\n" if header else "") + BASELINE_CSV)
    env = {"dataset_format": json.dumps({"csv": {"header": header, "output_columns_position": "START"}}),
           "dataset_source": str(folder / "input"), "output_path": str(folder / "baseline")}
    assert main(env, folder / "opt_ml") == 0
    return {"baseline_constraints": str(folder / "baseline" / "constraints.json"),
            "baseline_statistics": str(folder / "baseline" / "statistics.json")}


def monitor(folder: Path, lines: list[str], **env: str) -> tuple[int, Path]:
    """Run a monitoring execution over captured `lines` with `env`; its exit status and output folder."""
    hour = folder / "capture" / "ep" / "AllTraffic" / "2026" / "12" / "05" / "21"
    hour.mkdir(parents=True)
    (hour / "data.jsonl").write_text("\n".join(lines) + "\n")
    job = {"dataset_format": json.dumps({"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}),
           "dataset_source": str(folder / "capture"), "output_path": str(folder / "out"),
           "start_time": "2026-12-05T21:00:00Z", "end_time": "2026-12-05T22:00:00Z",
           "sagemaker_endpoint_name": "ep", "sagemaker_monitoring_schedule_name": "hourly"} | env
    return main(job, folder / "opt_ml"), folder / "out"


def read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def test_a_baseline_of_a_csv_with_a_header_names_its_features(tmp_path: Path, sdk_reads: Path) -> None:
    baseline(tmp_path, header=True)
    statistics = Statistics.from_s3_uri("s3://bucket/baseline/statistics.json")
    constraints = Constraints.from_s3_uri("s3://bucket/baseline/constraints.json")
    assert [f["name"] for f in statistics.body_dict["features"]] == ["a", "b", "c"]
    assert statistics.body_dict["dataset"]["item_count"] == 300
    assert [f["inferred_type"] for f in constraints.body_dict["features"]] == ["Integral", "Fractional", "String"]
    assert not (tmp_path / "baseline" / "constraint_violations.json").exists()


def test_captured_data_like_the_baseline_completes_without_violations(tmp_path: Path, sdk_reads: Path) -> None:
    files = baseline(tmp_path)
    lines = [captured(row) for row in BASELINE_CSV.splitlines()[:120]]
    lines.append(captured("90,90,z", when="2026-12-05T23:30:00Z"))  # after the window: left out
    status, out = monitor(tmp_path, lines, **files)
    assert status == 0
    violations = ConstraintViolations.from_s3_uri("s3://bucket/out/constraint_violations.json")
    assert violations.body_dict == {"violations": []}
    assert read(out / "statistics.json")["dataset"]["item_count"] == 120
    assert not (out / "constraints.json").exists()
    assert not (tmp_path / "opt_ml" / "output" / "metrics").exists()  # metrics were not asked for


def test_drifted_captured_data_reports_violations_and_publishes_metrics(tmp_path: Path) -> None:
    files = baseline(tmp_path)
    lines = [captured(f"{i % 7 + 20},{i / 2},{'xy'[i % 2]},extra") for i in range(100)]
    status, out = monitor(tmp_path, lines, publish_cloudwatch_metrics="Enabled", **files)
    assert status == 0  # violations are a result, not a failure
    checks = {(v["feature_name"], v["constraint_check_type"]) for v in read(out / "constraint_violations.json")[
        "violations"]}
    assert {("_c0", "baseline_drift_check"), ("_c2", "categorical_values_check"),
            ("_c3", "extra_column_check")} <= checks
    metrics = [json.loads(line) for line in
               (tmp_path / "opt_ml/output/metrics/cloudwatch/cloudwatch_metrics.jsonl").read_text().splitlines()]
    by_name = {m["MetricName"]: m for m in metrics}
    assert by_name["feature_baseline_drift__c0"]["Value"] == 1.0
    assert by_name["feature_non_null__c1"]["Value"] == 1.0
    assert by_name["feature_data__c0"]["StatisticValues"] == {"SampleCount": 100.0, "Sum": 2295.0,
                                                              "Minimum": 20.0, "Maximum": 26.0}
    assert by_name["feature_data__c0"]["Dimensions"] == [{"Name": "Endpoint", "Value": "ep"},
                                                         {"Name": "MonitoringSchedule", "Value": "hourly"}]
    assert by_name["feature_data__c0"]["Timestamp"] == "2026-12-05T22:00:00Z"


def test_a_headered_baseline_names_the_captured_columns_by_position(tmp_path: Path) -> None:
    files = baseline(tmp_path, header=True)
    lines = [captured(row.rsplit(",", 1)[0]) for row in BASELINE_CSV.splitlines()]  # without the last column
    status, out = monitor(tmp_path, lines, **files)
    assert status == 0
    assert [f["name"] for f in read(out / "statistics.json")["features"]] == ["a", "b"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in read(out / "constraint_violations.json")[
        "violations"]] == [("c", "missing_column_check")]


def test_no_captured_data_in_the_window_fails_with_a_message(tmp_path: Path) -> None:
    status, _ = monitor(tmp_path, [captured("1,2,a", when="2026-12-05T10:00:00Z")], **baseline(tmp_path))
    assert status == 1
    assert (tmp_path / "opt_ml" / "output" / "message").read_text().startswith("Job inputs had no data")


def test_a_bad_environment_fails_with_a_message(tmp_path: Path) -> None:
    assert main({"dataset_format": '{"parquet": {}}', "dataset_source": str(tmp_path)}, tmp_path) == 1
    assert "is not supported" in (tmp_path / "output" / "message").read_text()


def test_the_scripts_a_job_names_run(tmp_path: Path) -> None:
    files = baseline(tmp_path)
    (tmp_path / "pre.py").write_text("def preprocess_handler(record):\n"
                                     "    a, b, c = record.endpoint_input.data.split(',')\n"
                                     "    return {'_c0': int(a), '_c1': float(b), '_c2': c}\n")
    marker = tmp_path / "post-ran"
    (tmp_path / "post.py").write_text(f"def postprocess_handler():\n    open({str(marker)!r}, 'w').close()\n")
    status, out = monitor(tmp_path, [captured("3,1.5,a")] * 10, record_preprocessor_script=str(tmp_path / "pre.py"),
                          post_analytics_processor_script=str(tmp_path / "post.py"), **files)
    assert status == 0 and marker.exists()
    assert read(out / "statistics.json")["features"][0]["numerical_statistics"]["mean"] == 3.0


def test_a_failing_script_fails_the_job_with_its_words(tmp_path: Path) -> None:
    (tmp_path / "pre.py").write_text("def preprocess_handler(record):\n    raise KeyError('features')\n")
    status, _ = monitor(tmp_path, [captured("1,2,a")], record_preprocessor_script=str(tmp_path / "pre.py"))
    assert status == 1
    assert (tmp_path / "opt_ml" / "output" / "message").read_text() == (
        "preprocess_handler of pre.py failed: KeyError: 'features'\n")


def test_emit_metrics_disabled_in_the_constraints_publishes_nothing(tmp_path: Path) -> None:
    files = baseline(tmp_path)
    constraints = read(Path(files["baseline_constraints"]))
    constraints["monitoring_config"]["emit_metrics"] = "Disabled"
    Path(files["baseline_constraints"]).write_text(json.dumps(constraints))
    status, _ = monitor(tmp_path, [captured(row) for row in BASELINE_CSV.splitlines()], publish_cloudwatch_metrics=
                        "Enabled", **files)
    assert status == 0 and not (tmp_path / "opt_ml" / "output" / "metrics").exists()


def test_the_package_runs_as_a_program(tmp_path: Path) -> None:
    (tmp_path / "rows.jsonl").write_text('{"x": 1}\n{"x": 2}\n')
    env = {"dataset_format": '{"json": {"lines": true}}', "dataset_source": str(tmp_path / "rows.jsonl"),
           "output_path": str(tmp_path / "out")}
    done = subprocess.run([sys.executable, "-m", "modelbay.container.model_monitor"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert read(tmp_path / "out" / "constraints.json")["features"][0]["name"] == "x"
