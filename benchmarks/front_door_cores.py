"""The front door on every core: one front-door process against one per CPU, side by side in one run (issue 22).

    make bench-front-door-cores
    .venv/bin/python benchmarks/front_door_cores.py [--duration S] [--rounds N]

serving.py measures the front door on one CPU, against the peers on the same one; this run gives modelbay every CPU
of the machine. The light scikit-learn model of serving.py (the serving stack dominates) is served by modelbay with
`--workers 1`, then with `--workers N` (N: the CPUs this process may run on; the kernel spreads connections over the
processes, SO_REUSEPORT), its model server with serving.py's two workers in both. The load generator is serving.py's
(keep-alive connections, one per concurrent caller), pinned to its CPU 1, which it shares with the servers: on a
machine of few CPUs it takes a large share of one, so the ratio is what the machine leaves, not the front door's
ceiling. Rounds alternate the two, each figure the median of its rounds. Printed for each concurrency: requests/s,
p50 and p99, the front door's CPU per request and how many CPUs its processes used, and N processes' throughput as a
multiple of one's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path

from serving import (
    BUCKET,
    CLIENT_CPU,
    ROOT,
    Load,
    children,
    endpoint,
    front_door,
    measure,
    modelbay_server,
    sklearn_python,
    train,
)

CONCURRENCIES = (16, 64)
ROUNDS = 3


def front_door_processes(server_pid: int) -> list[int]:
    """The server's own process and its front-door workers (multiprocessing's children), not its instances."""
    workers = [pid for pid in children(server_pid)
               if b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    return [server_pid, *workers]


def measured(scratch: Path, row: bytes, cpus: str, workers: int, args: argparse.Namespace) -> dict[int, Load]:
    """A fresh server of `workers` front-door processes, its light endpoint loaded at each concurrency (each Load's
    cpu_share: the CPUs its front door used)."""
    run = scratch / f"workers-{workers}-{os.urandom(3).hex()}"
    run.mkdir()
    with modelbay_server(run, cpus=cpus, workers=workers) as (url, pid):
        from modelbay.sdk.clients import client
        client("s3", url).create_bucket(Bucket=BUCKET)
        with endpoint(url, "light", scratch / "models" / "light" / "model.tar.gz"):
            target = replace(front_door(url, "light", row, [pid]), pids=front_door_processes(pid))
            return {concurrency: measure(target, concurrency, args) for concurrency in CONCURRENCIES}


def main(args: argparse.Namespace) -> None:
    os.environ.setdefault("MODELBAY_ENVIRONMENTS_DIR", str(ROOT / ".cache" / "environments"))
    cpus = sorted(os.sched_getaffinity(0))
    every = ",".join(str(cpu) for cpu in cpus)
    python = sklearn_python()
    print(f"modelbay's front door on CPUs {every}: --workers 1 against --workers {len(cpus)}; light model, its model "
          f"server 2 workers; the load generator on CPU {CLIENT_CPU} beside them; median of {args.rounds} rounds")
    runs: dict[int, list[dict[int, Load]]] = {1: [], len(cpus): []}
    with tempfile.TemporaryDirectory(prefix="modelbay-cores-") as tmp:
        scratch = Path(tmp)
        row = train(python, scratch / "models")
        for _ in range(args.rounds):
            for workers, rounds in runs.items():
                rounds.append(measured(scratch, row, every, workers, args))
    for concurrency in CONCURRENCIES:
        print(f"\nconcurrency {concurrency}")
        print(f"  {'front door':<14}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'µs/req':>9}{'CPUs used':>11}")
        rates = {}
        for workers, rounds in runs.items():
            loads = [measured_round[concurrency] for measured_round in rounds]
            rates[workers] = statistics.median(load.requests_per_s for load in loads)
            print(f"  {f'--workers {workers}':<14}{rates[workers]:>10,.0f}"
                  + "".join(f"{statistics.median(getattr(load, field) for load in loads):>{width}.{digits}f}"
                            for field, width, digits in (("p50_ms", 9, 2), ("p99_ms", 9, 2), ("cpu_us", 9, 0),
                                                         ("cpu_share", 11, 2))))
        print(f"  --workers {len(cpus)} / --workers 1: {rates[len(cpus)] / rates[1]:.2f}× the requests/s")
    print(f"load after the run: {os.getloadavg()[0]:.2f} (1 min average)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=6.0, help="seconds measured per load (default 6)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per load (default 1)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"rounds of each (default {ROUNDS})")
    arguments = parser.parse_args()
    arguments.requests = None  # serving.measure's: loads are timed
    return arguments


if __name__ == "__main__":
    main(parse_args())
