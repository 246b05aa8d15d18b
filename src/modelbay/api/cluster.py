"""modelbay's cluster route, beside the other native ones (api/native.py), under the same prefix:

`GET /_modelbay/v1/cluster` answers the cluster view the leading server last published in the home region's store
(store/metadata/leadership.py): `{"leader": {"server": ..., "url": ..., "since": <ISO 8601>, "renewed_at": <ISO
8601>}, "nodes": [{"name", "address", "zone", "alive", "resources", "free", "instances"}, ...]}` (runtime/base.py's
Node), or `{"leader": null, "nodes": []}` before any server has led (`modelbay cluster`). The store, not this
server's runtime, answers: every server of the control plane shows the same view, the one the leader sees.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelbay.platform import Regions
from modelbay.store.metadata.leadership import LeaderRecord


def cluster_routes(regions: Regions, prefix: str) -> list[Route]:
    """The cluster route under `prefix` (native.PREFIX)."""

    def describe_cluster(request: Request) -> JSONResponse:  # plain: it reads the database in a worker thread
        """In `iam` mode, signed calls of principals allowed modelbay:DescribeCluster only (api/authentication.py)."""
        return JSONResponse(cluster_view(regions.home.metadata.leadership.leader()))

    return [Route(f"{prefix}/cluster", describe_cluster, methods=["GET"])]


def cluster_view(record: LeaderRecord | None) -> dict[str, Any]:
    """The route's answer from the leader's record (None: no server has led yet)."""
    if record is None:
        return {"leader": None, "nodes": []}
    leader = {"server": record.server, "url": record.url, "since": record.since.isoformat(),
              "renewed_at": record.renewed_at.isoformat()}
    return {"leader": leader, "nodes": [dict(node) for node in record.nodes]}
