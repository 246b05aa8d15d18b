"""The request every API call is read from: Starlette's, with headers looked up in a dict.

Starlette's Headers finds a header by scanning the raw list and decoding each name it passes, and
answers a missing one by raising and catching KeyError; a call reads a dozen headers (its
credential, its protocol's markers, its bound members), most of them absent. IndexedHeaders
decodes each header once, on the first lookup, and keeps the first value of each name, which is what
Starlette's `get` and `[]` answer; `raw`, `items` and `getlist` still see every header as it came.
A request without a query string gets one shared, empty QueryParams instead of parsing nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request

NO_QUERY = QueryParams("")  # shared: QueryParams cannot be changed


class IndexedHeaders(Headers):
    """Headers whose lookups are a dict's (names in lower case, the first value of each)."""

    _first: dict[str, str] | None = None

    def _index(self) -> dict[str, str]:
        first: dict[str, str] = {}
        for name, value in self._list:
            first.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        self._first = first
        return first

    def __getitem__(self, key: str) -> str:
        return (self._first or self._index())[key.lower()]

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key.lower() in (self._first or self._index())

    def get(self, key: str, default: Any = None) -> Any:
        return (self._first or self._index()).get(key.lower(), default)


class ApiRequest(Request):
    """A Starlette request with IndexedHeaders, and no parsing of an empty query string."""

    @property
    def headers(self) -> Headers:
        if not hasattr(self, "_headers"):
            self._headers = IndexedHeaders(scope=self.scope)
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        if not hasattr(self, "_query_params"):
            query = self.scope["query_string"]
            self._query_params = QueryParams(query) if query else NO_QUERY
        return self._query_params


def api_request(request: Request) -> ApiRequest:
    """The same request as an ApiRequest (made before anything has read it: its body is not yet consumed)."""
    return request if isinstance(request, ApiRequest) else ApiRequest(request.scope, request.receive)
