"""List* answers: the filters a request gives, and one page of summaries with its NextToken."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from modelbay.errors import ValidationError
from modelbay.services.base import present
from modelbay.store.metadata import ListFilter, Page
from modelbay.store.metadata.paging import InvalidToken

T = TypeVar("T")
DEFAULT_MAX_RESULTS = 10
# Edge Manager's List* spell their sort keys in capitals; the repositories' keys for them
_CAPITAL_SORT_KEYS = {"NAME": "Name", "CREATION_TIME": "CreationTime", "LAST_MODIFIED_TIME": "LastModifiedTime",
                      "STATUS": "Status"}


class Lister(Protocol[T]):
    """A repository's list method (see store.metadata.records.list_rows)."""

    def __call__(self, filters: ListFilter, sort_by: Any, ascending: bool, after_token: str | None,
                 limit: int) -> Page[T]: ...


def list_filter(params: dict[str, Any]) -> ListFilter:
    """The filters of a List* request: NameContains, StatusEquals and the time bounds its model has."""
    return ListFilter(
        name_contains=params.get("NameContains"), status=params.get("StatusEquals"),
        created_after=params.get("CreationTimeAfter"), created_before=params.get("CreationTimeBefore"),
        modified_after=params.get("LastModifiedTimeAfter"), modified_before=params.get("LastModifiedTimeBefore"))


def list_page(params: dict[str, Any], lister: Lister[T], key: str, summary: Callable[[T], dict[str, Any]],
              filters: ListFilter | None = None) -> dict[str, Any]:
    """A List* answer: the page `lister` gives for the request's filters, sort (newest first by default) and paging.

    `filters` replaces those read from the request when given.
    """
    with reading_tokens():
        page = lister(filters or list_filter(params), params.get("SortBy", "CreationTime"),
                      params.get("SortOrder", "Descending") == "Ascending", params.get("NextToken") or None,
                      params.get("MaxResults", DEFAULT_MAX_RESULTS))
    return {key: [summary(item) for item in page.items]} | present(NextToken=page.next_token)


@contextmanager
def reading_tokens() -> Iterator[None]:
    """Within it, a NextToken (or Marker) the store cannot read is the ValidationError AWS APIs give for one."""
    try:
        yield
    except InvalidToken as err:
        raise ValidationError("Invalid NextToken: pass the NextToken of the previous page of the same "
                              "listing.") from err


def capital_sort(params: dict[str, Any], offered: Collection[str]) -> dict[str, Any]:
    """`params` with its SortBy in capitals (NAME, CREATION_TIME, ...; CREATION_TIME when absent) as the repository's
    key; ValidationException for a key of the API's model that is not among those `offered`."""
    sort_by = params.get("SortBy", "CREATION_TIME")
    if sort_by not in offered:
        raise ValidationError(f"SortBy {sort_by} is not available in modelbay; use one of {', '.join(offered)}.")
    return params | {"SortBy": _CAPITAL_SORT_KEYS[sort_by]}
