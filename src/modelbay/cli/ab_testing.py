"""`modelbay ground-truth ENDPOINT FILE` and `modelbay ab-report ENDPOINT`: A/B verdicts between production variants.

Ground truth is the label of each captured InferenceId, from a CSV file (`inferenceId,label` rows, a header row
allowed) or a JSON Lines file (`{"inferenceId": ..., "label": ...}` per line; a `.jsonl` or `.json` name). The
report is the server's (modelbay.sdk.ab_testing): a table per variant, each challenger's test against the baseline,
and the recommendation in words; `--plot` draws traffic, latency and the metric over time per variant.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from modelbay.cli.audit import since_time
from modelbay.cli.metrics import PLOT_PIXELS
from modelbay.cli.output import Output, console, fail, output
from modelbay.sdk.ab_testing import ab_report as fetch_report
from modelbay.sdk.ab_testing import send_ground_truth
from modelbay.user_files import open_for_writing


class Metric(StrEnum):
    """What a verdict is on (monitoring/ab_report.py on the server)."""

    ACCURACY = "accuracy"
    ERROR_RATE = "error_rate"
    RMSE = "rmse"
    MAE = "mae"

_DPI = 100
_VARIANT_COLUMNS = ["Variant", "Invocations", "Error rate", "Latency p50", "p90", "p99", "Labelled"]
_COMPARISON_COLUMNS = ["Challenger", "Baseline", "Test", "Difference", "p-value", "Power", "Samples still needed",
                       "Verdict"]
_VERDICT_STYLES = {"promote": "bold green", "roll back": "bold red", "keep testing": "yellow"}
_LATENCY_STYLES = {"p50": "-", "p90": "--", "p99": ":"}


def ground_truth(
    ctx: typer.Context,
    endpoint: str,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, metavar="FILE",
                                help="CSV rows inferenceId,label, or JSON Lines of {\"inferenceId\", \"label\"}."),
) -> None:
    """Send the labels of captured InferenceIds (a later label replaces an earlier one), for `modelbay ab-report`."""
    try:
        labels = list(read_labels(file))
    except ValueError as error:
        fail(f"{file}: {error}")
    if not labels:
        fail(f"{file} holds no labels")
    sent = send_ground_truth(endpoint, labels, ctx.obj["url"], ctx.obj["region"])
    output(ctx).result({"EndpointName": endpoint, "Stored": sent},
                       f"{sent:,} labels stored for endpoint {escape(endpoint)}")


def read_labels(path: Path) -> Iterator[tuple[str, float | str]]:
    """(inferenceId, label) per row of a CSV or JSON Lines file; a label that reads as a number is one. Raise
    ValueError naming the line of a row that is neither."""
    with path.open(encoding="utf-8", newline="") as stream:
        if path.suffix.lower() in (".jsonl", ".json"):
            for number, line in enumerate(stream, 1):
                if line.strip():
                    yield _json_row(number, line)
            return
        for number, row in enumerate(csv.reader(stream), 1):
            if number == 1 and row and row[0].strip().lower() in ("inferenceid", "inference_id"):
                continue  # a header
            if row:
                if len(row) != 2:
                    raise ValueError(f"line {number}: expected inferenceId,label, found {len(row)} fields")
                yield row[0].strip(), _typed(row[1].strip())


def _json_row(number: int, line: str) -> tuple[str, float | str]:
    try:
        row = json.loads(line)
        return row["inferenceId"], row["label"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"line {number}: expected {{\"inferenceId\": ..., \"label\": ...}}") from None


def _typed(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def ab_report(
    ctx: typer.Context,
    endpoint: str,
    since: str = typer.Option("1h", "--since", metavar="WHEN",
                              help="The window's start: 90m ago (30s, 2h, 1d) or a time (2026-12-05T13:00)."),
    metric: Metric = typer.Option(Metric.ACCURACY, "--metric", case_sensitive=False,
                                  help="What the verdict is on: accuracy, error_rate (invocation errors, needs no "
                                       "labels), rmse or mae."),
    baseline: str | None = typer.Option(None, "--baseline", metavar="VARIANT",
                                        help="The variant challengers are compared with.",
                                        show_default="the one with the most invocations"),
    plot: Path | None = typer.Option(None, "--plot", metavar="FILE.png", dir_okay=False,
                                     help="Also draw traffic, latency and the metric over time per variant."),
) -> None:
    """Judge an endpoint's production variants: traffic, error rate, latency and the model metric (from captured
    predictions and the labels sent back) per variant, and for each challenger: promote, roll back or keep testing."""
    if plot is not None and plot.suffix.lower() != ".png":
        fail(f"--plot writes a PNG image: name a .png file, not {str(plot)!r}")
    try:
        start = since_time(since)
    except typer.BadParameter as error:
        fail(f"--since: {error.message}")
    report = fetch_report(endpoint, start.isoformat(), str(metric), baseline, ctx.obj["url"], ctx.obj["region"])
    if plot is not None:
        draw(plot, report)
    out = output(ctx)
    if out.as_json:
        out.result(report, "")
        return
    render(report)
    if plot is not None:
        console.print(f"plot written to {escape(str(plot))}", soft_wrap=True)


def render(report: dict[str, Any]) -> None:
    """The report for people: the variants, the comparisons, and each verdict in words."""
    metric, table = report["Metric"], Output(as_json=False)  # tables for people: --json prints the answer as is
    console.print(f"{escape(report['EndpointName'])} since {_local(report['StartTime']):%Y-%m-%d %H:%M}: "
                  f"{metric} ({'lower' if report['LowerIsBetter'] else 'higher'} is better), baseline "
                  f"{escape(str(report['Baseline']))}; \\[low, high] are {1 - report['Alpha']:.0%} confidence "
                  "intervals",
                  soft_wrap=True)
    columns = [*_VARIANT_COLUMNS, metric]
    table.table(columns, [dict(zip(columns, _variant_cells(variant), strict=True)) for variant in report["Variants"]])
    if report["Comparisons"]:
        table.table(_COMPARISON_COLUMNS, [_comparison_row(found) for found in report["Comparisons"]])
    for found in report["Comparisons"]:
        style = _VERDICT_STYLES.get(found["Recommendation"], "")
        console.print(f"{escape(found['VariantName'])}: [{style}]{found['Recommendation'].upper()}[/{style}]. "
                      f"{escape(found['Reason'])}", soft_wrap=True)


def _variant_cells(variant: dict[str, Any]) -> list[str]:
    latency = variant["ModelLatency"] or {}
    return [escape(variant["VariantName"]), f"{variant['Invocations']:,}",
            _interval(variant["ErrorRate"], percent=True),
            *(_milliseconds(latency.get(name)) for name in ("p50", "p90", "p99")), f"{variant['Labelled']:,}",
            _interval(variant["Metric"])]


def _comparison_row(found: dict[str, Any]) -> dict[str, str]:
    test = found["Metric"] or {}
    style = _VERDICT_STYLES.get(found["Recommendation"], "")
    still = test.get("SamplesStillNeeded")
    return dict(zip(_COMPARISON_COLUMNS, [
        escape(found["VariantName"]), escape(found["Baseline"]), escape(test.get("Test", "-")),
        _number(test.get("Difference"), signed=True), _number(test.get("PValue")),
        "-" if test.get("Power") is None else f"{test['Power']:.0%}", "-" if still is None else f"{still:,}",
        f"[{style}]{found['Recommendation']}[/{style}]"], strict=True))


def _interval(estimate: dict[str, Any] | None, percent: bool = False) -> str:
    if estimate is None or estimate["Value"] is None:
        return "-"
    scale, unit = (100, " %") if percent else (1, "")
    low, high = estimate["Low"], estimate["High"]
    bounds = "" if low is None or high is None else f" [{low * scale:.3g}, {high * scale:.3g}]"
    return f"{estimate['Value'] * scale:.3g}{unit}{bounds}"


def _number(value: float | None, signed: bool = False) -> str:
    return "-" if value is None else f"{value:+.3g}" if signed else f"{value:.3g}"


def _milliseconds(microseconds: float | None) -> str:
    return "-" if microseconds is None else f"{microseconds / 1000:.2f} ms"


def _local(moment: str) -> datetime:
    """An ISO time in the local zone, without it: matplotlib's axis then reads local wall-clock time."""
    return datetime.fromisoformat(moment).astimezone().replace(tzinfo=None)


def draw(path: Path, report: dict[str, Any]) -> None:
    """Invocations, model latency percentiles and the metric per bucket of the series, a colour per variant."""
    from matplotlib.figure import Figure  # lazily: matplotlib takes a while to import, and only --plot needs it

    figure = Figure(figsize=(PLOT_PIXELS[0] / _DPI, PLOT_PIXELS[1] / _DPI), dpi=_DPI, layout="constrained")
    traffic, latency, measured = figure.subplots(3, 1, sharex=True)
    figure.suptitle(f"{report['EndpointName']}: A/B test on {report['Metric']}")
    for n, variant in enumerate(report["Variants"]):
        colour, series = f"C{n % 10}", variant["Series"]
        times = [_local(point["Timestamp"]) for point in series]
        traffic.plot(times, [point["Invocations"] for point in series], color=colour, marker=".",
                     label=variant["VariantName"])
        for stat, style in _LATENCY_STYLES.items():
            latency.plot(times, [None if point["ModelLatency"] is None else point["ModelLatency"][stat] / 1000
                                 for point in series], color=colour, linestyle=style, marker=".",
                         label=f"{variant['VariantName']} {stat}")
        measured.plot(times, [point["Metric"] for point in series], color=colour, marker=".",
                      label=variant["VariantName"])
    traffic.set_ylabel(f"invocations per {report['Period']} s")
    latency.set_ylabel("model latency (ms)")
    measured.set_ylabel(report["Metric"])
    for axes in (traffic, latency, measured):
        axes.grid(alpha=0.3)
        if report["Variants"]:
            axes.legend(loc="upper left", fontsize="small")
    with open_for_writing(path) as stream:
        figure.savefig(stream, format="png")
