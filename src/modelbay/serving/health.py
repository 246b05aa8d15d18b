"""Health checks of model servers: `GET /ping`, as SageMaker checks its containers."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

PING_TIMEOUT_S = 2.0  # SageMaker expects /ping to answer within about 2 s


def ping(url: str, timeout_s: float = PING_TIMEOUT_S) -> str | None:
    """None if the model server at `url` answers `GET /ping` with 200 within `timeout_s`, else what went wrong."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    try:
        connection.request("GET", "/ping")
        response = connection.getresponse()
        response.read()
        return None if response.status == 200 else f"GET /ping answered {response.status}"
    except (OSError, http.client.HTTPException) as error:
        return f"GET /ping failed: {type(error).__name__}: {error}"
    finally:
        connection.close()
