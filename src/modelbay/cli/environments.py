"""`modelbay images environments` and `modelbay images prune`: the framework environments built on this machine.

They read and prune the cache directory itself rather than ask a server: the cache belongs to the
user, not to a server (every data directory and server of the user shares it, and a server knows
only its own instances, while a process scan sees every server's); pruning needs no server running;
and modelbay's own HTTP API is read-only and unauthenticated, no place to delete files through.
MODELBAY_ENVIRONMENTS_DIR names the same directory here as for `modelbay server`.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from modelbay.cli.output import console, local_time, output
from modelbay.config import Settings
from modelbay.environment_cache import CacheEntry, cache_entries, remove

OPTIONS = ("json", "debug")  # the shared options that apply: no server is asked
_COLUMNS = ["Environment", "Size", "Built", "In use"]  # the name says the image: sklearn-1.2-1-py311-<hash>


def list_environments(ctx: typer.Context) -> None:
    """List the framework environments built on this machine, their size and whether an instance uses them.

    Every server and data directory of the user shares them (MODELBAY_ENVIRONMENTS_DIR, else
    $XDG_CACHE_HOME/modelbay/environments or ~/.cache/modelbay/environments).
    """
    root = Settings.from_env().environments_dir
    entries = cache_entries(root)
    out = output(ctx)
    out.table(_COLUMNS, [_json_row(e) for e in entries] if out.as_json else [_table_row(e) for e in entries],
              names=("Environment",))
    if not out.as_json:
        console.print(escape(f"{human_size(_total(entries))} in {root}"), highlight=False)


def prune(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed and what it would free."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove the framework environments no running instance uses, freeing their disk space.

    A server builds an environment again the next time a job or endpoint needs it (a minute or
    more). Environments a running instance uses, and those being built, are kept.
    """
    root = Settings.from_env().environments_dir
    entries = cache_entries(root)
    doomed = [e for e in entries if not e.in_use and e.state != "Building"]
    if doomed and not (dry_run or yes):
        typer.confirm(f"Remove {', '.join(e.name for e in doomed)} from {root}, freeing "
                      f"{human_size(_total(doomed))}?", abort=True, err=True)
    removed = doomed if dry_run else [e for e in doomed if remove(e)]
    kept = [e for e in entries if e not in removed]
    lines = [f"{'would remove' if dry_run else 'removed'} {e.name} ({human_size(e.size_bytes)})" for e in removed]
    lines += [f"kept {e.name} ({'in use' if e.in_use else 'being built'})" for e in kept]
    lines.append(f"{'Would free' if dry_run else 'Freed'} {human_size(_total(removed))} in {root}")
    output(ctx).result(
        {"removed": [_json_row(e) for e in removed], "kept": [_json_row(e) for e in kept],
         "freedBytes": _total(removed), "dryRun": dry_run}, escape("\n".join(lines)))


def summary() -> str:
    """One line for `modelbay images list`: how many framework environments take how much space, where."""
    root = Settings.from_env().environments_dir
    entries = cache_entries(root)
    return (f"Framework environments built on this machine: {len(entries)}, {human_size(_total(entries))} in "
            f"{root} ('modelbay images environments' lists them, 'modelbay images prune' frees them)")


def human_size(size: int) -> str:
    """Decimal units, as `du --si` counts: 774.2 MB."""
    scaled, unit = float(size), "B"
    for bigger in ("kB", "MB", "GB", "TB"):
        if scaled < 1000:
            break
        scaled, unit = scaled / 1000, bigger
    return f"{size} B" if unit == "B" else f"{scaled:.1f} {unit}"


def _total(entries: list[CacheEntry]) -> int:
    return sum(e.size_bytes for e in entries)


def _json_row(entry: CacheEntry) -> dict[str, Any]:
    return {"name": entry.name, "image": entry.image or None, "path": str(entry.path), "state": entry.state,
            "sizeBytes": entry.size_bytes, "modifiedAt": entry.modified.isoformat(), "inUse": entry.in_use}


def _table_row(entry: CacheEntry) -> dict[str, str]:
    return {"Environment": entry.name, "Size": human_size(entry.size_bytes),
            "Built": local_time(entry.modified) if entry.state == "Built" else entry.state,
            "In use": "yes" if entry.in_use else "no"}
