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
from pathlib import Path

from serving import (
    BUCKET,
    CLIENT_CPU,
    ROOT,
    Load,
    Target,
    children,
    cpu_seconds,
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


def measured(scratch: Path, row: bytes, cpus: str, workers: int, concurrency: int,
             args: argparse.Namespace) -> tuple[Load, float]:
    """One load on a fresh server of `workers` front-door processes: its figures, and the CPUs its front door used."""
    run = scratch / f"workers-{workers}-c{concurrency}-{os.urandom(3).hex()}"
    run.mkdir()
    with modelbay_server(run, cpus=cpus, workers=workers) as (url, pid):
        from modelbay.sdk.clients import client
        client("s3", url).create_bucket(Bucket=BUCKET)
        with endpoint(url, "light", scratch / "models" / "light" / "model.tar.gz"):
            target = front_door(url, "light", row, [pid])
            processes = front_door_processes(pid)
            before = cpu_seconds(processes)
            load = measure(Target(target.host, target.port, target.request, processes), concurrency, args)
            return load, (cpu_seconds(processes) - before) / load.seconds


def main(args: argparse.Namespace) -> None:
    os.environ.setdefault("MODELBAY_ENVIRONMENTS_DIR", str(ROOT / ".cache" / "environments"))
    cpus = sorted(os.sched_getaffinity(0))
    every = ",".join(str(cpu) for cpu in cpus)
    python = sklearn_python()
    print(f"modelbay's front door on CPUs {every}: --workers 1 against --workers {len(cpus)}; light model, its model "
          f"server 2 workers; the load generator on CPU {CLIENT_CPU} beside them; median of {args.rounds} rounds")
    with tempfile.TemporaryDirectory(prefix="modelbay-cores-") as tmp:
        scratch = Path(tmp)
        row = train(python, scratch / "models")
        for concurrency in CONCURRENCIES:
            runs: dict[int, list[tuple[Load, float]]] = {1: [], len(cpus): []}
            for _ in range(args.rounds):
                for workers in runs:
                    runs[workers].append(measured(scratch, row, every, workers, concurrency, args))
            print(f"\nconcurrency {concurrency}")
            print(f"  {'front door':<22}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'µs/req':>9}{'CPUs used':>11}")
            rates = {}
            for workers, loads in runs.items():
                rates[workers] = statistics.median(load.rps for load, _ in loads)
                print(f"  {f'--workers {workers}':<22}{rates[workers]:>10,.0f}"
                      f"{statistics.median(load.p50_ms for load, _ in loads):>9.2f}"
                      f"{statistics.median(load.p99_ms for load, _ in loads):>9.2f}"
                      f"{statistics.median(load.cpu_us for load, _ in loads):>9.0f}"
                      f"{statistics.median(used for _, used in loads):>11.2f}")
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
