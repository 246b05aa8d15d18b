"""Search and List* over many training jobs, on SQLite and PostgreSQL, next to a brute-force scan of the same records.

    .venv/bin/python benchmarks/search.py [--jobs 100000] [--runs 30] [--postgres URL]

Seeds JOBS training jobs (default 100,000) with hyperparameters, final metrics and tags into a fresh store on
each backend: rows and their tags are added through the store's own Database in transactions of 2,000, so the
search index's flush hook indexes each batch in bulk, as it indexes every write (a few statements per batch).
PostgreSQL gets a fresh schema on the local server (MODELBAY_BENCH_POSTGRES, else the tests' server), dropped
after; it is vacuumed and analyzed once seeded, as autovacuum does a minute later (without statistics its planner
takes each filter for one row, and may pick nested loops that take seconds; without a visibility map it reads
the table behind every index entry). Then each query runs RUNS times on the
store (SearchIndex.search, as the Search operation calls it; TrainingJobRepository.list, as ListTrainingJobs
does): p50 and p99 per backend, beside the p50 of the same query answered by a brute-force scan in Python of
every record's properties (loaded once, not timed), and the scan's p50 over the backend's. The goal: p50 under
50 ms for the selective queries (marked *) on both backends.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from sqlalchemy import create_engine, select

from modelbay.store.metadata import ListFilter, MetadataStore, open_metadata_store
from modelbay.store.metadata.search_index import (
    Condition,
    Expression,
    Leaf,
    Nested,
    Query,
    Sort,
    documents_of,
    leaves,
)
from modelbay.store.metadata.tables import TagRow
from modelbay.store.metadata.training_jobs import TrainingJobRow

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BATCH = 2000
START = datetime(2026, 1, 1, tzinfo=UTC)
ACCURACY, DEPTH = "Metrics.validation:accuracy", "HyperParameters.max_depth"


def job_row(number: int, chance: random.Random) -> tuple[TrainingJobRow, list[TagRow]]:
    """The row of training job `number`, as a finished job's, and its tags: deterministic for a seed."""
    name = f"job-{number:06d}"
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
    created = START + timedelta(seconds=number)
    status = chance.choices(["Completed", "Failed", "InProgress"], [7, 2, 1])[0]
    metrics = ([{"MetricName": "validation:accuracy", "Value": round(chance.uniform(0.5, 1), 4),
                 "Timestamp": created.isoformat()},
                {"MetricName": "train:loss", "Value": round(chance.uniform(0, 2), 4), "Timestamp": created.isoformat()}]
               if status == "Completed" else [])
    request = {
        "AlgorithmSpecification": {"TrainingImage": chance.choice(["xgboost:1.7-1", "sklearn:1.2-1"]),
                                   "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMaker", "OutputDataConfig": {"S3OutputPath": "s3://out/"},
        "ResourceConfig": {"InstanceType": chance.choice(["ml.m5.large", "ml.c5.xlarge"]), "InstanceCount": 1,
                           "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "HyperParameters": {"max_depth": str(chance.randint(1, 12)), "eta": str(chance.choice([0.01, 0.05, 0.1, 0.3])),
                            "num_round": str(chance.randint(50, 500)),
                            "objective": chance.choice(["binary:logistic", "reg:squarederror", "multi:softmax"])},
        "InputDataConfig": [{"ChannelName": channel, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://data-{chance.randint(0, 49)}/{channel}/"}}}
            for channel in ("train", "validation")]}
    row = TrainingJobRow(
        name=name, arn=arn, request=request, status=status, secondary_status=status if status != "InProgress"
        else "Training", transitions=[], creation_time=created, last_modified_time=created + timedelta(minutes=5),
        training_start_time=created, training_end_time=None if status == "InProgress" else created
        + timedelta(minutes=5), failure_reason="AlgorithmError: it broke" if status == "Failed" else None,
        model_artifacts=None, final_metrics=metrics, stop_requested=False, held=False)
    tags = [TagRow(resource_arn=arn, key="team", value=f"team-{chance.randint(0, 19)}", position=1),
            TagRow(resource_arn=arn, key="project", value=f"project-{chance.randint(0, 999)}", position=2)]
    return row, tags


def seed(store: MetadataStore, jobs: int) -> float:
    """Add `jobs` training jobs in transactions of BATCH; return the seconds it took."""
    chance = random.Random(2026)
    began = time.perf_counter()
    for start in range(0, jobs, BATCH):
        with store.db.write() as session:
            for number in range(start, min(start + BATCH, jobs)):
                row, tags = job_row(number, chance)
                session.add(row)
                session.add_all(tags)
    return time.perf_counter() - began


@dataclass(frozen=True)
class Case:
    """A typical query: a Search (expression and sort) or a List* call; `selective` ones have the 50 ms goal."""

    name: str
    selective: bool
    expression: Expression | None = None
    sort: Sort = Sort()
    listing: ListFilter | None = None


def _and(*parts: Condition | Nested | Expression) -> Expression:
    return Expression("And", parts)


CASES = [
    Case("Completed, accuracy > 0.995, by accuracy", True,
         _and(Condition("TrainingJobStatus", "Equals", "Completed"), Condition(ACCURACY, "GreaterThan", 0.995)),
         Sort(ACCURACY, "number", False)),
    Case("max_depth = 7 and Tags.team = team-3", True,
         _and(Condition(DEPTH, "Equals", 7.0), Condition("Tags.team", "Equals", "team-3"))),
    Case("Tags.project in (2), by CreationTime", True,
         _and(Condition("Tags.project", "In", ("project-17", "project-42"))), Sort("CreationTime", "number", True)),
    Case("TrainingJobName = job-054321", True, _and(Condition("TrainingJobName", "Equals", "job-054321"))),
    Case("Failed, team-5, eta < 0.05 or max_depth >= 12", True,
         _and(Condition("TrainingJobStatus", "Equals", "Failed"), Condition("Tags.team", "Equals", "team-5"),
              Expression("Or", (Condition("HyperParameters.eta", "LessThan", 0.05),
                                Condition(DEPTH, "GreaterThanOrEqualTo", 12.0))))),
    Case("nested: validation channel in s3://data-7", True,
         _and(Nested("InputDataConfig", (Condition("InputDataConfig.ChannelName", "Equals", "validation"),
                                         Condition("InputDataConfig.DataSource.S3DataSource.S3Uri", "Equals",
                                                   "s3://data-7/validation/"))),
              Condition("Tags.team", "Equals", "team-1"))),
    Case("Completed, no FailureReason, by accuracy", False,
         _and(Condition("TrainingJobStatus", "Equals", "Completed"), Condition("FailureReason", "NotExists")),
         Sort(ACCURACY, "number", False)),
    Case("everything, newest first", False),
    Case("ListTrainingJobs StatusEquals Failed", True, listing=ListFilter(status="Failed")),
    Case("ListTrainingJobs NameContains 05432", False, listing=ListFilter(name_contains="05432")),
]


def run(store: MetadataStore, case: Case) -> int:
    """The query's first page of 10, as Search (and ListTrainingJobs) answer by default: the number of hits (of
    a listing, those of its page)."""
    if case.listing is not None:
        return len(store.training_jobs.list(case.listing, limit=10).items)
    page = store.search.search(Query("TrainingJob", case.expression, case.sort, "TrainingJobName"), limit=10)
    return page.total


def timings(action: Callable[[], object], runs: int) -> list[float]:
    action()  # warm the caches first, as a server's steady state
    found = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        found.append((time.perf_counter() - began) * 1000)
    return found


def p(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1] if len(values) > 1 else values[0]


# --- the brute-force scan ------------------------------------------------------------------------------------

Record = dict[str, list[Leaf]]


def records(store: MetadataStore) -> list[Record]:
    """Every job's leaves by path (properties and tags), as a scan over stored JSON would read them."""
    with store.db.read() as session:
        tags: dict[str, list[tuple[str, str]]] = {}
        for arn, key, value in session.execute(select(TagRow.resource_arn, TagRow.key, TagRow.value)):
            tags.setdefault(arn, []).append((key, value))
        found = []
        for row in session.scalars(select(TrainingJobRow).execution_options(yield_per=BATCH)):
            for document in documents_of(session, row):
                by_path: Record = {}
                for leaf in leaves(document.properties, tags.get(document.arn, ())):
                    by_path.setdefault(leaf.path, []).append(leaf)
                found.append(by_path)
    return found


_COMPARE = {"Equals": lambda a, b: a == b, "LessThan": lambda a, b: a < b, "GreaterThan": lambda a, b: a > b,
            "GreaterThanOrEqualTo": lambda a, b: a >= b}


def meets(record: Record, condition: Condition, element: int | None = None) -> bool:
    found = [leaf for leaf in record.get(condition.path, []) if element is None or leaf.element == element]
    if condition.operator == "NotExists":
        return not found
    if condition.operator == "In":
        return any(leaf.text_value in condition.value for leaf in found)
    numeric = isinstance(condition.value, float)
    return any((value := leaf.num_value if numeric else leaf.text_value) is not None
               and _COMPARE[condition.operator](value, condition.value) for leaf in found)


def matches(record: Record, part: Condition | Nested | Expression) -> bool:
    if isinstance(part, Condition):
        return meets(record, part)
    if isinstance(part, Nested):
        elements = {leaf.element for leaf in record.get(part.conditions[0].path, [])}
        return any(all(meets(record, condition, element) for condition in part.conditions) for element in elements)
    results = (matches(record, inner) for inner in part.parts)
    return all(results) if part.operator == "And" else any(results)


def scan(found: list[Record], case: Case) -> int:
    """The case answered by a scan: every record filtered, the matches sorted, the first 10 taken."""
    if case.listing is not None:
        wanted = case.listing
        hits = [r for r in found if (wanted.status is None or r["TrainingJobStatus"][0].text_value == wanted.status)
                and (wanted.name_contains is None or wanted.name_contains in str(r["TrainingJobName"][0].text_value))]
    else:
        hits = [r for r in found if case.expression is None or matches(r, case.expression)]
    sort_path = case.sort.path
    hits.sort(key=lambda r: r[sort_path][0].num_value or 0 if sort_path in r else 0, reverse=not case.sort.ascending)
    return min(len(hits), 10) if case.listing is not None else len(hits)


# --- the run -------------------------------------------------------------------------------------------------

def measure(store: MetadataStore, backend: str, jobs: int, runs: int) -> dict[str, tuple[int, list[float]]]:
    """Seed the store, then time every case on it: {case: (hits, milliseconds per run)}."""
    print(f"{backend}: seeding {jobs:,} training jobs ...", flush=True)
    print(f"{backend}: seeded in {seed(store, jobs):.1f} s", flush=True)
    if backend == "PostgreSQL":  # what autovacuum does within a minute of a bulk load
        with store.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(
                "VACUUM ANALYZE search_properties, search_documents, search_paths, training_jobs, tags")
    return {case.name: (run(store, case), timings(partial(run, store, case), runs)) for case in CASES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--postgres", default=os.environ.get("MODELBAY_BENCH_POSTGRES", POSTGRES_URL))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = open_metadata_store(f"sqlite:///{folder}/metadata.db")
        sqlite = measure(store, "SQLite", args.jobs, args.runs)
        found = records(store)
        store.close()
    scanned = {case.name: (scan(found, case), timings(partial(scan, found, case), max(3, args.runs // 10)))
               for case in CASES}
    schema = f"bench_search_{uuid.uuid4().hex[:12]}"
    try:
        store = open_metadata_store(args.postgres, schema=schema)
        postgres = measure(store, "PostgreSQL", args.jobs, args.runs)
        store.close()
    finally:
        engine = create_engine(args.postgres)
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()
    report(sqlite, postgres, scanned)


def report(sqlite: dict[str, tuple[int, list[float]]], postgres: dict[str, tuple[int, list[float]]],
           scanned: dict[str, tuple[int, list[float]]]) -> None:
    print(f"\n{'query (* selective: p50 goal 50 ms)':<48} {'hits':>7} {'SQLite p50/p99':>16} "
          f"{'PostgreSQL p50/p99':>19} {'scan p50':>9} {'scan/SQLite':>12} {'scan/PG':>8}")
    missed = []
    for case in CASES:
        (hits, on_sqlite), (also, on_postgres), (matched, brute) = (
            sqlite[case.name], postgres[case.name], scanned[case.name])
        assert hits == also == matched, (case.name, hits, also, matched)  # the same answers every way
        label = f"{'* ' if case.selective else '  '}{case.name}"
        print(f"{label:<48} {hits:>7} {p(on_sqlite, 50):>7.1f}/{p(on_sqlite, 99):<7.1f}ms "
              f"{p(on_postgres, 50):>8.1f}/{p(on_postgres, 99):<7.1f}ms {p(brute, 50):>7.0f}ms "
              f"{p(brute, 50) / p(on_sqlite, 50):>11.0f}x {p(brute, 50) / p(on_postgres, 50):>7.0f}x")
        if case.selective and max(p(on_sqlite, 50), p(on_postgres, 50)) >= 50:
            missed.append(case.name)
    print("\ngoal met: every selective query's p50 under 50 ms on both backends" if not missed
          else f"\ngoal MISSED by: {', '.join(missed)}")


if __name__ == "__main__":
    main()
