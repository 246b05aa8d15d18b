"""modelbay's own API, for its CLI, SDK and console: what the AWS APIs have no member for.

Served under `/_modelbay/`, a path no S3 request can mean (bucket names hold no underscore).
`GET /_modelbay/v1/endpoints/<name>/instances?region=<region>` answers where each serving instance of an
endpoint runs (variant, zone) and how it is doing (requests in flight, in rotation or not); without
`region`, of the home region's endpoint (as with the next route).
`GET /_modelbay/v1/endpoints/<name>/async-backlog?region=<region>` answers how many InvokeEndpointAsync requests of the
endpoint are queued or under way, in all and per serving instance (CloudWatch's ApproximateBacklogSize
and ApproximateBacklogSizePerInstance, which autoscaling will read).
`GET /_modelbay/v1/endpoints/<name>/serverless-usage?region=<region>` answers each serverless variant's memory size
and the GB-seconds its invocations have used (memory size × their duration, as SageMaker bills serverless inference).
`GET /_modelbay/v1/audit?since=<ISO 8601>&operation=<name>&region=<region>&failed=true&limit=<n>` answers
the audit trail's recent calls (of every region), newest first (`modelbay audit`).
`POST /_modelbay/v1/training-jobs/<name>/interrupt?region=<region>` takes spot capacity back from an InProgress
managed spot training job now (controllers/training_jobs/spot.py): its instances are stopped once they run, it waits
Interrupted for capacity, then resumes from its checkpoints (`modelbay jobs interrupt`).
The A/B verdict routes (ground truth, `ab-report`) are api/ab_testing.py's; the events route (a long poll of
what happened to resources, as EventBridge shapes it: `modelbay events`) is api/events.py's; the cluster view's
(the nodes and the leader: `modelbay cluster`) is api/cluster.py's.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelbay.api.ab_testing import ab_testing_routes
from modelbay.api.cluster import cluster_routes
from modelbay.api.edge_telemetry import edge_telemetry_routes
from modelbay.api.events import event_routes
from modelbay.platform import Platform, Regions
from modelbay.security.audit import AuditEvent, AuditTrail
from modelbay.security.edge_signing import EdgeSigner
from modelbay.store.metadata import StatusConflict

PREFIX = "/_modelbay/v1"
MAX_AUDIT_EVENTS = 1000
_FLUSH_TIMEOUT_S = 2.0  # a call answered just before is shown, unless the database is failing


class BadQuery(ValueError):
    """A query parameter the route cannot read; the message says which."""


def native_routes(regions: Regions, audit: AuditTrail) -> list[Route]:
    def region_of(request: Request) -> Platform | None:
        """The platform of the request's `region` (the home region's without one); None if it is not open."""
        region = request.query_params.get("region")
        return regions.home if region is None else regions.find(region)

    async def endpoint_instances(request: Request) -> JSONResponse:
        name, platform = request.path_params["name"], region_of(request)
        placement = None if platform is None else platform.router.placement(name)
        if placement is None:
            return JSONResponse({"message": f"Endpoint {name} is not in service."}, status_code=404)
        return JSONResponse({"EndpointName": name, "Instances": [dataclasses.asdict(p) for p in placement]})

    def async_backlog(request: Request) -> JSONResponse:  # plain: it reads the database in a worker thread
        name, platform = request.path_params["name"], region_of(request)
        if platform is None or platform.metadata.endpoints.get(name) is None:
            return JSONResponse({"message": f"Endpoint {name} not found."}, status_code=404)
        size = platform.metadata.async_invocations.backlog(name)
        instances = len(platform.router.placement(name) or [])
        return JSONResponse({"EndpointName": name, "ApproximateBacklogSize": size,
                             "ApproximateBacklogSizePerInstance": size / instances if instances else float(size)})

    def serverless_usage(request: Request) -> JSONResponse:  # plain: it reads the database in a worker thread
        name, platform = request.path_params["name"], region_of(request)
        endpoint = None if platform is None else platform.metadata.endpoints.get(name)
        if endpoint is None:
            return JSONResponse({"message": f"Endpoint {name} not found."}, status_code=404)
        configs = {v.name: v.serverless for v in endpoint.spec.variants if v.serverless is not None}
        return JSONResponse({"EndpointName": name, "Variants": [
            {"VariantName": v.name, "MemorySizeInMB": configs[v.name].memory_mb, "GBSeconds": v.gb_seconds}
            for v in endpoint.variants if v.name in configs]})

    def interrupt_training_job(request: Request) -> JSONResponse:  # plain: it writes the database in a worker thread
        name, platform = request.path_params["name"], region_of(request)
        job = None if platform is None else platform.metadata.training_jobs.get(name)
        if platform is None or job is None:
            return JSONResponse({"message": f"Training job {name} not found."}, status_code=404)
        if not job.is_spot:
            return JSONResponse({"message": f"Training job {name} does not use managed spot training."},
                                status_code=400)
        try:
            job = platform.metadata.training_jobs.request_interruption(name)
        except StatusConflict as conflict:
            return JSONResponse({"message": f"Training job {name} is {conflict.status}: only a running job can be "
                                            "interrupted."}, status_code=409)
        return JSONResponse({"TrainingJobName": name, "InterruptAt": job.spot_interrupt_at.isoformat()
                             if job.spot_interrupt_at else None})

    def audit_events(request: Request) -> JSONResponse:  # plain: it reads the database in a worker thread
        try:
            query = _audit_query(request.query_params)
        except BadQuery as error:
            return JSONResponse({"message": str(error)}, status_code=400)
        audit.flush(_FLUSH_TIMEOUT_S)
        events = regions.home.metadata.audit.find(**query)
        return JSONResponse({"Events": [_audit_json(event) for event in events]})

    def audit_verification(request: Request) -> JSONResponse:  # plain: it reads the database and S3 in a thread
        try:  # `from` and `to`, ISO 8601 (the server's local time without a zone), bound the events' times
            since, until = (None if (value := request.query_params.get(name)) is None else
                            datetime.fromisoformat(value).astimezone() for name in ("from", "to"))
        except ValueError as error:
            return JSONResponse({"message": f"Invalid query parameter: {error}"}, status_code=400)
        found = audit.verify(regions.home.objects, since, until, _FLUSH_TIMEOUT_S)
        return JSONResponse({"IsIntact": found.is_intact, "Checked": found.checked,
                             "Findings": [dataclasses.asdict(finding) for finding in found.findings]})

    def edge_packaging_key(request: Request) -> JSONResponse:  # plain: the master key may be read from its file
        """`GET /_modelbay/v1/edge/packaging-key`: the public key edge packages are signed with, as PEM, for edge
        agents to verify packages by (security/edge_signing.py); signed callers only in `iam` mode, as every route."""
        return JSONResponse({"PublicKeyPem": EdgeSigner(regions.home.master_key).public_key_pem()})

    return [Route(f"{PREFIX}/audit/verify", audit_verification, methods=["GET"]),
            Route(f"{PREFIX}/edge/packaging-key", edge_packaging_key, methods=["GET"]),
            Route(f"{PREFIX}/endpoints/{{name}}/instances", endpoint_instances, methods=["GET"]),
            Route(f"{PREFIX}/endpoints/{{name}}/async-backlog", async_backlog, methods=["GET"]),
            Route(f"{PREFIX}/endpoints/{{name}}/serverless-usage", serverless_usage, methods=["GET"]),
            Route(f"{PREFIX}/training-jobs/{{name}}/interrupt", interrupt_training_job, methods=["POST"]),
            Route(f"{PREFIX}/audit", audit_events, methods=["GET"]), *ab_testing_routes(regions, PREFIX),
            *event_routes(regions, PREFIX), *edge_telemetry_routes(regions, PREFIX), *cluster_routes(regions, PREFIX)]


def _audit_query(params: QueryParams) -> dict[str, Any]:
    """AuditRepository.find's arguments from the query string; raise BadQuery."""
    query: dict[str, Any] = {"operation": params.get("operation") or None, "region": params.get("region") or None,
                             "failed": params.get("failed", "false").lower() == "true"}
    try:
        query["limit"] = int(params.get("limit", "100"))
        since = params.get("since")
        query["since"] = None if since is None else datetime.fromisoformat(since)
    except ValueError as error:
        raise BadQuery(f"Invalid query parameter: {error}") from None
    if not 1 <= query["limit"] <= MAX_AUDIT_EVENTS:
        raise BadQuery(f"limit must be between 1 and {MAX_AUDIT_EVENTS}")
    if query["since"] is not None and query["since"].tzinfo is None:
        raise BadQuery("since must name its time zone, e.g. 2026-12-05T13:00:00+00:00")
    return query


def _audit_json(event: AuditEvent) -> dict[str, Any]:
    return {"EventTime": event.event_time.isoformat(), "RequestId": event.request_id, "Principal": event.principal,
            "Service": event.service, "Operation": event.operation, "Resources": list(event.resources),
            "Outcome": event.outcome, "StatusCode": event.status_code, "SourceIp": event.source_ip,
            "ErrorMessage": event.error_message, "Region": event.region}
