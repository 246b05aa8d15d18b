"""sagemaker-runtime: invoking endpoints.

InvokeEndpoint is the data plane's front door: it runs on the event loop (an async handler, no
worker thread) and reads nothing from the database; what serves an endpoint is the router's
table, which the EndpointController publishes once the endpoint is InService.
InvokeEndpointWithResponseStream is the same call with the answer sent on as the model gives it,
each piece a PayloadPart event; an answer that breaks off ends the stream with ModelStreamError.
InvokeEndpointAsync queues the request (store.metadata.async_invocations) and answers at once with
where the answer will be; the async-invocations worker (controllers/async_invocations) invokes the
model and writes the answer there, as SageMaker does. An endpoint's DataCaptureConfig has its sampled invocations
offered, once answered, to the data capture's queue (monitoring/data_capture.py), which writes them to S3.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from modelbay.errors import AwsError, ServiceUnavailable, ValidationError
from modelbay.lengths import fit
from modelbay.monitoring.data_capture import StreamedCapture
from modelbay.monitoring.publishing import InvocationMeter
from modelbay.services.base import Context, Handler, data_event, present
from modelbay.serving.router import (
    EndpointNotReady,
    EndpointNotRouted,
    InstancesUnreachable,
    Invocation,
    ModelFailure,
    ModelStreamBroken,
    NoVariantWeighted,
    RoutingError,
    StreamedInvocation,
    Throttled,
    VariantNotFound,
)
from modelbay.statuses import EndpointStatus
from modelbay.store.metadata import AsyncRequest, Endpoint
from modelbay.store.objects.uris import S3Location, parse_uri

A = TypeVar("A")
MAX_MESSAGE_CHARS = 2048  # an error's Message, and ModelError's OriginalMessage, in sagemaker-runtime's model
DEFAULT_REQUEST_TTL_S = 6 * 60 * 60  # how long an async request may wait in the queue (RequestTTLSeconds)
DEFAULT_INVOCATION_TIMEOUT_S = 15 * 60  # how long the model may take on an async request (InvocationTimeoutSeconds)
# SageMaker queues requests for an endpoint that serves, also while it is being updated.
_QUEUEING_STATUSES = frozenset({EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING, EndpointStatus.SYSTEM_UPDATING})


class ModelError(AwsError):
    """The model answered with an error, or not in time (fields OriginalStatusCode,
    OriginalMessage, LogStreamArn)."""

    code = "ModelError"
    status = 424


@data_event
async def invoke_endpoint(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Call the endpoint's model through the router and return its answer as it gave it (captured, if sampled)."""
    meter = InvocationMeter()
    capture = ctx.platform.capture.sample(params["EndpointName"])
    invocation = await _routed(ctx, params, ctx.platform.router.invoke, meter)
    ctx.platform.publisher.invoked(params["EndpointName"], meter, 200)
    if capture is not None:
        ctx.platform.capture.offer(capture, invocation.variant, inference_id=params.get("InferenceId"),
                                   request=params["Body"], request_type=params.get("ContentType"),
                                   response=invocation.body, response_type=invocation.content_type)
    return {"Body": invocation.body} | _described(invocation)


class ThrottlingException(AwsError):
    """A serverless variant is answering its MaxConcurrency of invocations (SageMaker sends no message; we say why)."""

    code = "ThrottlingException"
    status = 400


class ModelStreamError(AwsError):
    """A streamed answer that broke off, sent as the stream's last event (field ErrorCode:
    ModelInvocationTimeExceeded or StreamBroken)."""

    code = "ModelStreamError"
    status = 400


@data_event
async def invoke_endpoint_with_response_stream(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Call the endpoint's model through the router and pass its answer on as it comes (captured whole at its end,
    if sampled)."""
    meter = InvocationMeter()
    capture = ctx.platform.capture.sample(params["EndpointName"])
    invocation = await _routed(ctx, params, ctx.platform.router.invoke_stream, meter)
    ended = functools.partial(ctx.platform.publisher.invoked, params["EndpointName"], meter)
    captured = None if capture is None else StreamedCapture(
        ctx.platform.capture, capture, invocation.variant, params.get("InferenceId"), params["Body"],
        params.get("ContentType"), invocation.content_type)
    return {"Body": _PayloadParts(invocation, ended, captured)} | _described(invocation)


async def _routed(ctx: Context, params: dict[str, Any], call: Callable[..., Awaitable[A]],
                  meter: InvocationMeter) -> A:
    """The model's answer through `call` (the router's invoke or invoke_stream), unless the endpoint is
    asynchronous; what went wrong in SageMaker's words (and in the endpoint's metrics)."""
    name = _directly_invoked(ctx, params["EndpointName"])
    try:
        return await call(name, params["Body"], params.get("ContentType"), params.get("Accept"),
                          params.get("CustomAttributes"), params.get("TargetVariant"), params.get("InferenceId"),
                          meter=meter)
    except RoutingError as error:
        ctx.platform.publisher.invoked(name, meter, model_status(error))
        raise _client_error(ctx, name, error) from None


def model_status(error: RoutingError) -> int:
    """The status an invocation's metrics count for a routing error: the model's own, 429 for a throttled one
    (a 4XX error to its caller), else 0 (no answer: a 5XX error)."""
    if isinstance(error, ModelFailure):
        return error.status
    return 429 if isinstance(error, Throttled) else 0


def _described(invocation: Invocation | StreamedInvocation) -> dict[str, Any]:
    """The members that describe an answer, whole or streamed."""
    return {"ContentType": invocation.content_type, "InvokedProductionVariant": invocation.variant,
            "CustomAttributes": invocation.custom_attributes}


class _PayloadParts:
    """A streamed answer's pieces as PayloadPart events, a break as ModelStreamError in SageMaker's words; a
    sampled answer read to its end is captured."""

    def __init__(self, invocation: StreamedInvocation, ended: Callable[[int], None],
                 captured: StreamedCapture | None) -> None:
        self._invocation = invocation
        self._ended: Callable[[int], None] | None = ended  # told the stream's status once, when it ends
        self._captured = captured

    def __aiter__(self) -> _PayloadParts:
        return self

    async def __anext__(self) -> Mapping[str, Any]:
        try:
            piece = await self._invocation.__anext__()
        except StopAsyncIteration:
            self._end(200)
            if self._captured is not None:
                self._captured.offer()
                self._captured = None
            raise
        except ModelStreamBroken as broken:
            self._end(0)
            if broken.is_timeout:
                raise ModelStreamError(f"Your model {broken.container} did not complete sending the inference "
                                       "response in the allotted time.",
                                       ErrorCode="ModelInvocationTimeExceeded") from None
            raise ModelStreamError(f"The connection to your model {broken.container} was closed before it "
                                   "completed sending the inference response.", ErrorCode="StreamBroken") from None
        if self._captured is not None:
            self._captured.add(piece)
        return {"PayloadPart": {"Bytes": piece}}

    async def aclose(self) -> None:
        await self._invocation.aclose()
        self._end(200)  # the caller went away: the model was answering

    def _end(self, status: int) -> None:
        if self._ended is not None:
            self._ended(status)
            self._ended = None


def _directly_invoked(ctx: Context, endpoint: str) -> str:
    """The endpoint, unless it is an asynchronous one, which SageMaker invokes only from its queue."""
    if ctx.platform.router.is_queued(endpoint):
        raise ValidationError(f"Endpoint {endpoint} of account {ctx.principal.account_id} is an asynchronous "
                              "inference endpoint: call InvokeEndpointAsync.")
    return endpoint


def _client_error(ctx: Context, endpoint: str, error: RoutingError) -> AwsError:
    """The error SageMaker answers for what went wrong, in its words."""
    account = ctx.principal.account_id
    if isinstance(error, EndpointNotRouted):
        return ValidationError(f"Endpoint {endpoint} of account {account} not found.")
    if isinstance(error, EndpointNotReady):
        return ServiceUnavailable(f"Endpoint {endpoint} of account {account} is not ready to serve yet: the "
                                  "server is restoring its routes; please try again.")
    if isinstance(error, VariantNotFound):
        return ValidationError(f"Endpoint {endpoint} does not have a production variant named {error}.")
    if isinstance(error, NoVariantWeighted):
        return ValidationError(f"Endpoint {endpoint} has no production variant with a weight above 0; "
                               "name one with TargetVariant or update the variant weights.")
    if isinstance(error, InstancesUnreachable):
        return ServiceUnavailable(f"No instance of production variant {error} of endpoint {endpoint} "
                                  "could be reached; please try again.")
    if isinstance(error, ModelFailure):
        return _model_error(ctx, endpoint, error)
    if isinstance(error, Throttled):
        return ThrottlingException(f"Endpoint {endpoint} of account {account}: production variant {error.variant} "
                                   f"is serving its MaxConcurrency of {error.max_concurrency} invocations; "
                                   "please try again.")
    raise error


def model_log(region: str, account: str, endpoint: str) -> tuple[str, str]:
    """Where a ModelError points for the model's own words: the sentence that ends its message, and its LogStreamArn
    (the model server answering a connection handed to it says the same, front_door_handoff.py)."""
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    return (f"See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:"
            f"group={group} in account {account} for more information.",
            f"arn:aws:logs:{region}:{account}:log-group:{group}")


def _model_error(ctx: Context, endpoint: str, failure: ModelFailure) -> ModelError:
    see, log_stream = model_log(ctx.region, ctx.principal.account_id, endpoint)
    kind = "client" if 400 <= failure.status < 500 else "server"
    lead = f'Received {kind} error ({failure.status}) from {failure.container} with message "'
    end = f'". {see}'
    said = fit(failure.message, MAX_MESSAGE_CHARS - len(lead) - len(end))  # the model's words, however long
    return ModelError(lead + said + end, OriginalStatusCode=failure.status,
                      OriginalMessage=fit(failure.message, MAX_MESSAGE_CHARS), LogStreamArn=log_stream)


def invoke_endpoint_async(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Queue the request for the endpoint's async-invocations worker and answer (202) where its answer, or its
    failure, will be written. A plain handler, not a data event: it writes the queue, so the audit trail records
    it too (CloudTrail would only when asked)."""
    name = params["EndpointName"]
    output = _async_output_config(ctx, _queueing_endpoint(ctx, name))
    input_location, body = _async_input(params)
    inference_id = params.get("InferenceId") or str(uuid.uuid4())
    extension = f"{params['S3OutputPathExtension'].strip('/')}/" if "S3OutputPathExtension" in params else ""
    output_location = f"{output['S3OutputPath'].rstrip('/')}/{extension}{params.get('Filename', inference_id + '.out')}"
    failure_location = (f"{output['S3FailurePath'].rstrip('/')}/{extension}{inference_id}-error.out"
                        if "S3FailurePath" in output else None)
    ctx.metadata.async_invocations.enqueue(AsyncRequest(
        endpoint_name=name, endpoint_arn=ctx.arn("sagemaker", f"endpoint/{name.lower()}"), inference_id=inference_id,
        input_location=input_location, body=body, output_location=output_location, failure_location=failure_location,
        content_type=params.get("ContentType"), accept=params.get("Accept"),
        custom_attributes=params.get("CustomAttributes"),
        invocation_timeout_s=params.get("InvocationTimeoutSeconds", DEFAULT_INVOCATION_TIMEOUT_S)),
        ttl_s=params.get("RequestTTLSeconds", DEFAULT_REQUEST_TTL_S))
    return {"InferenceId": inference_id, "OutputLocation": output_location} | present(FailureLocation=failure_location)


def _queueing_endpoint(ctx: Context, name: str) -> Endpoint:
    """The endpoint, if it serves (SageMaker answers for one that does not as for one that does not exist)."""
    endpoint = ctx.metadata.endpoints.get(name)
    if endpoint is None or endpoint.status not in _QUEUEING_STATUSES:
        raise ValidationError(f"Endpoint {name} of account {ctx.principal.account_id} not found.")
    return endpoint


def _async_output_config(ctx: Context, endpoint: Endpoint) -> dict[str, Any]:
    config = endpoint.spec.config.get("AsyncInferenceConfig")
    if config is None:
        raise ValidationError(f"Endpoint {endpoint.name} of account {ctx.principal.account_id} is not an "
                              "asynchronous inference endpoint: its endpoint config has no AsyncInferenceConfig. "
                              "Call InvokeEndpoint.")
    output: dict[str, Any] = config["OutputConfig"]
    return output


def _async_input(params: dict[str, Any]) -> tuple[str | None, bytes | None]:
    """The request's InputLocation (an S3 URI) or its inline Body: exactly one of them."""
    location, body = params.get("InputLocation"), params.get("Body") or None
    if (location is None) == (body is None):
        raise ValidationError("Provide exactly one of InputLocation and Body.")
    if location is not None and not _is_s3_object(location):
        raise ValidationError(f"InputLocation must be the S3 URI of an object (s3://bucket/key), not {location!r}.")
    return location, body


def _is_s3_object(uri: str) -> bool:
    try:
        location = parse_uri(uri)
    except ValueError:
        return False
    return isinstance(location, S3Location) and bool(location.key)


OPERATIONS: dict[str, Handler] = {
    "InvokeEndpoint": invoke_endpoint,
    "InvokeEndpointWithResponseStream": invoke_endpoint_with_response_stream,
    "InvokeEndpointAsync": invoke_endpoint_async,
}
