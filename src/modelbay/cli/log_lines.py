"""Printing log lines read through CloudWatch Logs (sdk/job_logs.py) as they come: `modelbay jobs logs` and
`modelbay endpoints logs`."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text

from modelbay.cli.output import console
from modelbay.sdk.job_logs import TrainingLogs

POLL_S = 0.5


def print_until_quiet(reader: TrainingLogs, several: bool, is_running: Callable[[], bool]) -> None:
    """Print new lines until `is_running` says what writes them has ended and a read after that finds nothing new;
    with `several` streams, each line is prefixed by its stream's host."""
    while True:
        running = is_running()  # asked before reading, so lines written just before the end are read
        if not print_lines(reader.read(), several) and not running:
            return
        if running:
            time.sleep(POLL_S)


def print_lines(lines: list[tuple[str, str]], several: bool) -> bool:
    """Print the lines (markup in messages stays text, long lines stay whole); whether there were any."""
    for host, message in lines:
        console.print(Text.assemble((f"{host} | ", "cyan"), message) if several else Text(message), soft_wrap=True)
    return bool(lines)
