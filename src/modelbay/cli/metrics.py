"""`modelbay metrics ENDPOINT`: an endpoint's invocations, errors and latency per variant, over a window.

It reads what SageMaker publishes (namespace AWS/SageMaker, dimensions EndpointName and VariantName) through the
CloudWatch API, as any AWS tool does: one GetMetricData call asks for each variant's statistics twice, over the
whole window as one period (the table) and per --period (the plot, and --json's series).

A window-long period gives one datapoint only if its period starts where the window does. CloudWatch starts
periods at StartTime rounded to the resolution it reads (a minute for data under 15 days, five minutes under 63,
an hour beyond) and reads the coarsest resolution dividing the period: so the window starts on that rounding and
its length is a multiple of it that no coarser resolution divides.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from modelbay.cli.audit import since_time
from modelbay.cli.commands import aws_client
from modelbay.cli.output import console, fail, local_time, output
from modelbay.user_files import open_for_writing

NAMESPACE = "AWS/SageMaker"
# (metric, statistic) in the table's order; latencies are in microseconds, as SageMaker publishes them
STATISTICS = (("Invocations", "Sum"), ("Invocation4XXErrors", "Sum"), ("Invocation5XXErrors", "Sum"),
              ("ModelLatency", "p50"), ("ModelLatency", "p90"), ("ModelLatency", "p99"), ("OverheadLatency", "p50"))
# the resolution CloudWatch keeps of data as old as this at most, finest first
KEPT = ((timedelta(hours=3), 1), (timedelta(days=15), 60), (timedelta(days=63), 300), (timedelta(days=455), 3600))
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)
PLOT_PIXELS = (1200, 800)
_DPI = 100
_LATENCY_STYLES = {"p50": "-", "p90": "--", "p99": ":"}
_COLUMNS = ["Variant", "Invocations", "4XX", "5XX", "Latency p50", "p90", "p99", "Overhead p50"]

Statistic = tuple[str, str]
Datapoints = dict[datetime, float]


@dataclass(frozen=True)
class Window:
    """What is asked for: [start, start + length), and datapoints per `period` seconds."""

    start: datetime
    length: int
    period: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.length)


@dataclass(frozen=True)
class VariantMetrics:
    """A variant's statistics over the window (None: no datapoint) and per period, oldest first."""

    name: str
    totals: dict[Statistic, float | None]
    series: dict[Statistic, Datapoints]


def metrics(
    ctx: typer.Context,
    endpoint: str,
    since: str = typer.Option("1h", "--since", metavar="WHEN",
                              help="The window's start: 90m ago (30s, 2h, 1d) or a time (2026-12-05T13:00)."),
    period: int | None = typer.Option(None, "--period", min=1, metavar="SECONDS",
                                      help="Seconds per datapoint of the plot and the series: 1, 5, 10, 30 or a "
                                           "multiple of 60.", show_default="60, or what is kept of data that old"),
    plot: Path | None = typer.Option(None, "--plot", metavar="FILE.png", dir_okay=False,
                                     help="Also draw invocations and latency percentiles over time per variant."),
) -> None:
    """Show an endpoint's invocations, 4XX and 5XX errors, and model and overhead latency percentiles per variant
    (CloudWatch's AWS/SageMaker metrics)."""
    if plot is not None and plot.suffix.lower() != ".png":
        fail(f"--plot writes a PNG image: name a .png file, not {str(plot)!r}")
    now = datetime.now(UTC)
    try:
        window = plan(since, now, period)
    except typer.BadParameter as error:
        fail(error.message)
    names = variant_names(aws_client(ctx, "sagemaker"), endpoint)
    found = fetch(aws_client(ctx, "cloudwatch"), queries(endpoint, names, window), window)
    variants = [variant_metrics(name, index, found) for index, name in enumerate(names)]
    if plot is not None:
        draw(plot, endpoint, variants, window)
    out = output(ctx)
    if out.as_json:
        out.result(as_json(endpoint, variants, window), "")
        return
    console.print(f"{escape(endpoint)} since {local_time(window.start)} (AWS/SageMaker: 4XX and 5XX are "
                  "Invocation4XXErrors and Invocation5XXErrors, latency is ModelLatency, overhead OverheadLatency)",
                  soft_wrap=True)
    out.table(_COLUMNS, [_row(variant) for variant in variants])
    if plot is not None:
        console.print(f"plot written to {escape(str(plot))}", soft_wrap=True)


def plan(since: str, now: datetime, period: int | None) -> Window:
    """The window from --since to `now` (see the module's docstring), datapoints per `period` seconds (default:
    60, or the resolution kept of data that old); BadParameter, naming the option, for what CloudWatch cannot
    answer."""
    try:
        moment = since_time(since, now)
    except typer.BadParameter as error:
        raise typer.BadParameter(f"--since: {error.message}") from None
    if moment >= now:
        raise typer.BadParameter(f"--since {since!r} is not in the past")
    rounding = 60  # CloudWatch's least rounding, then as coarse as what is kept of data as old as the start
    while (resolution := _kept(_floor(moment, rounding), now, since)) > rounding:
        rounding = resolution
    start = _floor(moment, rounding)
    length = max(1, math.ceil((now - start).total_seconds() / rounding)) * rounding
    while any(length % coarser == 0 for _, coarser in KEPT if coarser > rounding):
        length += rounding
    chosen = rounding if period is None else period
    if chosen not in HIGH_RESOLUTION_PERIODS and chosen % 60:
        raise typer.BadParameter(f"--period {chosen} is not 1, 5, 10, 30 or a multiple of 60")
    if chosen % resolution:
        raise typer.BadParameter(f"--period {chosen} is too fine for --since {since!r}: CloudWatch keeps data that "
                                 f"old per {resolution} s, so the period must be a multiple of {resolution}")
    return Window(start, length, chosen)


def _kept(moment: datetime, now: datetime, since: str) -> int:
    """The finest resolution CloudWatch keeps of data as old as `moment`."""
    found = next((kept for age, kept in KEPT if moment >= now - age), None)
    if found is None:
        raise typer.BadParameter(f"--since {since!r} reaches back more than {KEPT[-1][0].days} days, longer than "
                                 "CloudWatch keeps metrics")
    return found


def _floor(moment: datetime, seconds: int) -> datetime:
    return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, UTC)


def variant_names(sagemaker: Any, endpoint: str) -> list[str]:
    """The endpoint's variants (from its config while it has none running yet); SageMaker's error if unknown."""
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    variants = described.get("ProductionVariants") or sagemaker.describe_endpoint_config(
        EndpointConfigName=described["EndpointConfigName"])["ProductionVariants"]
    return [variant["VariantName"] for variant in variants]


def query_id(scope: str, variant: int, statistic: Statistic) -> str:
    """`total_0_Invocations_Sum`: an Id as GetMetricData wants them (variant names may hold hyphens)."""
    return f"{scope}_{variant}_{statistic[0]}_{statistic[1]}"


def queries(endpoint: str, variants: list[str], window: Window) -> list[dict[str, Any]]:
    """Each variant's statistics over the window (scope `total`) and per period (scope `series`)."""
    return [{"Id": query_id(scope, index, (metric, stat)),
             "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": metric,
                                       "Dimensions": [{"Name": "EndpointName", "Value": endpoint},
                                                      {"Name": "VariantName", "Value": variant}]},
                            "Period": period, "Stat": stat}}
            for index, variant in enumerate(variants)
            for scope, period in (("total", window.length), ("series", window.period))
            for metric, stat in STATISTICS]


def fetch(cloudwatch: Any, wanted: list[dict[str, Any]], window: Window) -> dict[str, Datapoints]:
    """The datapoints of each query, by its Id (one GetMetricData call, more only if they fill a page)."""
    found: dict[str, Datapoints] = defaultdict(dict)
    if not wanted:
        return found
    pages = cloudwatch.get_paginator("get_metric_data").paginate(
        MetricDataQueries=wanted, StartTime=window.start, EndTime=window.end, ScanBy="TimestampAscending")
    for page in pages:
        for result in page["MetricDataResults"]:
            found[result["Id"]].update(zip(result["Timestamps"], result["Values"], strict=True))
    return found


def variant_metrics(name: str, index: int, found: dict[str, Datapoints]) -> VariantMetrics:
    """A variant's numbers from the answers: counts of no datapoint are 0, percentiles of none unknown."""
    def total(statistic: Statistic) -> float | None:
        values = found.get(query_id("total", index, statistic), {}).values()
        if statistic[1] == "Sum":
            return math.fsum(values)
        return next(iter(values), None)  # the window is one period: one datapoint at most

    return VariantMetrics(name, {statistic: total(statistic) for statistic in STATISTICS},
                          {statistic: dict(sorted(found.get(query_id("series", index, statistic), {}).items()))
                           for statistic in STATISTICS})


def as_json(endpoint: str, variants: list[VariantMetrics], window: Window) -> dict[str, Any]:
    """Metric → statistic → value (latencies in microseconds), over the window and per period."""
    def by_metric(values: dict[Statistic, Any]) -> dict[str, dict[str, Any]]:
        nested: dict[str, dict[str, Any]] = defaultdict(dict)
        for (metric, stat), value in values.items():
            nested[metric][stat] = value
        return nested

    return {"EndpointName": endpoint, "StartTime": window.start.isoformat(), "EndTime": window.end.isoformat(),
            "Period": window.period,
            "Variants": [{"VariantName": variant.name, "Totals": by_metric(variant.totals),
                          "Series": by_metric({statistic: [{"Timestamp": moment.isoformat(), "Value": value}
                                                           for moment, value in points.items()]
                                               for statistic, points in variant.series.items()})}
                         for variant in variants]}


def _row(variant: VariantMetrics) -> dict[str, str]:
    counts = [f"{variant.totals[statistic] or 0:,.0f}" for statistic in STATISTICS[:3]]
    latencies = [_milliseconds(variant.totals[statistic]) for statistic in STATISTICS[3:]]
    return dict(zip(_COLUMNS, [escape(variant.name), *counts, *latencies], strict=True))


def _milliseconds(microseconds: float | None) -> str:
    return "-" if microseconds is None else f"{microseconds / 1000:.2f} ms"


def draw(path: Path, endpoint: str, variants: list[VariantMetrics], window: Window) -> None:
    """Invocations per period above, model latency percentiles below, a colour per variant: a PNG at `path`."""
    from matplotlib.figure import Figure  # lazily: matplotlib takes a while to import, and only --plot needs it

    figure = Figure(figsize=(PLOT_PIXELS[0] / _DPI, PLOT_PIXELS[1] / _DPI), dpi=_DPI, layout="constrained")
    invocations, latency = figure.subplots(2, 1, sharex=True)
    figure.suptitle(f"{endpoint}: AWS/SageMaker metrics")
    for n, variant in enumerate(variants):
        colour = f"C{n % 10}"
        points = variant.series[("Invocations", "Sum")]
        invocations.plot([_local(t) for t in points], list(points.values()), color=colour, marker=".",
                         label=variant.name)
        for stat, style in _LATENCY_STYLES.items():
            points = variant.series[("ModelLatency", stat)]
            latency.plot([_local(t) for t in points], [value / 1000 for value in points.values()], color=colour,
                         linestyle=style, marker=".", label=f"{variant.name} {stat}")
    invocations.set_ylabel(f"invocations per {window.period} s")
    latency.set_ylabel("model latency (ms)")
    latency.set_xlim(_local(window.start), _local(min(window.end, datetime.now(UTC))))
    for axes in (invocations, latency):
        axes.grid(alpha=0.3)
        axes.set_ylim(bottom=0)
        if variants:
            axes.legend(loc="upper left", fontsize="small")
    with open_for_writing(path) as stream:
        figure.savefig(stream, format="png")


def _local(moment: datetime) -> datetime:
    """The time in the local zone, without it: matplotlib's axis then reads local wall-clock time."""
    return moment.astimezone().replace(tzinfo=None)
