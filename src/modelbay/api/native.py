"""modelbay's own read-only API, for its CLI and console: what the AWS APIs have no member for.

Served under `/_modelbay/`, a path no S3 request can mean (bucket names hold no underscore).
`GET /_modelbay/v1/endpoints/<name>/instances` answers where each serving instance of an
endpoint runs (variant, zone) and how it is doing (requests in flight, in rotation or not).
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelbay.platform import Platform

PREFIX = "/_modelbay/v1"


def native_routes(platform: Platform) -> list[Route]:
    async def endpoint_instances(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        placement = platform.router.placement(name)
        if placement is None:
            return JSONResponse({"message": f"Endpoint {name} is not in service."}, status_code=404)
        return JSONResponse({"EndpointName": name, "Instances": [dataclasses.asdict(p) for p in placement]})

    return [Route(f"{PREFIX}/endpoints/{{name}}/instances", endpoint_instances, methods=["GET"])]
