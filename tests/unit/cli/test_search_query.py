"""`modelbay search`'s query language: what each query compiles to, and errors pointing at the bad token."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from modelbay.cli.search import QueryError, search_expression

SEARCH_INPUT = botocore.session.get_session().get_service_model("sagemaker").operation_model("Search").input_shape


def _filter(name: str, operator: str, value: str | None = None) -> dict[str, Any]:
    return {"Name": name, "Operator": operator} | ({} if value is None else {"Value": value})


@pytest.mark.parametrize(("query", "expression"), [
    ("TrainingJobStatus = Completed", {"Filters": [_filter("TrainingJobStatus", "Equals", "Completed")]}),
    ("TrainingJobStatus = Completed and Metrics.validation:accuracy > 0.9", {"Operator": "And", "Filters": [
        _filter("TrainingJobStatus", "Equals", "Completed"),
        _filter("Metrics.validation:accuracy", "GreaterThan", "0.9")]}),
    ("a != 1 AND b >= 2 and c < 3 and d <= 4", {"Operator": "And", "Filters": [
        _filter("a", "NotEquals", "1"), _filter("b", "GreaterThanOrEqualTo", "2"), _filter("c", "LessThan", "3"),
        _filter("d", "LessThanOrEqualTo", "4")]}),
    ("Tags.team in (a, 'b c',\"d\")", {"Filters": [_filter("Tags.team", "In", "a,b c,d")]}),
    ("FailureReason exists or FailureReason NOT EXISTS", {"Operator": "Or", "Filters": [
        _filter("FailureReason", "Exists"), _filter("FailureReason", "NotExists")]}),
    ("TrainingJobName contains 'it''s'", None),  # two quoted values in a row: refused below
    ("a = 1 or b = 2 and c = 3", {"Operator": "Or", "Filters": [_filter("a", "Equals", "1")], "SubExpressions": [
        {"Operator": "And", "Filters": [_filter("b", "Equals", "2"), _filter("c", "Equals", "3")]}]}),
    ("(a = 1 or b = 2) and c = 3", {"Operator": "And", "Filters": [_filter("c", "Equals", "3")], "SubExpressions": [
        {"Operator": "Or", "Filters": [_filter("a", "Equals", "1"), _filter("b", "Equals", "2")]}]}),
    ("(a = 1 and b = 2) and (c = 3)", {"Operator": "And", "Filters": [
        _filter("a", "Equals", "1"), _filter("b", "Equals", "2"), _filter("c", "Equals", "3")]}),
    ("name = 'with \\'escaped\\' quotes and = signs'", {"Filters": [
        _filter("name", "Equals", "with 'escaped' quotes and = signs")]}),
])
def test_queries_compile_to_search_expressions(query: str, expression: dict[str, Any] | None) -> None:
    if expression is None:
        with pytest.raises(QueryError):
            search_expression(query)
        return
    compiled = search_expression(query)
    assert compiled == expression
    report = ParamValidator().validate({"Resource": "TrainingJob", "SearchExpression": compiled}, SEARCH_INPUT)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize(("query", "at", "words"), [
    ("", 0, "The query is empty"),
    ("TrainingJobStatus", 17, "Expected an operator after TrainingJobStatus"),
    ("a = 1 and", 9, "Expected a property name"),
    ("a = 1 b = 2", 6, "Expected 'and', 'or' or the end of the query; found 'b'"),
    ("a = ", 3, "found the end of the query"),
    ("a = and", 4, "Expected a value"),
    ("a = 1 ! b", 6, "an unexpected '!'"),
    ("a ~ 1", 2, "Expected an operator after a"),
    ("a = 'open", 4, "an unterminated quote"),
    ("(a = 1", 6, "Expected ')'"),
    ("a in 1", 5, "Expected '(' to open the list of values"),
    ("a in (1 2)", 8, "Expected ',' or ')'"),
    ("a not b", 2, "Expected an operator after a"),
    ("and = 1", 0, "Expected a property name"),
])
def test_mistakes_point_at_their_token(query: str, at: int, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        search_expression(query)
    assert words in str(caught.value)
    assert caught.value.position == at
    assert caught.value.pointed().splitlines()[-1] == "  " + " " * at + "^"
