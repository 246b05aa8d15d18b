"""Health checks of model servers: `GET /ping`, as SageMaker checks its containers."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

PING_TIMEOUT_S = 2.0  # SageMaker expects /ping to answer within about 2 s


def ping(url: str, timeout_s: float = PING_TIMEOUT_S) -> bool:
    """Whether the model server at `url` answers `GET /ping` with 200 within `timeout_s`."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        connection.request("GET", "/ping")
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
