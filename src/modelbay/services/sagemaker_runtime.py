"""sagemaker-runtime: invoking endpoints.

InvokeEndpoint is the data plane's front door: it runs on the event loop (an async handler, no
worker thread) and reads nothing from the database; what serves an endpoint is the router's
table, which the EndpointController publishes once the endpoint is InService.
InvokeEndpointWithResponseStream is the same call with the answer sent on as the model gives it,
each piece a PayloadPart event; an answer that breaks off ends the stream with ModelStreamError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelbay.errors import AwsError, NotImplementedYet, ServiceUnavailable, ValidationError
from modelbay.lengths import fit
from modelbay.services.base import Context, Handler, data_event
from modelbay.serving.router import (
    EndpointNotReady,
    EndpointNotRouted,
    InstancesUnreachable,
    ModelFailure,
    ModelStreamBroken,
    NoVariantWeighted,
    RoutingError,
    StreamedInvocation,
    VariantNotFound,
)

MAX_MESSAGE_CHARS = 2048  # an error's Message, and ModelError's OriginalMessage, in sagemaker-runtime's model


class ModelError(AwsError):
    """The model answered with an error, or not in time (fields OriginalStatusCode,
    OriginalMessage, LogStreamArn)."""

    code = "ModelError"
    status = 424


@data_event
async def invoke_endpoint(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Call the endpoint's model through the router and return its answer as it gave it."""
    name = params["EndpointName"]
    try:
        invocation = await ctx.platform.router.invoke(
            name, params["Body"], params.get("ContentType"), params.get("Accept"), params.get("CustomAttributes"),
            params.get("TargetVariant"), params.get("InferenceId"))
    except RoutingError as error:
        raise _client_error(ctx, name, error) from None
    return {"Body": invocation.body, "ContentType": invocation.content_type,
            "InvokedProductionVariant": invocation.variant, "CustomAttributes": invocation.custom_attributes}


class ModelStreamError(AwsError):
    """A streamed answer that broke off, sent as the stream's last event (field ErrorCode:
    ModelInvocationTimeExceeded or StreamBroken)."""

    code = "ModelStreamError"
    status = 400


@data_event
async def invoke_endpoint_with_response_stream(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    """Call the endpoint's model through the router and pass its answer on as it comes."""
    name = params["EndpointName"]
    try:
        invocation = await ctx.platform.router.invoke_stream(
            name, params["Body"], params.get("ContentType"), params.get("Accept"), params.get("CustomAttributes"),
            params.get("TargetVariant"), params.get("InferenceId"))
    except RoutingError as error:
        raise _client_error(ctx, name, error) from None
    return {"Body": _PayloadParts(invocation), "ContentType": invocation.content_type,
            "InvokedProductionVariant": invocation.variant, "CustomAttributes": invocation.custom_attributes}


class _PayloadParts:
    """A streamed answer's pieces as PayloadPart events, a break as ModelStreamError in SageMaker's words."""

    def __init__(self, invocation: StreamedInvocation) -> None:
        self._invocation = invocation

    def __aiter__(self) -> _PayloadParts:
        return self

    async def __anext__(self) -> Mapping[str, Any]:
        try:
            return {"PayloadPart": {"Bytes": await self._invocation.__anext__()}}
        except ModelStreamBroken as broken:
            if broken.is_timeout:
                raise ModelStreamError(f"Your model {broken.container} did not complete sending the inference "
                                       "response in the allotted time.",
                                       ErrorCode="ModelInvocationTimeExceeded") from None
            raise ModelStreamError(f"The connection to your model {broken.container} was closed before it "
                                   "completed sending the inference response.", ErrorCode="StreamBroken") from None

    async def aclose(self) -> None:
        await self._invocation.aclose()


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
    raise error


def _model_error(ctx: Context, endpoint: str, failure: ModelFailure) -> ModelError:
    region, account = ctx.region, ctx.principal.account_id
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    kind = "client" if 400 <= failure.status < 500 else "server"
    lead = f'Received {kind} error ({failure.status}) from {failure.container} with message "'
    end = (f'". See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:'
           f"group={group} in account {account} for more information.")
    said = fit(failure.message, MAX_MESSAGE_CHARS - len(lead) - len(end))  # the model's words, however long
    return ModelError(lead + said + end, OriginalStatusCode=failure.status,
                      OriginalMessage=fit(failure.message, MAX_MESSAGE_CHARS),
                      LogStreamArn=f"arn:aws:logs:{region}:{account}:log-group:{group}")


def _not_available(operation: str, hint: str) -> Handler:
    def refuse(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedYet(f"{operation} is not available in modelbay yet; {hint}")
    return refuse


OPERATIONS: dict[str, Handler] = {
    "InvokeEndpoint": invoke_endpoint,
    "InvokeEndpointWithResponseStream": invoke_endpoint_with_response_stream,
    "InvokeEndpointAsync": _not_available(
        "InvokeEndpointAsync", "call InvokeEndpoint (the answer comes back in the response)."),
}
