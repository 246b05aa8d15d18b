"""The ASGI application: every API on one port, one pipeline for every call."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager
from typing import Any, cast

import botocore.session
from botocore.model import ServiceModel
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from modelbay.api.authentication import guarded
from modelbay.api.cbor_protocol import CborCodec
from modelbay.api.codec_selector import CodecSelector
from modelbay.api.expect_continue import CloseWhenBodyHeldBack, expects_continue
from modelbay.api.invocation_lane import InvocationLane
from modelbay.api.json_protocol import JsonCodec
from modelbay.api.native import PREFIX as NATIVE_PREFIX
from modelbay.api.native import native_routes
from modelbay.api.pipeline import Pipeline
from modelbay.api.protocol import Codec
from modelbay.api.query_protocol import QueryCodec
from modelbay.api.registry import registry_routes
from modelbay.api.requests import ApiRequest
from modelbay.api.rest_json_protocol import RestJsonCodec
from modelbay.api.rest_xml_protocol import RestXmlCodec
from modelbay.api.spellings import SPELLINGS
from modelbay.config import AUTH_IAM, Settings
from modelbay.monitoring import prometheus, shared_totals
from modelbay.platform import Platform, Regions
from modelbay.security.audit import AuditTrail
from modelbay.security.authentication import Authenticator
from modelbay.security.authorization import Authorizer
from modelbay.security.principal import Principal
from modelbay.security.root_key import ensure_root_key
from modelbay.services.apis import served_operations
from modelbay.services.base import Context
from modelbay.services.iam.roles import ensure_default_role

_CODECS: dict[str, type[Codec]] = {
    "smithy-rpc-v2-cbor": CborCodec,
    "json": JsonCodec,
    "query": QueryCodec,
    "rest-json": RestJsonCodec,
    "rest-xml": RestXmlCodec,
}
# sagemaker-runtime's paths: InvokeEndpoint, InvokeEndpointWithResponseStream and InvokeEndpointAsync
_DATA_PLANE = re.compile(r"/endpoints/[^/]+/(?:invocations|invocations-response-stream|async-invocations)")
_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


Background = Callable[[Platform], AbstractAsyncContextManager[None]]


def build_app(settings: Settings, virtual_hosts: Collection[str] = (),
              background: Background = lambda _: contextlib.nullcontext()) -> ApiApp:
    """Open the stores and wire the APIs; `virtual_hosts` are host names under which S3 buckets
    may be addressed as `<bucket>.<host>` (besides `localhost`); `background` is what runs while
    the app serves (the controllers), entered at start-up and left at shutdown, before the stores close.
    In `iam` mode (Settings.auth_mode) the account's root key is made on the first start (root_key.py)."""
    mode = settings.auth_mode
    regions = Regions(settings)
    operations = served_operations()
    codecs = [codec for name in operations for codec in make_codecs(name, settings, virtual_hosts)]
    audit = AuditTrail(regions.home.metadata)
    root_key = ensure_root_key(settings.root_key_file) if mode == AUTH_IAM else None
    ensure_default_role(Context(regions.home, "start-up", settings.region, Principal(None, settings.account_id)))
    authenticator, authorizer = Authenticator(mode, regions.home, root_key), Authorizer(regions.home, mode)
    pipeline = Pipeline(regions, CodecSelector(codecs), operations, authenticator, authorizer, audit)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as running:
            await _run_in_every_region(regions, background, running)
            yield
            regions.on_open = lambda _: None
        audit.close()
        regions.close()

    own = [*native_routes(regions, audit), *registry_routes(regions)]  # modelbay's own API (/_modelbay/) and /v2/
    routes = [*(guarded(route, authenticator, authorizer, regions.home) if route.path.startswith(NATIVE_PREFIX)
                else route for route in own),
              _metrics_route(regions, pipeline.handle), _every_path(pipeline.handle)]
    runtime = next(codec for codec in codecs if codec.service.service_name == "sagemaker-runtime")
    app = ApiApp(pipeline.handle, InvocationLane(pipeline, cast(RestJsonCodec, runtime)), routes=routes,
                 lifespan=lifespan, middleware=[Middleware(CloseWhenBodyHeldBack)])
    app.state.regions = regions
    app.state.platform = regions.home
    app.state.audit = audit
    app.state.auth_mode = mode
    return app


class ApiApp(Starlette):
    """The app, with a lane for the data plane: a request to a model (`POST /endpoints/<name>/invocations` and its
    streamed and asynchronous siblings) goes to the pipeline at once, past Starlette's middleware and router, whose
    layers cost an invocation more than its own work (each await of the call resumes through every one). The
    pipeline still reads the request as any other: the path only chooses the lane. A request whose body the client
    holds back (`Expect: 100-continue`) takes the usual way, through CloseWhenBodyHeldBack. `invocations` answers
    the invocations the server's front door reads itself (front_door.py), before any of this."""

    def __init__(self, lane: Callable[[Request], Awaitable[Response]], invocations: InvocationLane,
                 **options: Any) -> None:
        super().__init__(**options)
        self.lane = lane
        self.invocations = invocations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST" and _DATA_PLANE.fullmatch(scope["path"])
                and not scope["query_string"] and not expects_continue(scope["headers"])):
            scope["app"] = self
            response = await self.lane(ApiRequest(scope, receive))
            await response(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


async def _run_in_every_region(regions: Regions, background: Background, running: contextlib.AsyncExitStack) -> None:
    """Enter `background` for each open region now, and for each region opened later (from a worker thread,
    which waits until it runs), until `running` is left."""
    loop = asyncio.get_running_loop()

    async def start(platform: Platform) -> None:
        await running.enter_async_context(background(platform))

    for platform in regions.opened():
        await start(platform)
    regions.on_open = lambda platform: asyncio.run_coroutine_threadsafe(start(platform), loop).result()


def _metrics_route(regions: Regions, signed: Callable[[Request], Awaitable[Response]]) -> Route:
    """GET /metrics: the published metrics for Prometheus, which scrapes without credentials; a signed request
    is S3's (a bucket named `metrics`) and goes to `signed`. This process's totals are read on the event loop, where
    they are counted; the server's other front-door processes' from their files, in a thread (shared_totals.py)."""
    async def metrics(request: Request) -> Response:
        if "authorization" in request.headers or "X-Amz-Signature" in request.query_params:
            return await signed(request)
        opened = regions.opened()
        counted = [prometheus.region_totals(platform.publisher, platform.capture) for platform in opened]
        for platform in opened:
            if platform.settings.workers > 1:
                counted += await asyncio.to_thread(shared_totals.others, platform.settings)
        text = prometheus.exposition(counted)
        return Response(text, headers={"Content-Type": prometheus.CONTENT_TYPE})

    return Route("/metrics", metrics, methods=["GET"])


def _every_path(endpoint: Callable[[Request], Awaitable[Response]]) -> Route:
    """The route of every path, a newline in it too (an S3 key may hold one; Starlette's `path`
    convertor stops at a newline, and the request would answer a plain-text 404)."""
    route = Route("/{path:path}", endpoint, methods=_METHODS)
    route.path_regex = re.compile(route.path_regex.pattern, re.DOTALL)
    return route


def make_codecs(service_name: str, settings: Settings, virtual_hosts: Collection[str]) -> list[Codec]:
    """A codec for each protocol the service's model lists (its `protocols`, else its `protocol`) that modelbay
    speaks: CloudWatch's model lists CBOR, JSON 1.0 and query, and a call is answered in the one it came in. Each
    codec gets the model as if that protocol were its only one."""
    description = _service_data(service_name)
    metadata = description["metadata"]
    protocols = [name for name in metadata.get("protocols", [metadata["protocol"]]) if name in _CODECS]
    if not protocols:
        raise ValueError(f"modelbay speaks none of the protocols of {service_name}: {metadata.get('protocols')}")
    return [_make_codec(_speaking_only(service_name, description, name), settings, virtual_hosts)
            for name in protocols]


@functools.cache
def _service_data(service_name: str) -> dict[str, Any]:
    """The service's model as botocore ships it, parsed once a process (the 13 served take 0.6 s) and never changed:
    the models are read from it."""
    return cast(dict[str, Any], botocore.session.get_session().get_service_data(service_name))


def _speaking_only(service_name: str, description: dict[str, Any], protocol: str) -> ServiceModel:
    """The service's model as if `protocol` were its only one."""
    metadata = {**description["metadata"], "protocol": protocol, "protocols": [protocol]}
    return ServiceModel({**description, "metadata": metadata}, service_name)


def _make_codec(model: ServiceModel, settings: Settings, virtual_hosts: Collection[str]) -> Codec:
    codec_class = _CODECS[model.protocol]
    spellings = SPELLINGS.get(model.service_name)
    limits = {"max_body_bytes": settings.max_request_bytes, "max_stream_bytes": settings.max_object_bytes}
    if codec_class is RestXmlCodec:
        return RestXmlCodec(model, spellings, virtual_hosts=virtual_hosts, **limits)
    return codec_class(model, spellings, **limits)
