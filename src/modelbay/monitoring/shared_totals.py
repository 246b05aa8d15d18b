"""The front-door processes' Prometheus figures, shared through files, so that whichever answers a scrape counts all.

A server of several front-door processes (Settings.workers, front_door_workers.py) counts each invocation in the
process that answered it. Every second each process writes what it has counted in a region (prometheus.RegionTotals)
to `<the region's data directory>/front-door/<its index>.totals`, replaced whole; a scrape adds its own totals,
counted now, to the others' files, at most a second old. The first process empties the folder before any worker
writes to it, so that no scrape counts a previous run's figures.
"""

from __future__ import annotations

import logging
import pickle
import shutil
from pathlib import Path

from modelbay.config import Settings
from modelbay.monitoring.prometheus import RegionTotals
from modelbay.user_files import open_for_writing

log = logging.getLogger(__name__)

FOLDER = "front-door"


def clear(settings: Settings) -> None:
    """Forget every process's figures (the first process, before its workers start)."""
    shutil.rmtree(_folder(settings), ignore_errors=True)


def share(settings: Settings, totals: RegionTotals) -> None:
    """This process's figures of the region, for the others' scrapes."""
    path = _folder(settings) / f"{settings.worker}.totals"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_for_writing(path, 0o600) as stream:
        pickle.dump(totals, stream)


def others(settings: Settings) -> list[RegionTotals]:
    """The other processes' figures of the region, as each last wrote them (a process that has not yet: none)."""
    found = []
    for worker in range(settings.workers):
        path = _folder(settings) / f"{worker}.totals"
        if worker != settings.worker and path.exists():
            try:
                found.append(pickle.loads(path.read_bytes()))  # written by this server's own processes
            except (OSError, pickle.UnpicklingError, EOFError):
                log.warning("the figures of front-door process %d could not be read", worker)
    return found


def _folder(settings: Settings) -> Path:
    return settings.data_dir / FOLDER
