"""`modelbay search '<query>'`: SageMaker's Search with a small query language compiled to a SearchExpression.

    TrainingJobStatus = Completed and Metrics.validation:accuracy > 0.9
    (Tags.team = a or Tags.team in (b, c)) and not_a_keyword contains 'two words'
    FailureReason exists and HyperParameters.max_depth >= 5 or FailureReason not exists

Comparisons are `PROPERTY OP VALUE` with OP one of = != > >= < <= (Equals ... LessThanOrEqualTo), `contains`,
`in (V1, V2, ...)`, or `PROPERTY exists` / `PROPERTY not exists`; `and` binds tighter than `or`; parentheses group.
Keywords are case-insensitive; a value with spaces, parentheses, commas or operators is quoted ('...' or "...").
A mistake is reported with the query and a caret under the token at fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import typer
from rich.markup import escape

from modelbay.cli.commands import aws_client
from modelbay.cli.output import local_time, output, styled

_OPERATORS = {"=": "Equals", "!=": "NotEquals", ">": "GreaterThan", ">=": "GreaterThanOrEqualTo", "<": "LessThan",
              "<=": "LessThanOrEqualTo"}
_TOKEN = re.compile(r"""\s*(?:(?P<quoted>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<operator>>=|<=|!=|=|>|<)"""
                    r"""|(?P<punctuation>[(),])|(?P<word>[^\s()=!<>,"']+)|(?P<bad>\S))""")
_KEYWORDS = {"and", "or", "contains", "in", "exists", "not"}


class QueryError(ValueError):
    """A query that does not parse: `position` is where in it the fault lies."""

    def __init__(self, message: str, query: str, position: int) -> None:
        super().__init__(message)
        self.query, self.position = query, position

    def pointed(self) -> str:
        """The message, the query, and a caret under the fault."""
        return f"{self}\n  {self.query}\n  {' ' * self.position}^"


@dataclass(frozen=True)
class Token:
    kind: str  # quoted, operator, punctuation, word, end
    text: str
    position: int

    @property
    def value(self) -> str:
        """The text a value token stands for: a quoted one without its quotes and escapes."""
        if self.kind != "quoted":
            return self.text
        return re.sub(r"\\(.)", r"\1", self.text[1:-1])

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words


def tokens(query: str) -> list[Token]:
    """The query's tokens, ending with an `end` token; QueryError at an unterminated quote or a stray character."""
    found, position = [], 0
    while (match := _TOKEN.match(query, position)) and match.end() > position:
        kind = match.lastgroup or "end"
        if kind == "bad":
            start = match.start(kind)
            what = "an unterminated quote" if query[start] in "'\"" else f"an unexpected {query[start]!r}"
            raise QueryError(f"Found {what}", query, start)
        found.append(Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    return [*found, Token("end", "", len(query.rstrip()))]


class _Parser:
    """Recursive descent over the tokens: or_expression := and_expression ("or" and_expression)*;
    and_expression := term ("and" term)*; term := "(" or_expression ")" | comparison."""

    def __init__(self, query: str) -> None:
        self.query, self.tokens, self.at = query, tokens(query), 0

    def parse(self) -> dict[str, Any]:
        if self._peek().kind == "end":
            raise self._error("The query is empty: give a comparison, such as TrainingJobStatus = Completed")
        expression = self._joined("or", self._and_expression)
        if self._peek().kind != "end":
            raise self._error("Expected 'and', 'or' or the end of the query")
        return {"Filters": [expression]} if "Name" in expression else expression

    def _and_expression(self) -> dict[str, Any]:
        return self._joined("and", self._term)

    def _joined(self, keyword: str, part: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """One part, or several joined by `keyword`: a SearchExpression with Operator And or Or."""
        parts = [part()]
        while self._peek().is_keyword(keyword):
            self.at += 1
            parts.append(part())
        if len(parts) == 1:
            only: dict[str, Any] = parts[0]
            return only
        operator = keyword.title()
        filters: list[dict[str, Any]] = []
        subs: list[dict[str, Any]] = []
        for found in parts:
            if "Name" in found:
                filters.append(found)
            elif found["Operator"] == operator:  # (a and b) and c: the same expression
                filters += found.get("Filters", [])
                subs += found.get("SubExpressions", [])
            else:
                subs.append(found)
        return {"Operator": operator} | ({"Filters": filters} if filters else {}) | (
            {"SubExpressions": subs} if subs else {})

    def _term(self) -> dict[str, Any]:
        token = self._peek()
        if token.text == "(":
            self.at += 1
            inner = self._joined("or", self._and_expression)
            self._expect(")", "Expected ')' to close the '(' ")
            return inner
        return self._comparison()

    def _comparison(self) -> dict[str, Any]:
        name = self._next()
        if name.kind != "word" or name.text.lower() in _KEYWORDS:
            raise self._error("Expected a property name, such as TrainingJobStatus or Metrics.validation:accuracy",
                              name)
        token = self._next()
        if token.kind == "operator":
            return {"Name": name.text, "Operator": _OPERATORS[token.text], "Value": self._value()}
        if token.is_keyword("contains"):
            return {"Name": name.text, "Operator": "Contains", "Value": self._value()}
        if token.is_keyword("in"):
            return {"Name": name.text, "Operator": "In", "Value": ",".join(self._values())}
        if token.is_keyword("exists"):
            return {"Name": name.text, "Operator": "Exists"}
        if token.is_keyword("not") and self._peek().is_keyword("exists"):
            self.at += 1
            return {"Name": name.text, "Operator": "NotExists"}
        raise self._error(f"Expected an operator after {name.text}: = != > >= < <= contains in exists "
                          "'not exists'", token)

    def _values(self) -> list[str]:
        self._expect("(", "Expected '(' to open the list of values of 'in'")
        found = [self._value()]
        while self._peek().text == ",":
            self.at += 1
            found.append(self._value())
        self._expect(")", "Expected ',' or ')' in the list of values of 'in'")
        return found

    def _value(self) -> str:
        token = self._next()
        if token.kind not in ("word", "quoted") or (token.kind == "word" and token.text.lower() in ("and", "or")):
            raise self._error("Expected a value (quote it if it has spaces, parentheses, commas or operators)",
                              token)
        return token.value

    def _expect(self, text: str, message: str) -> None:
        token = self._next()
        if token.kind != "punctuation" or token.text != text:
            raise self._error(message, token)

    def _peek(self) -> Token:
        return self.tokens[self.at]

    def _next(self) -> Token:
        token = self.tokens[self.at]
        self.at += token.kind != "end"
        return token

    def _error(self, message: str, token: Token | None = None) -> QueryError:
        token = token or self._peek()
        found = "the end of the query" if token.kind == "end" else repr(token.text)
        return QueryError(f"{message}; found {found}", self.query, token.position)


def search_expression(query: str) -> dict[str, Any]:
    """The SearchExpression a query stands for; QueryError if it does not parse."""
    return _Parser(query).parse()


_NAMES = {"TrainingJob": "TrainingJobName", "Endpoint": "EndpointName",
          "HyperParameterTuningJob": "HyperParameterTuningJobName", "ModelPackage": "ModelPackageArn",
          "ModelPackageGroup": "ModelPackageGroupName", "Experiment": "ExperimentName", "Trial": "TrialName",
          "TrialComponent": "TrialComponentName"}
_STATUSES = {"TrainingJob": "TrainingJobStatus", "Endpoint": "EndpointStatus",
             "HyperParameterTuningJob": "HyperParameterTuningJobStatus", "ModelPackage": "ModelPackageStatus",
             "ModelPackageGroup": "ModelPackageGroupStatus"}


def search(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="What to find, e.g. 'TrainingJobStatus = Completed and "
                                          "Metrics.validation:accuracy > 0.9'."),
    resource: str = typer.Option("TrainingJob", "--resource", help="What to search: TrainingJob, Endpoint, Model, "
                                 "HyperParameterTuningJob, ModelPackage, ModelPackageGroup, Experiment, "
                                 "ExperimentTrial or ExperimentTrialComponent."),
    sort: str | None = typer.Option(None, "--sort", metavar="PROPERTY",
                                    help="Sort by this property (default: LastModifiedTime)."),
    ascending: bool = typer.Option(False, "--ascending", help="Smallest first (default: largest, newest first)."),
    most: int = typer.Option(10, "--max", min=1, help="At most this many results."),
) -> None:
    """Find SageMaker resources by their properties (statuses, hyperparameters, metrics, tags, times). A comparison
    is PROPERTY OP VALUE (OP: = != > >= < <= contains), PROPERTY in (V1, V2), PROPERTY exists or PROPERTY not
    exists; join comparisons with 'and' (tighter) and 'or', group them with parentheses, quote values with spaces."""
    try:
        expression = search_expression(query)
    except QueryError as error:
        raise typer.BadParameter(error.pointed(), param_hint="QUERY") from None
    params: dict[str, Any] = {"Resource": resource, "SearchExpression": expression,
                              "SortOrder": "Ascending" if ascending else "Descending"}
    if sort is not None:
        params["SortBy"] = sort
    pages = aws_client(ctx, "sagemaker").get_paginator("search").paginate(
        **params, PaginationConfig={"MaxItems": most, "PageSize": min(most, 100)})
    records = [record for page in pages for record in page["Results"]]
    out = output(ctx)
    out.table(["Name", "Status", "Sort key", "Created"],
              records if out.as_json else [_row(record, sort) for record in records])


def _row(record: dict[str, Any], sort: str | None) -> dict[str, str]:
    member, found = next(iter(record.items()))
    found = found.get("Model", found) if member == "Model" else found
    name = found.get(_NAMES.get(member, "ModelName"), "")
    status = found.get(_STATUSES.get(member, ""), "")
    return {"Name": escape(str(name)), "Status": styled(status) if status else "",
            "Sort key": escape(str(_property(found, sort or "LastModifiedTime"))),
            "Created": local_time(found.get("CreationTime"))}


def _property(record: dict[str, Any], path: str) -> Any:
    """The value at `path` in a record, for the Sort key column ("Metrics.<name>": its final metric)."""
    if path.startswith("Metrics."):
        return next((m["Value"] for m in record.get("FinalMetricDataList", []) if m["MetricName"] == path[8:]), "")
    if path.startswith("Tags."):
        return next((tag["Value"] for tag in record.get("Tags", []) if tag["Key"] == path[5:]), "")
    value: Any = record
    for segment in path.split("."):
        value = value.get(segment, "") if isinstance(value, dict) else ""
    return local_time(value) if hasattr(value, "tzinfo") else value
