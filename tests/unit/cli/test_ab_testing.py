"""`modelbay ground-truth` and `modelbay ab-report`: files of labels read, the report rendered and plotted (the
server's answers stand in for it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelbay.cli import ab_testing, output
from modelbay.cli.ab_testing import draw, read_labels
from modelbay.cli.main import app
from modelbay.cli.metrics import PLOT_PIXELS
from tests.unit.cli.test_metrics import png_size


def variant(name: str, value: float, series: list[dict[str, Any]]) -> dict[str, Any]:
    return {"VariantName": name, "Invocations": 1200, "Invocation4XXErrors": 0, "Invocation5XXErrors": 3,
            "ErrorRate": {"Value": 0.0025, "Low": 0.0009, "High": 0.0073, "Samples": 1200},
            "ModelLatency": {"Average": 1500.0, "p50": 1200.0, "p90": 2500.0, "p99": 4000.0}, "Captured": 1200,
            "Labelled": 1000, "Unusable": 0, "Metric": {"Value": value, "Low": value - 0.02, "High": value + 0.02,
                                                         "Samples": 1000}, "Series": series}


SERIES = [{"Timestamp": f"2026-12-05T21:0{n}:00+00:00", "Invocations": 100 + n, "Errors": 0,
           "ModelLatency": {"Average": 1000.0, "p50": 1000.0, "p90": 2000.0, "p99": 3000.0} if n else None,
           "Metric": 0.8 if n else None, "Samples": 10 * n} for n in range(3)]
REPORT = {"EndpointName": "ep", "StartTime": "2026-12-05T21:00:00+00:00", "EndTime": "2026-12-05T22:00:00+00:00",
          "Metric": "accuracy", "LowerIsBetter": False, "Alpha": 0.05, "Power": 0.8, "Period": 60, "Baseline": "A",
          "Variants": [variant("A", 0.8, SERIES), variant("B", 0.9, SERIES)],
          "Comparisons": [{"VariantName": "B", "Baseline": "A", "Recommendation": "promote", "SamplesStillNeeded": 0,
                           "Reason": "B's accuracy is significantly better than A's (p = 1e-09 by two-proportion "
                                     "z-test).",
                           "Metric": {"Test": "two-proportion z-test", "Difference": 0.1, "PValue": 1e-9,
                                      "Significant": True, "Better": True, "Power": 1.0,
                                      "SamplesNeededPerVariant": 199, "SamplesStillNeeded": 0},
                           "ErrorRate": None, "ModelLatency": None}]}


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    def fetch(*args: Any) -> dict[str, Any]:
        calls.append(args)
        return REPORT
    monkeypatch.setattr(ab_testing, "fetch_report", fetch)
    return calls


def test_the_report_is_a_table_per_variant_and_the_verdict_in_words(fetched: list[tuple[Any, ...]],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output.console, "width", 200)  # the console is made once, at import: COLUMNS came too late
    done = CliRunner().invoke(app, ["ab-report", "ep", "--metric", "accuracy", "--baseline", "A"])
    assert done.exit_code == 0, done.output
    assert "B: PROMOTE. B's accuracy is significantly better than A's" in done.stdout
    assert "1.20 ms" in done.stdout and "0.25 %" in done.stdout and "0.9 [0.88, 0.92]" in done.stdout
    assert "two-proportion z-test" in done.stdout and "+0.1" in done.stdout
    [(endpoint, since, metric, baseline, *_)] = fetched
    assert (endpoint, metric, baseline) == ("ep", "accuracy", "A") and since.endswith("+00:00")


def test_json_is_the_servers_answer(fetched: list[tuple[Any, ...]]) -> None:
    done = CliRunner().invoke(app, ["ab-report", "ep", "--json"])
    assert done.exit_code == 0 and json.loads(done.stdout) == REPORT


def test_the_plot_is_a_png_of_the_promised_size(tmp_path: Path) -> None:
    draw(tmp_path / "ab.png", REPORT)
    assert png_size(tmp_path / "ab.png") == PLOT_PIXELS


def test_labels_are_read_from_csv_with_or_without_a_header_and_from_json_lines(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("inferenceId,label\na,1\nb,cat\n")
    (tmp_path / "bare.csv").write_text("a,0.5\n")
    (tmp_path / "labels.jsonl").write_text('{"inferenceId": "a", "label": 1}\n\n{"inferenceId": "b", "label": "x"}\n')
    assert list(read_labels(tmp_path / "labels.csv")) == [("a", 1.0), ("b", "cat")]
    assert list(read_labels(tmp_path / "bare.csv")) == [("a", 0.5)]
    assert list(read_labels(tmp_path / "labels.jsonl")) == [("a", 1), ("b", "x")]


def test_the_labels_of_a_file_are_sent_and_a_bad_row_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Any] = []
    monkeypatch.setattr(ab_testing, "send_ground_truth", lambda endpoint, labels, *_: sent.append(labels) or 2)
    (tmp_path / "labels.csv").write_text("a,1\nb,0\n")
    done = CliRunner().invoke(app, ["ground-truth", "ep", str(tmp_path / "labels.csv")])
    assert done.exit_code == 0 and "2 labels stored for endpoint ep" in done.stdout
    assert sent == [[("a", 1.0), ("b", 0.0)]]
    (tmp_path / "bad.csv").write_text("a,1\nb,0,extra\n")
    bad = CliRunner().invoke(app, ["ground-truth", "ep", str(tmp_path / "bad.csv")])
    assert bad.exit_code == 2 and "line 2: expected inferenceId,label, found 3 fields" in bad.stderr
