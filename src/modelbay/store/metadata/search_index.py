"""The search index: every searchable resource's properties, typed, so that Search filters and sorts in SQL.

A family makes its rows searchable by registering a function that turns a row into the documents
it stands for (usually one; a training job also stands for its trial component):

    @indexes(TrainingJobRow)
    def _training_job(session: Session, row: TrainingJobRow) -> Iterable[SearchDocument]: ...

Whenever a write transaction adds, changes or deletes a row of a registered class, its documents
are written again (or removed) in the same transaction, so the index never lags the store.

The tables. `search_documents` holds one row per document (its resource, unique ARN, the row it
comes from, its times for the default sort); `search_properties` one row per leaf of its
properties: the path as Search names it ("HyperParameters.max_depth", "InputDataConfig.ChannelName"),
the position of the list element the leaf sits in (so NestedFilters can ask for one element meeting
several filters), and the value, typed: `num_value` for numbers, times (epoch seconds) and texts that
read as numbers (hyperparameters are texts), `text_value` for texts (their first TEXT_LIMIT
characters) and booleans ("true", "false"). Paths are kept once per resource in `search_paths`, so
a leaf costs a small integer and a path id also says which resource it belongs to. The indexes
(path_id, num_value, document_id, element) and (path_id, text_value, document_id, element) make each
filter an index range scan that yields document ids without reading the table; (document_id,
path_id, num_value, text_value, element) makes a document's leaf one lookup. An And is driven by its
most selective filter and tests each other part per document found (or joins it as a set when that
is cheaper); an Or is the UNION of its parts; a sort reads each match's leaf by document id; counts
and pages read matching ids alone (see _Compiler). No query reads JSON. On PostgreSQL, extended
statistics on (path_id, value) tell the planner how common a value is within a path.

Tags are leaves "Tags.<key>" read from the tags table whenever a document is written, and
rewritten when a flush adds, changes or deletes tag rows (TagRepository.delete, a bulk statement,
calls `retag` itself). When the document functions change, INDEX_VERSION goes up: the next
`reindex_if_stale` (run as the store opens, after the migrations, which cannot call today's code)
rebuilds the whole index.

Search's semantics, in store terms: a Condition holds when some leaf at its path meets it;
NotEquals and NotExists hold exactly when Equals and Exists do not (so a document without the
property is not equal to anything); Exists also holds for a path with leaves below it ("InputDataConfig").
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    CompoundSelect,
    Connection,
    Double,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    and_,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from modelbay.store.metadata.database import Database
from modelbay.store.metadata.paging import Page, decode_token, encode_token
from modelbay.store.metadata.tables import Base, BigSerial, TagRow, UtcDateTime

TEXT_LIMIT = 512  # the characters of a text the index keeps (a PostgreSQL index entry must stay small)
INDEX_VERSION = 1  # raise it when a document function changes: stores rebuild their index as they open
_BATCH = 1000  # documents written per group of statements


@dataclass(frozen=True)
class SearchDocument:
    """One resource as Search sees it.

    `resource` is Search's Resource name ("TrainingJob", "ExperimentTrialComponent", ...);
    `properties` holds its members under the names Search's property paths use (Describe's
    names: "TrainingJobStatus", "HyperParameters", "CreationTime", ...) as JSON values, times as
    timezone-aware datetimes. Tags are not among them: the index reads them from the tags table.
    """

    resource: str
    arn: str
    properties: dict[str, Any]


DocumentsOf = Callable[[Session, Any], Iterable[SearchDocument]]
_REGISTERED: dict[type[Base], list[DocumentsOf]] = {}


def indexes(row_class: type[Base]) -> Callable[[DocumentsOf], DocumentsOf]:
    """Register a function giving the documents a row of `row_class` stands for (see the module's docstring)."""

    def register(function: DocumentsOf) -> DocumentsOf:
        _REGISTERED.setdefault(row_class, []).append(function)
        return function

    return register


search_paths = Table(
    "search_paths", Base.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("resource", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Index(None, "resource", "path", unique=True))
search_documents = Table(
    "search_documents", Base.metadata,
    Column("id", BigSerial, primary_key=True, autoincrement=True),
    Column("resource", String(64), nullable=False),
    Column("arn", String(256), nullable=False, unique=True),
    Column("source", String(128), nullable=False),  # "<table>:<primary key>" of the row it stands for
    Column("creation_time", UtcDateTime, nullable=True),
    Column("last_modified_time", UtcDateTime, nullable=True),  # else the creation time: the default sort's key
    # the default sorts, ties by id, read in index order
    Index(None, "source"), Index(None, "resource", "last_modified_time", "id"),
    Index(None, "resource", "creation_time", "id"))
search_properties = Table(
    "search_properties", Base.metadata,
    Column("document_id", BigInteger, nullable=False),
    Column("path_id", Integer, nullable=False),
    Column("element", Integer, nullable=True),  # the position in the first list on the path; None outside lists
    Column("num_value", Double, nullable=True),
    Column("text_value", String(TEXT_LIMIT), nullable=True),
    # every index covers the columns a query reads of a leaf (the element too, which nested filters compare), so no
    # query reads the table; and a document's leaf (a probe, a sort key, a name) is one lookup: with an index on
    # (document_id, path_id) alone, SQLite's planner prefers a covering one on path_id and reads every document's
    Index(None, "path_id", "num_value", "document_id", "element"),
    Index(None, "path_id", "text_value", "document_id", "element"),
    # named by hand: the convention's name would pass PostgreSQL's 63 characters
    # (the element last: before a value, it would keep SQLite from seeking a range of values after the path)
    Index("ix_search_properties_document_id_path_id_values", "document_id", "path_id", "num_value", "text_value",
          "element"))
search_index_state = Table(
    "search_index_state", Base.metadata,
    Column("version", Integer, primary_key=True, autoincrement=False))


# --- documents as rows ---------------------------------------------------------------------------------------

_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def number(text: str) -> float | None:
    """The number a text reads as ("5", "0.1", "1e-3"), or None; what the index and Search's values agree on."""
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class Leaf:
    """One scalar of a document: its path, the position of the list element it sits in, its typed values."""

    path: str
    element: int | None
    num_value: float | None
    text_value: str | None


def leaves(properties: dict[str, Any], tags: Iterable[tuple[str, str]] = ()) -> Iterator[Leaf]:
    """The leaves of a document's properties and its tags ("Tags.<key>"), as the index stores them."""
    yield from _leaves(properties, "", None)
    for key, value in tags:
        yield _leaf(f"Tags.{key}", None, value)


def _leaves(value: Any, path: str, element: int | None) -> Iterator[Leaf]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key), element)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _leaves(item, path, position if element is None else element)
    elif value is not None:
        yield _leaf(path, element, value)


def _leaf(path: str, element: int | None, value: Any) -> Leaf:
    if isinstance(value, bool):
        return Leaf(path, element, None, "true" if value else "false")
    if isinstance(value, int | float):
        return Leaf(path, element, float(value) if math.isfinite(value) else None, None)
    if isinstance(value, datetime):
        return Leaf(path, element, value.timestamp(), None)
    text = str(value)
    return Leaf(path, element, number(text), text[:TEXT_LIMIT])


def _document_time(properties: dict[str, Any], key: str) -> datetime | None:
    """The document's time `key`, at its top or one structure down (a Model record's "Model.CreationTime")."""
    below = (value.get(key) for value in properties.values() if isinstance(value, dict))
    candidates = chain([properties.get(key)], below)
    return next((found for found in candidates if isinstance(found, datetime)), None)


def _source(row: Base) -> str:
    state = inspect(row)
    key = state.identity or state.mapper.primary_key_from_instance(row)
    return f"{state.mapper.persist_selectable.description}:{':'.join(map(str, key))}"


def _remove(connection: Connection, condition: ColumnElement[bool]) -> None:
    """Delete the documents meeting `condition`, with their properties."""
    ids = select(search_documents.c.id).where(condition)
    connection.execute(delete(search_properties).where(search_properties.c.document_id.in_(ids)))
    connection.execute(delete(search_documents).where(condition))


def write(connection: Connection, documents: Sequence[tuple[str, SearchDocument]]) -> None:
    """Insert each (source, document), replacing a document of the same ARN, its tags read from the tags table."""
    for start in range(0, len(documents), _BATCH):
        batch = documents[start:start + _BATCH]
        arns = [document.arn for _, document in batch]
        _remove(connection, search_documents.c.arn.in_(arns))
        rows = connection.execute(insert(search_documents).returning(
            search_documents.c.id, sort_by_parameter_order=True), [_document_row(source, document)
                                                                   for source, document in batch]).all()
        tags = _tags(connection, arns)
        _insert_leaves(connection, [(row.id, document.resource, leaves(document.properties, tags.get(document.arn, ())))
                                    for row, (_, document) in zip(rows, batch, strict=True)])


def _document_row(source: str, document: SearchDocument) -> dict[str, Any]:
    created = _document_time(document.properties, "CreationTime")
    return {"resource": document.resource, "arn": document.arn, "source": source, "creation_time": created,
            "last_modified_time": _document_time(document.properties, "LastModifiedTime") or created}


def _tags(connection: Connection, arns: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    query = (select(TagRow.resource_arn, TagRow.key, TagRow.value).where(TagRow.resource_arn.in_(arns))
             .order_by(TagRow.resource_arn, TagRow.position))
    for arn, key, value in connection.execute(query):
        found.setdefault(arn, []).append((key, value))
    return found


def _insert_leaves(connection: Connection, documents: Sequence[tuple[int, str, Iterable[Leaf]]]) -> None:
    """Insert the leaves of each (document id, resource, leaves)."""
    listed = [(document_id, resource, list(found)) for document_id, resource, found in documents]
    path_ids = _path_ids(connection, {(resource, leaf.path) for _, resource, found in listed for leaf in found})
    rows = [{"document_id": document_id, "path_id": path_ids[resource, leaf.path], "element": leaf.element,
             "num_value": leaf.num_value, "text_value": leaf.text_value}
            for document_id, resource, found in listed for leaf in found]
    if rows:
        connection.execute(insert(search_properties), rows)


def _path_ids(connection: Connection, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The ids of these (resource, path) pairs, adding those the paths table lacks (concurrent writers may add
    the same one: the loser's insert does nothing)."""
    found = _known_paths(connection, wanted)
    missing = wanted - found.keys()
    if missing:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        connection.execute(dialect.insert(search_paths).on_conflict_do_nothing(),
                           [{"resource": resource, "path": path} for resource, path in sorted(missing)])
        found |= _known_paths(connection, missing)
    return found


def _known_paths(connection: Connection, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    for resource in {resource for resource, _ in wanted}:
        paths = sorted(path for owner, path in wanted if owner == resource)
        for start in range(0, len(paths), _BATCH):
            query = select(search_paths.c.id, search_paths.c.path).where(
                search_paths.c.resource == resource, search_paths.c.path.in_(paths[start:start + _BATCH]))
            found |= {(resource, path): path_id for path_id, path in connection.execute(query)}
    return found


def retag(connection: Connection, arns: Iterable[str]) -> None:
    """Rewrite the "Tags.<key>" leaves of the documents with these ARNs from the tags table."""
    wanted = sorted(set(arns))
    if not wanted:
        return
    documents = connection.execute(select(search_documents.c.id, search_documents.c.resource, search_documents.c.arn)
                                   .where(search_documents.c.arn.in_(wanted))).all()
    if not documents:
        return
    tag_paths = select(search_paths.c.id).where(search_paths.c.path.startswith("Tags.", autoescape=True))
    connection.execute(delete(search_properties).where(
        search_properties.c.document_id.in_([row.id for row in documents]), search_properties.c.path_id.in_(tag_paths)))
    tags = _tags(connection, wanted)
    _insert_leaves(connection, [(row.id, row.resource, leaves({}, tags.get(row.arn, ()))) for row in documents])


def documents_of(session: Session, row: Base) -> list[SearchDocument]:
    """The documents the registered functions give for `row` (none if its class is not registered)."""
    return [document for row_class, functions in _REGISTERED.items() if isinstance(row, row_class)
            for function in functions for document in function(session, row)]


def _is_registered(row: object) -> bool:
    return any(isinstance(row, row_class) for row_class in _REGISTERED)


@event.listens_for(Session, "after_flush")
def _index_flushed(session: Session, _flush_context: Any) -> None:
    """Rewrite the documents of the registered rows a flush wrote, remove those of the rows it deleted, and
    rewrite the tags of the ARNs whose tag rows it changed: in the flush's own transaction."""
    deleted = set(session.deleted)
    changed = [row for row in chain(session.new, session.dirty) if _is_registered(row) and row not in deleted]
    removed = [row for row in deleted if _is_registered(row)]
    tagged = {row.resource_arn for row in chain(session.new, session.dirty, deleted) if isinstance(row, TagRow)}
    if not (changed or removed or tagged):
        return
    with session.no_autoflush:
        documents = [(_source(row), document) for row in changed for document in documents_of(session, row)]
    connection = session.connection()
    sources = sorted({_source(row) for row in chain(removed, changed)})
    # a deleted row's ARN too: another row's write may have rewritten its document since (a job's write, its trial
    # component's document); read from what is loaded, as a deleted row cannot be loaded again
    arns = sorted({arn for row in removed if isinstance(arn := inspect(row).dict.get("arn"), str)})
    for start in range(0, max(len(sources), len(arns)), _BATCH):
        _remove(connection, search_documents.c.source.in_(sources[start:start + _BATCH])
                | search_documents.c.arn.in_(arns[start:start + _BATCH]))
    write(connection, documents)
    retag(connection, tagged - {document.arn for _, document in documents})


def reindex(session: Session) -> int:
    """Rebuild the whole index from the rows of every registered class; return the number of documents."""
    connection = session.connection()
    connection.execute(delete(search_properties))
    connection.execute(delete(search_documents))
    count = 0
    for row_class in _REGISTERED:
        rows = session.scalars(select(row_class).execution_options(yield_per=_BATCH))
        for batch in rows.partitions():
            documents = [(_source(row), document) for row in batch for document in documents_of(session, row)]
            write(connection, documents)
            count += len(documents)
    return count


def reindex_if_stale(db: Database) -> None:
    """Rebuild the index unless it was built by this INDEX_VERSION (a new store's is empty, so that is quick).

    Processes opening the store at once rebuild it once: the others wait for the lock, then find it done.
    """
    with db.read() as session:
        if session.scalar(select(search_index_state.c.version)) == INDEX_VERSION:
            return
    with db.write(lock="search index") as session:
        if session.scalar(select(search_index_state.c.version)) == INDEX_VERSION:
            return
        reindex(session)
        session.execute(delete(search_index_state))
        session.execute(insert(search_index_state).values(version=INDEX_VERSION))


# --- queries -------------------------------------------------------------------------------------------------

Scalar = float | str  # a number (times as epoch seconds) or a text
Operator = Literal["Equals", "NotEquals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo",
                   "Contains", "Exists", "NotExists", "In"]
_NEGATIONS: dict[str, Operator] = {"NotEquals": "Equals", "NotExists": "Exists"}


@dataclass(frozen=True)
class Condition:
    """A Filter, checked: `value` is a float to compare numbers (num_value), a str to compare texts, a tuple of
    texts for In, None for Exists and NotExists."""

    path: str
    operator: Operator
    value: Scalar | tuple[str, ...] | None = None


@dataclass(frozen=True)
class Nested:
    """NestedFilters: one element of the list at `path` meets every condition (each naming a path below it)."""

    path: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Expression:
    """A SearchExpression: its Filters, NestedFilters and SubExpressions joined by And or Or."""

    operator: Literal["And", "Or"]
    parts: tuple[Condition | Nested | Expression, ...]


@dataclass(frozen=True)
class Sort:
    """The order of results: by a property's numbers, its texts, or ("mixed": texts that may read as numbers)
    numbers first then texts; documents without the property come last either way, ties by document id (the order
    documents were last written in)."""

    path: str = "LastModifiedTime"
    kind: Literal["number", "text", "mixed"] = "number"
    ascending: bool = False


@dataclass(frozen=True)
class Query:
    """What to search: documents of `resource` meeting `expression` (every one when None), in `sort` order.
    Each hit carries the text of its `name_path` property (the name Describe takes)."""

    resource: str
    expression: Expression | None
    sort: Sort
    name_path: str


@dataclass(frozen=True)
class Hit:
    arn: str
    name: str | None


@dataclass(frozen=True)
class SearchPage(Page[Hit]):
    total: int = 0  # how many documents match in all


class SearchIndex:
    """Search over the index (see the module's docstring for the semantics)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def search(self, query: Query, after_token: str | None = None, limit: int = 10) -> SearchPage:
        """Up to `limit` hits after the page `after_token` ended, and the count of all matches.

        Raises InvalidToken for a token no earlier page of the same query gave.
        """
        scope = "search " + hashlib.blake2b(repr(query).encode(), digest_size=12).hexdigest()
        offset = 0 if after_token is None else decode_token(scope, after_token)
        with self._db.read() as session:
            if session.get_bind().dialect.name == "postgresql":  # short queries: compiling them or starting
                session.execute(text("SET LOCAL jit = off"))      # workers for them costs more than it saves
                session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            compiler = _Compiler(session, query.resource)
            total: int | None
            if query.expression is None:  # every document: read in the order of its index, when the sort has one
                found: Any = search_documents.c.id
                chosen = select(found).where(search_documents.c.resource == query.resource)
                total = _count(session, chosen)
            else:  # the matching ids alone, each one's sort key read by id: no planner scans the documents; and
                # counted as the page is read (a window over every match), so that the expression runs once
                matching = _flat(compiler.expression(query.expression)).subquery()
                found = select(matching.c.document_id).distinct().subquery().c.document_id
                chosen, total = select(found, func.count().over()), None
            page = session.execute(chosen.order_by(*compiler.order(query.sort, found)).offset(offset)
                                   .limit(limit + 1)).all()
            if total is None:  # past the last page, no row carries the count
                total = page[0][1] if page else _count(session, chosen)
            ids = [row[0] for row in page]
            hits = _hits(session, compiler, query.name_path, ids[:limit])
        next_token = encode_token(scope, offset + limit) if len(ids) > limit else None
        return SearchPage(hits, next_token, total)


def _count(session: Session, chosen: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(chosen.subquery())) or 0


def _hits(session: Session, compiler: _Compiler, name_path: str, ids: list[int]) -> list[Hit]:
    """The documents `ids` as hits, in that order."""
    name = compiler.leaf_value(name_path, search_properties.c.text_value, search_documents.c.id)
    rows = session.execute(select(search_documents.c.id, search_documents.c.arn, name.label("name"))
                           .where(search_documents.c.id.in_(ids)))
    found = {row.id: Hit(row.arn, row.name) for row in rows}
    return [found[document_id] for document_id in ids]


IdSet = Select[Any] | CompoundSelect[Any]
Part = Condition | Nested | Expression
_ESTIMATE_CAP = 10_000  # the matches counted to pick the most selective condition of an And
_PROBES_PER_ROW = 10  # rows of an index range scan that cost about as much as one probe of the index


class _Compiler:
    """A Query in SQL: each part a set of document ids (a SELECT of `document_id`), or a test of one document.

    An And is driven by its most selective part: a condition's index range scan, or a nested filter's (their
    matches counted up to _ESTIMATE_CAP to choose). Each other part is then tested per document found, by a probe
    through the (document_id, path_id, ...) index (a scalar subquery, which no planner turns into a join): a
    negation by the absence of its positive's leaf, a nested filter by an element, an Or by any of its parts'
    probes. A condition matching fewer than _PROBES_PER_ROW times as many documents as the driver is joined as a
    set instead (IN), which the planner may hash: probing costs about that many rows of an index range scan.
    Without a part to drive, an And is driven by another part's set (or by every document, for negations alone);
    an Or's set is the UNION of its parts' sets.
    """

    def __init__(self, session: Session, resource: str) -> None:
        self._session, self._resource = session, resource
        self._paths: dict[tuple[str, bool], list[int]] = {}
        self._estimates: dict[Condition, int] = {}

    def all(self) -> Select[Any]:
        return select(search_documents.c.id.label("document_id")).where(search_documents.c.resource == self._resource)

    def expression(self, expression: Expression) -> IdSet:
        if expression.operator == "Or":
            return _combine(union, [self._set(part) for part in expression.parts])
        return self._conjunction(expression.parts)

    def _set(self, part: Part) -> IdSet:
        if isinstance(part, Expression):
            return self.expression(part)
        if isinstance(part, Nested):
            return self._nested(part)
        if part.operator in _NEGATIONS:
            return self._conjunction((part,))
        return select(search_properties.c.document_id).where(*self._test(search_properties, part))

    def _conjunction(self, parts: Sequence[Part]) -> Select[Any]:
        candidates = [part for part in parts if _positives(part)]
        driver = min(candidates, key=self._estimate) if len(candidates) > 1 else next(iter(candidates), None)
        driver = driver or next((part for part in parts if not _is_negation(part)), None)
        query: Select[Any]
        if isinstance(driver, Condition):
            driving = search_properties.alias("driver")
            query = select(driving.c.document_id).where(*self._test(driving, driver))
        else:
            query = self.all() if driver is None else select(_flat(self._set(driver)).subquery().c.document_id)
        most = _PROBES_PER_ROW * self._estimate(driver) if candidates and driver is not None else 0
        joined = [part for part in candidates if part is not driver and self._estimate(part) < most]
        probed = [part for part in parts if part is not driver and not any(part is found for found in joined)]
        query = query.where(*(query.selected_columns[0].in_(self._set(part)) for part in joined))
        if not probed:
            return query
        # probed after the joins: a DISTINCT subquery is not merged into its query, nor a test with a subquery
        # pushed into it, so PostgreSQL probes only the documents the joins left (once each)
        driven = query.distinct().subquery().c.document_id
        return select(driven).where(*(self._holds(part, driven) for part in probed))

    def _holds(self, part: Part, document_id: Any) -> ColumnElement[bool]:
        """Whether the document `document_id` names meets `part`."""
        if isinstance(part, Condition):
            return self._probe(part, document_id)
        if isinstance(part, Nested):
            nested = self._nested(part)
            return nested.where(nested.selected_columns[0] == document_id).limit(1).scalar_subquery().is_not(None)
        tests = [self._holds(inner, document_id) for inner in part.parts]
        return and_(*tests) if part.operator == "And" else or_(*tests)

    def _estimate(self, part: Part) -> int:
        """How many leaves meet a positive condition, counted up to _ESTIMATE_CAP; for a nested filter, its most
        selective condition's."""
        if isinstance(part, Nested):
            return min(self._estimate(condition) for condition in _positives(part))
        assert isinstance(part, Condition)
        if part not in self._estimates:
            capped = select(search_properties.c.document_id).where(*self._test(search_properties, part))
            self._estimates[part] = self._session.scalar(
                select(func.count()).select_from(capped.limit(_ESTIMATE_CAP).subquery())) or 0
        return self._estimates[part]

    def _probe(self, condition: Condition, document_id: Any, element: Any = None) -> ColumnElement[bool]:
        """Whether the document (and list element, if given) has a leaf meeting `condition`: for a negation,
        whether it has none meeting its positive."""
        negated = condition.operator in _NEGATIONS
        if negated:
            condition = Condition(condition.path, _NEGATIONS[condition.operator], condition.value)
        inner = search_properties.alias()
        same = [inner.c.document_id == document_id] + ([] if element is None else [inner.c.element == element])
        found = select(literal(1)).where(*same, *self._test(inner, condition)).limit(1).scalar_subquery()
        return found.is_(None) if negated else found.is_not(None)

    def _nested(self, nested: Nested) -> Select[Any]:
        """The documents with an element of the list meeting every condition: the most selective positive
        condition's leaves (else the list's leaves) drive, the others are probed on the same document and element."""
        positives = _positives(nested)
        driver = min(positives, key=self._estimate) if len(positives) > 1 else next(iter(positives), None)
        outer = search_properties.alias("element")
        tests = (self._test(outer, driver) if driver is not None else
                 [_among(outer.c.path_id, self._path_ids(nested.path, below=True))])
        tests += [self._probe(condition, outer.c.document_id, outer.c.element)
                  for condition in nested.conditions if condition is not driver]
        return select(outer.c.document_id).where(outer.c.element.is_not(None), *tests)

    def _test(self, table: Any, condition: Condition) -> list[ColumnElement[bool]]:
        """The tests a row of `table` (search_properties or an alias) passes when it is a leaf meeting `condition`
        (a positive one: Exists, Equals, a comparison, Contains or In)."""
        path_ids = self._path_ids(condition.path, below=condition.operator == "Exists")
        tests: list[ColumnElement[bool]] = [_among(table.c.path_id, path_ids)]
        value = condition.value
        if condition.operator == "Exists":
            return tests
        if condition.operator == "In":
            assert isinstance(value, tuple)
            return [*tests, table.c.text_value.in_([item[:TEXT_LIMIT] for item in value])]
        if condition.operator == "Contains":
            assert isinstance(value, str)
            return [*tests, table.c.text_value.icontains(value, autoescape=True)]
        assert isinstance(value, float | str)
        column = table.c.num_value if isinstance(value, float) else table.c.text_value
        compared = value if isinstance(value, float) else value[:TEXT_LIMIT]
        return [*tests, _COMPARISONS[condition.operator](column, compared)]

    def _path_ids(self, path: str, *, below: bool) -> list[int]:
        """The ids of `path` in this resource and, if `below`, of the paths under it."""
        if (path, below) not in self._paths:
            named = search_paths.c.path == path
            if below:
                named = named | search_paths.c.path.startswith(f"{path}.", autoescape=True)
            self._paths[path, below] = list(self._session.scalars(
                select(search_paths.c.id).where(search_paths.c.resource == self._resource, named)))
        return self._paths[path, below]

    def leaf_value(self, path: str, column: Any, document_id: Any, ascending: bool = True) -> Any:
        """A document's least (greatest, if not `ascending`) value in `column` at `path`, None if it has none."""
        pick = func.min if ascending else func.max
        # GROUP BY keeps SQLite from answering min() off the (path_id, value) index, every document's leaf read
        return (select(pick(column)).where(search_properties.c.document_id == document_id,
                                           _among(search_properties.c.path_id, self._path_ids(path, below=False)))
                .group_by(search_properties.c.document_id).scalar_subquery())

    def order(self, sort: Sort, document_id: Any) -> list[Any]:
        """ORDER BY for the documents `document_id` names: a time of the documents table (every document has a
        creation time; in its index's order when `document_id` is that table's) or the leaves' values (documents
        without the property last); ties by id."""
        def direction(key: Any) -> Any:
            return key.asc() if sort.ascending else key.desc()

        keys: list[Any]
        if sort.path in ("LastModifiedTime", "CreationTime"):
            column = search_documents.c.last_modified_time if sort.path == "LastModifiedTime" else \
                search_documents.c.creation_time
            if document_id is search_documents.c.id:
                return [direction(column), direction(document_id)]
            keys = [select(column).where(search_documents.c.id == document_id).scalar_subquery()]
        else:
            columns = {"number": [search_properties.c.num_value], "text": [search_properties.c.text_value],
                       "mixed": [search_properties.c.num_value, search_properties.c.text_value]}[sort.kind]
            keys = [self.leaf_value(sort.path, column, document_id, sort.ascending) for column in columns]
        return [*(direction(key).nulls_last() for key in keys), direction(document_id)]


def _among(column: Any, path_ids: list[int]) -> ColumnElement[bool]:
    """`column` is one of `path_ids` (an equality for one: the planners then range-scan the value after it)."""
    test: ColumnElement[bool] = column == path_ids[0] if len(path_ids) == 1 else column.in_(path_ids)
    return test


_COMPARISONS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "Equals": lambda column, value: column == value, "GreaterThan": lambda column, value: column > value,
    "GreaterThanOrEqualTo": lambda column, value: column >= value, "LessThan": lambda column, value: column < value,
    "LessThanOrEqualTo": lambda column, value: column <= value}


def _is_negation(part: Part) -> bool:
    return isinstance(part, Condition) and part.operator in _NEGATIONS


def _positives(part: Part) -> list[Condition]:
    """The conditions whose index range scans could drive the part: itself, if it is a positive condition; a
    nested filter's positive conditions; none for a negation or an expression."""
    if isinstance(part, Condition):
        return [] if part.operator in _NEGATIONS else [part]
    if isinstance(part, Nested):
        return [condition for condition in part.conditions if condition.operator not in _NEGATIONS]
    return []


def _flat(ids: IdSet) -> Select[Any]:
    """A set usable inside another compound SELECT (SQLite does not take a compound one there directly)."""
    return select(ids.subquery().c.document_id) if isinstance(ids, CompoundSelect) else ids


def _combine(combine: Callable[..., CompoundSelect[Any]], sets: Sequence[IdSet]) -> IdSet:
    return sets[0] if len(sets) == 1 else combine(*(_flat(found) for found in sets))

