"""The search index: every searchable resource's properties, typed, so that Search filters and sorts in SQL.

A family makes its rows searchable by registering a function that turns a row into the documents
it stands for (usually one; a training job also stands for its trial component):

    @indexes(TrainingJobRow)
    def _training_job(session: Session, row: TrainingJobRow) -> Iterable[SearchDocument]: ...

Whenever a write transaction adds, changes or deletes a row of a registered class, its documents
are written again (or removed) in the same transaction, so the index never lags the store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from modelbay.store.metadata.tables import Base


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

    def register(documents_of: DocumentsOf) -> DocumentsOf:
        _REGISTERED.setdefault(row_class, []).append(documents_of)
        return documents_of

    return register
