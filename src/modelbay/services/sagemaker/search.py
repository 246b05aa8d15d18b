"""SageMaker's Search: a SearchExpression checked against the SearchRecord's shapes, run over the search index.

Property names are checked against botocore's shape of the resource's SearchRecord member (lists are
passed through: "InputDataConfig.ChannelName"), plus the map-like roots SageMaker adds: "Tags.<key>"
everywhere and "Metrics.<name>" for training jobs. A property's shape gives its type, and the type the
operators it takes and how Value reads: numbers as numbers, timestamps (ISO 8601, or epoch seconds) as
numbers too, booleans as true/false, texts as texts; a map of texts (HyperParameters, Environment,
Tags) compares numerically when Value reads as a number, as SageMaker compares hyperparameters.

Results are each resource's record at query time (its Describe answer; for trials and trial components, which
Describe shows without their parents and components, what Search shows of them), with its tags, trimmed to the
SearchRecord's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape

from modelbay.errors import ResourceNotFound, ValidationError
from modelbay.services.base import Context, Handler
from modelbay.services.listing import DEFAULT_MAX_RESULTS, reading_tokens
from modelbay.services.sagemaker import (
    endpoints,
    experiments,
    model_package_groups,
    model_packages,
    models,
    training_jobs,
    trial_components,
    tuning_jobs,
)
from modelbay.store.metadata.search_index import Condition, Expression, Hit, Nested, Operator, Query, Sort, number

MAX_ELEMENTS = 50  # Filters, NestedFilters and SubExpressions in one SearchExpression, at every depth
_SCALAR_KINDS = {"string": "text", "boolean": "boolean", "timestamp": "time", "integer": "number", "long": "number",
                 "float": "number", "double": "number"}
_OPERATORS = {  # the operators each kind of property takes
    "text": {"Equals", "NotEquals", "Contains", "In", "Exists", "NotExists"},
    "boolean": {"Equals", "NotEquals", "Exists", "NotExists"},
    "number": {"Equals", "NotEquals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo", "Exists",
               "NotExists"},
    "object": {"Exists", "NotExists"}}
_OPERATORS |= {"time": _OPERATORS["number"], "list": _OPERATORS["object"],
               "mixed": _OPERATORS["text"] | _OPERATORS["number"]}
_SORT_KINDS = {"text": "text", "boolean": "text", "number": "number", "time": "number", "mixed": "mixed"}
_KIND_WORDS = {"text": "text", "boolean": "Boolean", "number": "numeric", "time": "timestamp", "mixed": "text",
               "object": "structured", "list": "list"}


@dataclass(frozen=True)
class Searchable:
    """A resource Search finds here: its SearchRecord member, the function (a Describe) and parameter that give its
    record, and the property holding what that parameter takes."""

    member: str
    describe: Handler
    parameter: str
    name_path: str
    under: str | None = None  # the record member Describe's answer goes in (a Model record's "Model")
    metrics: bool = False  # whether "Metrics.<name>" names its final metrics
    contains_anywhere: frozenset[str] = frozenset()  # properties Contains may be used on more than once


_TRIAL_WIDE = frozenset({"DisplayName", "Tags"})
RESOURCES = {
    "TrainingJob": Searchable("TrainingJob", training_jobs.describe_training_job, "TrainingJobName", "TrainingJobName",
                              metrics=True),
    "Endpoint": Searchable("Endpoint", endpoints.describe_endpoint, "EndpointName", "EndpointName"),
    "Model": Searchable("Model", models.OPERATIONS["DescribeModel"], "ModelName", "Model.ModelName", under="Model"),
    "HyperParameterTuningJob": Searchable("HyperParameterTuningJob", tuning_jobs.describe_hyper_parameter_tuning_job,
                                          "HyperParameterTuningJobName", "HyperParameterTuningJobName"),
    "ModelPackage": Searchable("ModelPackage", model_packages.describe_model_package, "ModelPackageName",
                               "ModelPackageArn"),
    "ModelPackageGroup": Searchable("ModelPackageGroup", model_package_groups.describe_model_package_group,
                                    "ModelPackageGroupName",
                                    "ModelPackageGroupName"),
    "Experiment": Searchable("Experiment", experiments.describe_experiment, "ExperimentName", "ExperimentName",
                             contains_anywhere=_TRIAL_WIDE | {"ExperimentName"}),
    "ExperimentTrial": Searchable("Trial", experiments.trial_search_record, "TrialName", "TrialName",
                                  contains_anywhere=_TRIAL_WIDE | {"TrialName"}),
    "ExperimentTrialComponent": Searchable(
        "TrialComponent", trial_components.search_record, "TrialComponentName", "TrialComponentName",
        contains_anywhere=_TRIAL_WIDE | {"TrialComponentName", "InputArtifacts", "OutputArtifacts"}),
}
# The SearchRecord members of the resources whose names differ.
_RECORD_MEMBERS = {"ExperimentTrial": "Trial", "ExperimentTrialComponent": "TrialComponent"}


@cache
def _search_record() -> StructureShape:
    shape = botocore.session.get_session().get_service_model("sagemaker").shape_for("SearchRecord")
    assert isinstance(shape, StructureShape)
    return shape


def search(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """The page of records matching the SearchExpression, sorted as asked (LastModifiedTime, newest first, by
    default), and how many match in all. ValidationException for a property, operator or value SageMaker refuses."""
    resource: str = params["Resource"]
    record_shape = _record_shape(resource)
    compiler = _Checker(resource, record_shape)
    expression = compiler.search_expression(params)
    sort = compiler.sort(params)
    searchable = RESOURCES.get(resource)
    if searchable is None or record_shape is None or params.get("CrossAccountFilterOption") == "CrossAccount":
        return {"Results": [], "TotalHits": {"Value": 0, "Relation": "EqualTo"}}  # none here: nothing is shared
    with reading_tokens():
        page = ctx.metadata.search.search(Query(resource, expression, sort, searchable.name_path),
                                          params.get("NextToken") or None,
                                          params.get("MaxResults", DEFAULT_MAX_RESULTS))
    records = (_record(ctx, searchable, record_shape, hit) for hit in page.items)
    answer: dict[str, Any] = {"Results": [{searchable.member: record} for record in records if record is not None],
                              "TotalHits": {"Value": page.total, "Relation": "EqualTo"}}
    return answer | ({"NextToken": page.next_token} if page.next_token else {})


def _record_shape(resource: str) -> StructureShape | None:
    """The shape of the resource's SearchRecord member; None for a resource the record has none for (Image)."""
    shape = _search_record().members.get(_RECORD_MEMBERS.get(resource, resource))
    return shape if isinstance(shape, StructureShape) else None


def _record(ctx: Context, searchable: Searchable, shape: StructureShape, hit: Hit) -> dict[str, Any] | None:
    """The resource's record with its Tags, as the SearchRecord member holds it; None if it has gone since the
    search."""
    if hit.name is None:
        return None
    try:
        described = dict(searchable.describe(ctx, {searchable.parameter: hit.name}))  # type: ignore[arg-type]  # Describes are sync
    except (ValidationError, ResourceNotFound):
        return None
    tags = [{"Key": key, "Value": value} for key, value in ctx.metadata.tags.list(hit.arn, limit=50).items]
    record = ({searchable.under: described | {"Tags": tags}} if searchable.under is not None
              else described | {"Tags": tags})
    fitted: dict[str, Any] = fit(shape, record)
    return fitted


def fit(shape: Shape, value: Any) -> Any:
    """`value` with only the members `shape` has, at every depth (a Describe answer holds members its SearchRecord
    lacks: the codec refuses those)."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {key: fit(shape.members[key], item) for key, item in value.items() if key in shape.members}
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [fit(shape.member, item) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: fit(shape.value, item) for key, item in value.items()}
    return value


class _Checker:
    """A Search request's expression, sort and visibility conditions, checked and turned into the index's terms."""

    def __init__(self, resource: str, record_shape: StructureShape | None) -> None:
        self._resource, self._shape = resource, record_shape
        self._searchable = RESOURCES.get(resource)
        self._elements = self._contains = 0

    def search_expression(self, params: dict[str, Any]) -> Expression | None:
        given = params.get("SearchExpression")
        expression = None if given is None else self._expression(given)
        visibility = tuple(self._visibility(condition) for condition in params.get("VisibilityConditions", []))
        if not visibility:
            return expression
        return Expression("And", (*visibility, *(() if expression is None else (expression,))))

    def sort(self, params: dict[str, Any]) -> Sort:
        ascending = params.get("SortOrder", "Descending") == "Ascending"
        path = params.get("SortBy")
        if path is None or path in ("LastModifiedTime", "CreationTime") and self._shape is None:
            return Sort(path or "LastModifiedTime", "number", ascending)
        kind = self._kind(path)
        if kind not in _SORT_KINDS:
            raise ValidationError(f"Cannot sort by {path}: it is a {_KIND_WORDS[kind]} property; sort by a "
                                  "text, numeric, Boolean or timestamp property.")
        return Sort(path, _SORT_KINDS[kind], ascending)  # type: ignore[arg-type]  # one of Sort's kinds

    def _expression(self, given: dict[str, Any]) -> Expression:
        parts: list[Condition | Nested | Expression] = [
            *(self._filter(item) for item in given.get("Filters", [])),
            *(self._nested(item) for item in given.get("NestedFilters", [])),
            *(self._counted_expression(item) for item in given.get("SubExpressions", []))]
        if not parts:
            raise ValidationError("A SearchExpression must contain at least one of Filters, NestedFilters or "
                                  "SubExpressions.")
        return Expression(given.get("Operator", "And"), tuple(parts))

    def _counted_expression(self, given: dict[str, Any]) -> Expression:
        self._count()
        return self._expression(given)

    def _count(self) -> None:
        self._elements += 1
        if self._elements > MAX_ELEMENTS:
            raise ValidationError(f"The SearchExpression has more than {MAX_ELEMENTS} Filters, NestedFilters and "
                                  "SubExpressions in all; at most 50 are allowed.")

    def _nested(self, given: dict[str, Any]) -> Nested:
        self._count()
        path: str = given["NestedPropertyName"]
        if self._kind(path) != "list":
            raise ValidationError(f"NestedPropertyName {path} is not a list property of {self._resource}: "
                                  "NestedFilters apply to a list, such as InputDataConfig.")
        for item in given["Filters"]:
            if not item["Name"].startswith(f"{path}."):
                raise ValidationError(f"The nested filter on {item['Name']} must name a property of {path} "
                                      f"({path}.<property>).")
        return Nested(path, tuple(self._filter(item) for item in given["Filters"]))

    def _filter(self, given: dict[str, Any]) -> Condition:
        """A Filter: no Operator means Equals with a Value and Exists without one."""
        self._count()
        name: str = given["Name"]
        value: str | None = given.get("Value")
        operator: Operator = given.get("Operator") or ("Equals" if value is not None else "Exists")
        kind = self._kind(name)
        if operator not in _OPERATORS[kind]:
            raise ValidationError(f"The {operator} operator is not supported for {_KIND_WORDS[kind]} property "
                                  f"{name}.")
        if operator in ("Exists", "NotExists"):
            return Condition(name, operator)
        if value is None:
            raise ValidationError(f"The filter on {name} with the {operator} operator needs a Value.")
        if operator == "Contains":
            self._count_contains(name)
        return Condition(name, operator, _typed(name, kind, operator, value))

    def _count_contains(self, name: str) -> None:
        root = name.split(".")[0]
        if self._searchable is not None and root in self._searchable.contains_anywhere:
            return
        self._contains += 1
        if self._contains > 1:
            raise ValidationError("'CONTAINS' operator usage limit of 1 exceeded.")

    def _visibility(self, given: dict[str, Any]) -> Expression:
        """A VisibilityCondition: resources with the tag set to the value, or without the tag."""
        key: str = given["Key"]
        if not key.startswith("Tags.") or key == "Tags.":
            raise ValidationError(f"Invalid VisibilityConditions Key {key}: it must have the form Tags.<key>.")
        return Expression("Or", (Condition(key, "Equals", given.get("Value", "")), Condition(key, "NotExists")))

    def _kind(self, path: str) -> str:
        if self._shape is None:
            return "mixed"  # a resource without a SearchRecord member: nothing to check against, nothing found
        kind = property_kind(self._shape, path, self._searchable is not None and self._searchable.metrics)
        if kind is None:
            raise ValidationError(f"{path} is not a valid property name for resource {self._resource}. See the "
                                  f"{_RECORD_MEMBERS.get(self._resource, self._resource)} member of SearchRecord for "
                                  "the properties Search knows.")
        return kind


def property_kind(record: StructureShape, path: str, metrics: bool) -> str | None:
    """The kind of the property `path` names in a record of shape `record` ("text", "number", "time", "boolean",
    "mixed" for a map of texts, "object", "list"), or None if there is no such property."""
    root, _, rest = path.partition(".")
    if root == "Tags" and rest:
        return "mixed"
    if root == "Metrics" and rest and metrics:
        return "number"
    shape: Shape = record
    segments = iter(path.split("."))
    for segment in segments:
        while isinstance(shape, ListShape):
            shape = shape.member
        if isinstance(shape, MapShape) and _is_scalar(shape.value):  # the rest is a key, dots and all
            key = ".".join([segment, *segments])
            return None if not key else "mixed" if shape.value.type_name == "string" else _shape_kind(shape.value)
        if isinstance(shape, MapShape):
            shape = shape.value
        elif isinstance(shape, StructureShape) and segment in shape.members:
            shape = shape.members[segment]
        else:
            return None
    return _shape_kind(shape)


def _is_scalar(shape: Shape) -> bool:
    return shape.type_name in _SCALAR_KINDS


def _shape_kind(shape: Shape) -> str:
    if isinstance(shape, ListShape):
        return "list"
    if isinstance(shape, MapShape):
        return "object"
    if isinstance(shape, StructureShape) or shape.metadata.get("document"):
        return "object"
    return _SCALAR_KINDS.get(shape.type_name, "text")


def _typed(name: str, kind: str, operator: str, value: str) -> float | str | tuple[str, ...]:
    """Value as the index compares it, for a property of `kind`."""
    if operator == "In":
        return tuple(item.strip() for item in value.split(","))
    if operator == "Contains":
        return value
    if kind == "time":
        return _time(name, value)
    if kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise ValidationError(f"Value {value} for Boolean property {name} must be true or false.")
        return value.lower()
    read = number(value)
    if kind == "number" or (kind == "mixed" and operator not in ("Equals", "NotEquals")):
        if read is None:
            raise ValidationError(f"Value {value} for {name} must be an integer or floating-point decimal with the "
                                  f"{operator} operator.")
        return read
    return read if kind == "mixed" and read is not None else value


def _time(name: str, value: str) -> float:
    """A timestamp Value: ISO 8601 (UTC unless it says otherwise), or epoch seconds; as epoch seconds."""
    epoch = number(value)
    if epoch is not None:
        return epoch
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"Value {value} for timestamp property {name} must be an ISO 8601 date-time "
                              "(YYYY-mm-dd'T'HH:MM:SS) or epoch seconds.") from None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


OPERATIONS: dict[str, Handler] = {"Search": search}
