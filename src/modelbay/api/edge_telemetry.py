"""modelbay's edge telemetry route, beside the other native ones (api/native.py), under the same prefix:

`GET /_modelbay/v1/edge/telemetry?fleet=<fleet>&device=<device>&region=<region>` answers what the device sent over
MQTT (controllers/edge_telemetry.py), each message once, in seq order:
`{"Telemetry": [{"Seq": 1, "Kind": "heartbeat", "Time": <epoch seconds>, "Body": {...}}, ...]}` (`modelbay edge
telemetry`); empty for a device that sent nothing, or a region never opened. Without fleet or device, a
ValidationException in the AWS error shape.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelbay.platform import Regions


def edge_telemetry_routes(regions: Regions, prefix: str) -> list[Route]:
    """The telemetry route under `prefix` (native.PREFIX)."""

    def edge_telemetry(request: Request) -> JSONResponse:  # plain: it reads the database in a worker thread
        fleet, device = (request.query_params.get(name) for name in ("fleet", "device"))
        if not fleet or not device:
            return JSONResponse({"__type": "ValidationException", "message": "fleet and device are required."},
                                status_code=400, headers={"x-amzn-ErrorType": "ValidationException"})
        region = request.query_params.get("region")
        platform = regions.home if region is None else regions.find(region)
        found = [] if platform is None else platform.metadata.edge_telemetry.list(fleet, device)
        return JSONResponse({"Telemetry": [{"Seq": message.seq, "Kind": message.kind,
                                            "Time": message.time.timestamp(), "Body": message.body}
                                           for message in found]})

    return [Route(f"{prefix}/edge/telemetry", edge_telemetry, methods=["GET"])]
