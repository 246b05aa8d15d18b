"""The search index on both backends: every operator, nested filters, sub-expressions, sorts and pages, each
compared with a brute-force filter in Python over the same documents; and the index following the store's
writes (changes, tags, deletions) and rebuilding itself."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from modelbay.statuses import SecondaryStatus, TrainingJobStatus
from modelbay.store.metadata import MetadataStore, MetricDatum, open_metadata_store
from modelbay.store.metadata.search_index import (
    Condition,
    Expression,
    Nested,
    Query,
    SearchDocument,
    Sort,
    documents_of,
    reindex_if_stale,
    search_documents,
    search_index_state,
    search_properties,
)
from modelbay.store.metadata.training_jobs import TrainingJobRow
from tests.helpers import T0, Clock
from tests.unit.store.metadata.conftest import BACKENDS, new_database

JOBS = 40
BASE: dict[str, Any] = {"AlgorithmSpecification": {"TrainingImage": "img-a", "TrainingInputMode": "File"},
                        "RoleArn": "arn:aws:iam::123456789012:role/r", "OutputDataConfig": {"S3OutputPath": "s3://out/"},
                        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
                        "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}


def _seed(store: MetadataStore) -> None:
    """Training jobs with hyperparameters (texts, some numeric), channels, tags, statuses and metrics, at random
    (seeded): the same on every run and backend."""
    chance = random.Random(7)
    for number in range(JOBS):
        name = f"job-{number:02d}"
        channels = chance.sample(["train", "validation", "test"], chance.randint(1, 3))
        request = BASE | {
            "ResourceConfig": {"InstanceType": chance.choice(["ml.m5.large", "ml.c5.xlarge"]), "InstanceCount":
                               chance.randint(1, 3)},
            "EnableManagedSpotTraining": chance.random() < 0.3,
            "HyperParameters": {"max_depth": str(chance.randint(1, 12)), "eta": chance.choice(["0.1", "0.3", "1e-2"]),
                                "objective": chance.choice(["binary:logistic", "reg:squarederror"])},
            "InputDataConfig": [{"ChannelName": channel, "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://bucket-{chance.randint(1, 3)}/{channel}/"}}}
                for channel in channels]}
        arn = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
        store.training_jobs.create(name, arn, request, SecondaryStatus.STARTING, "starting")
        tags = [(key, chance.choice(values)) for key, values in (("team", "abc"), ("env", ["dev", "prod"]))
                if chance.random() < 0.6]
        if tags:
            store.tags.add(arn, tags)
        _advance(store, name, chance)


def _advance(store: MetadataStore, name: str, chance: random.Random) -> None:
    ending = chance.choice([TrainingJobStatus.COMPLETED, TrainingJobStatus.FAILED, TrainingJobStatus.IN_PROGRESS])
    if ending is TrainingJobStatus.IN_PROGRESS:
        return
    metrics = [MetricDatum("validation:accuracy", round(chance.uniform(0.5, 1), 3), T0),
               MetricDatum("train:loss", round(chance.uniform(0, 2), 3), T0)]
    store.training_jobs.advance(name, ending, secondary=SecondaryStatus(str(ending)), message="",
                                failure_reason="it broke" if ending is TrainingJobStatus.FAILED else None,
                                final_metrics=metrics if ending is TrainingJobStatus.COMPLETED else None)


@pytest.fixture(scope="module", params=BACKENDS)
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetadataStore]:
    """The seeded jobs in a database of the module's own on each backend, seeded once (about a second on PostgreSQL):
    the tests given it only read it."""
    with new_database(request.param, tmp_path_factory.mktemp("seeded")) as url:
        store = open_metadata_store(url, Clock())
        try:
            _seed(store)
            yield store
        finally:
            store.close()


# --- the brute-force oracle ----------------------------------------------------------------------------------

def _documents(store: MetadataStore) -> list[dict[str, Any]]:
    """Every training job's document as plain properties, its tags under "Tags", its ARN under "@arn"."""
    with store.db.read() as session:
        found = [document for row in session.scalars(select(TrainingJobRow)) for document in documents_of(session, row)]
    return [_with_tags(store, document) for document in found]


def _with_tags(store: MetadataStore, document: SearchDocument) -> dict[str, Any]:
    tags = dict(store.tags.list(document.arn, limit=100).items)
    return document.properties | {"Tags": tags, "@arn": document.arn}


def _values(value: Any, path: list[str]) -> Iterator[Any]:
    """The scalars at `path` (and below it) in `value`, through lists."""
    if isinstance(value, list):
        for item in value:
            yield from _values(item, path)
    elif path:
        if isinstance(value, dict) and path[0] in value:
            yield from _values(value[path[0]], path[1:])
    elif isinstance(value, dict):
        for item in value.values():
            yield from _values(item, [])
    elif value is not None:
        yield value


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value)
    except ValueError:
        return None


def _as_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else None


_TESTS = {"Equals": lambda found, wanted: found == wanted, "GreaterThan": lambda found, wanted: found > wanted,
          "GreaterThanOrEqualTo": lambda found, wanted: found >= wanted,
          "LessThan": lambda found, wanted: found < wanted, "LessThanOrEqualTo": lambda found, wanted: found <= wanted}


def _meets(document: Any, condition: Condition) -> bool:
    if condition.operator in ("NotEquals", "NotExists"):
        positive = {"NotEquals": "Equals", "NotExists": "Exists"}[condition.operator]
        return not _meets(document, Condition(condition.path, positive, condition.value))  # type: ignore[arg-type]
    found = list(_values(document, condition.path.split(".")))
    wanted = condition.value
    if condition.operator == "Exists":
        return bool(found)
    if condition.operator == "In":
        return any(_as_text(value) in wanted for value in found)  # type: ignore[operator]
    if condition.operator == "Contains":
        return any(str(wanted).lower() in (_as_text(value) or "\0").lower() for value in found)
    convert = _as_number if isinstance(wanted, float) else _as_text
    return any((typed := convert(value)) is not None and _TESTS[condition.operator](typed, wanted) for value in found)


def _matches(document: dict[str, Any], part: Condition | Nested | Expression) -> bool:
    if isinstance(part, Condition):
        return _meets(document, part)
    if isinstance(part, Nested):
        prefix = len(part.path) + 1
        return any(all(_meets(element, Condition(c.path[prefix:], c.operator, c.value)) for c in part.conditions)
                   for element in _elements(document, part.path.split(".")))
    results = (_matches(document, inner) for inner in part.parts)
    return all(results) if part.operator == "And" else any(results)


def _elements(value: Any, path: list[str]) -> Iterator[Any]:
    if not path:
        yield from value if isinstance(value, list) else []
    elif isinstance(value, dict) and path[0] in value:
        yield from _elements(value[path[0]], path[1:])


def _expected(documents: list[dict[str, Any]], expression: Expression) -> set[str]:
    return {document["@arn"] for document in documents if _matches(document, expression)}


NEWEST_FIRST = Sort()


def _found(store: MetadataStore, expression: Expression | None, sort: Sort = NEWEST_FIRST) -> list[str]:
    page = store.search.search(Query("TrainingJob", expression, sort, "TrainingJobName"), limit=100)
    return [hit.arn for hit in page.items]


def _and(*parts: Condition | Nested | Expression) -> Expression:
    return Expression("And", parts)


def _or(*parts: Condition | Nested | Expression) -> Expression:
    return Expression("Or", parts)


DEPTH, ETA, ACCURACY = "HyperParameters.max_depth", "HyperParameters.eta", "Metrics.validation:accuracy"
CHANNEL, URI = "InputDataConfig.ChannelName", "InputDataConfig.DataSource.S3DataSource.S3Uri"
EXPRESSIONS = {
    "equals a text": _and(Condition("TrainingJobStatus", "Equals", "Completed")),
    "equals a number in a text": _and(Condition(DEPTH, "Equals", 5.0)),
    "a decimal written two ways": _and(Condition(ETA, "Equals", 0.01)),
    "not equals": _and(Condition("TrainingJobStatus", "NotEquals", "Completed")),
    "not equals on a list": _and(Condition(CHANNEL, "NotEquals", "test")),
    "greater than": _and(Condition(ACCURACY, "GreaterThan", 0.8)),
    "greater or equal": _and(Condition(DEPTH, "GreaterThanOrEqualTo", 10.0)),
    "less than": _and(Condition("Metrics.train:loss", "LessThan", 0.5)),
    "less or equal": _and(Condition("ResourceConfig.InstanceCount", "LessThanOrEqualTo", 1.0)),
    "a time": _and(Condition("CreationTime", "GreaterThan", T0.timestamp() + 40)),
    "contains": _and(Condition(URI, "Contains", "BUCKET-2")),
    "exists": _and(Condition("FailureReason", "Exists")),
    "exists below": _and(Condition("FinalMetricDataList", "Exists")),
    "not exists": _and(Condition("Tags.team", "NotExists")),
    "in": _and(Condition("Tags.team", "In", ("a", "c"))),
    "a boolean": _and(Condition("EnableManagedSpotTraining", "Equals", "true")),
    "and": _and(Condition("Tags.env", "Equals", "prod"), Condition(DEPTH, "LessThan", 8.0)),
    "or": _or(Condition("Tags.team", "Equals", "b"), Condition(ACCURACY, "GreaterThan", 0.9)),
    "or with a negation": _or(Condition("Tags.team", "NotExists"), Condition("TrainingJobStatus", "Equals", "Failed")),
    "only negations": _and(Condition("Tags.team", "NotExists"), Condition("TrainingJobStatus", "NotEquals", "Failed")),
    "nested": _and(Nested("InputDataConfig", (Condition(CHANNEL, "Equals", "train"),
                                              Condition(URI, "Contains", "bucket-1")))),
    "nested with a negation": _and(Nested("InputDataConfig", (Condition(CHANNEL, "NotEquals", "train"),
                                                              Condition(URI, "Contains", "bucket-3")))),
    "nested, negations only": _and(Nested("InputDataConfig", (Condition(CHANNEL, "NotEquals", "train"),))),
    "sub-expressions": _and(Condition("TrainingJobStatus", "Equals", "Completed"),
                            _or(Condition("Tags.team", "Equals", "a"),
                                _and(Condition(DEPTH, "GreaterThan", 6.0), Condition(ETA, "Equals", "0.3")))),
    "an unknown property": _and(Condition("HyperParameters.nothing", "Equals", "x")),
    "not, of an unknown property": _and(Condition("HyperParameters.nothing", "NotExists")),
}


@pytest.mark.parametrize("expression", EXPRESSIONS.values(), ids=EXPRESSIONS.keys())
def test_search_finds_what_a_brute_force_filter_finds(seeded: MetadataStore, expression: Expression) -> None:
    expected = _expected(_documents(seeded), expression)
    found = _found(seeded, expression)
    assert len(found) == len(set(found))
    assert set(found) == expected
    assert seeded.search.search(Query("TrainingJob", expression, Sort(), "TrainingJobName")).total == len(expected)


def test_the_conditions_are_selective_enough_to_test_something(seeded: MetadataStore) -> None:
    documents = _documents(seeded)
    sizes = {name: len(_expected(documents, expression)) for name, expression in EXPRESSIONS.items()}
    unknown = {"an unknown property", "not, of an unknown property"}
    assert all(0 < size < JOBS for name, size in sizes.items() if name not in unknown), sizes


SORTS = [Sort(ACCURACY, "number", False), Sort(ACCURACY, "number", True), Sort("TrainingJobName", "text", True),
         Sort(DEPTH, "mixed", False), Sort("CreationTime", "number", True), Sort("LastModifiedTime", "number", False)]


@pytest.mark.parametrize("sort", SORTS, ids=lambda sort: f"{sort.path} {'up' if sort.ascending else 'down'}")
def test_sort_orders_by_the_property_missing_ones_last(seeded: MetadataStore, sort: Sort) -> None:
    documents = {document["@arn"]: document for document in _documents(seeded)}
    found = _found(seeded, None, sort)
    assert set(found) == set(documents)
    keys = [_sort_key(documents[arn], sort) for arn in found]
    present = [key for key in keys if key is not None]
    assert keys == present + [None] * (len(keys) - len(present))  # missing last, whichever the direction
    assert present == sorted(present, reverse=not sort.ascending)


def _sort_key(document: dict[str, Any], sort: Sort) -> Any:
    found = list(_values(document, sort.path.split(".")))
    if not found:
        return None
    typed = [_as_text(value) if sort.kind == "text" else _as_number(value) for value in found]
    return min(typed) if sort.ascending else max(typed)


def test_pages_cover_the_results_once_in_order(seeded: MetadataStore) -> None:
    query = Query("TrainingJob", _and(Condition("TrainingJobName", "Contains", "job")),
                  Sort("TrainingJobName", "text", True), "TrainingJobName")
    names, token = [], None
    while True:
        page = seeded.search.search(query, token, limit=7)
        names += [hit.name for hit in page.items]
        if (token := page.next_token) is None:
            break
    assert names == [f"job-{number:02d}" for number in range(JOBS)]


def test_the_index_follows_changes_tags_and_deletions(store: MetadataStore) -> None:
    _seed(store)
    name, arn = "job-00", "arn:aws:sagemaker:us-east-1:123456789012:training-job/job-00"
    team = _and(Condition("Tags.team", "Equals", "z"))
    store.tags.add(arn, [("team", "z")])
    assert _found(store, team) == [arn]
    store.tags.delete(arn, ["team"])
    assert _found(store, team) == []
    store.training_jobs.create("fresh", "arn:fresh", BASE | {"HyperParameters": {"max_depth": "99"}},
                               SecondaryStatus.STARTING, "")
    assert _found(store, _and(Condition(DEPTH, "Equals", 99.0))) == ["arn:fresh"]
    store.training_jobs.request_stop("fresh")
    assert "arn:fresh" in _found(store, _and(Condition("TrainingJobStatus", "Equals", "Stopping")))
    assert _found(store, _and(Condition("TrainingJobName", "Equals", name))) == [arn]
    store.models.create("m", "arn:model/m", {"PrimaryContainer": {"Image": "img"}})
    store.tags.add("arn:model/m", [("stage", "prod")])
    model = Query("Model", _and(Condition("Tags.stage", "Equals", "prod")), Sort(), "Model.ModelName")
    assert [hit.name for hit in store.search.search(model).items] == ["m"]
    store.models.delete("m")
    assert store.search.search(model).items == []


def test_a_stale_index_is_rebuilt_as_the_store_opens(store: MetadataStore) -> None:
    _seed(store)
    expression = EXPRESSIONS["sub-expressions"]
    before = _found(store, expression)
    with store.db.write() as session:  # an index built by an older version, and rows it never saw
        session.execute(update(search_index_state).values(version=0))
        forgotten = select(search_documents.c.id).where(search_documents.c.arn.in_(before[:2]))
        session.execute(delete(search_properties).where(search_properties.c.document_id.in_(forgotten)))
        session.execute(delete(search_documents).where(search_documents.c.arn.in_(before[:2])))
    assert len(_found(store, expression)) == len(before) - 2
    reindex_if_stale(store.db)
    assert _found(store, expression) == before
