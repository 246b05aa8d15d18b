"""The Python SDK: talks to a modelbay server over HTTP, never to its internals."""

from modelbay.sdk.clients import client, resolve_url
from modelbay.sdk.local_server import LocalServer, local_server

__all__ = ["LocalServer", "client", "local_server", "resolve_url"]
