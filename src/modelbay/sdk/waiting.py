"""Waiting on endpoints and transform jobs with boto3's own waiters, polled often enough for a server on this
machine (the waiters' defaults look every 30 s, as suits AWS)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import WaiterError

POLL_S = 0.5
TIMEOUT_S = 3600.0  # a framework environment built for the first time takes minutes, not hours


class UnexpectedStatus(Exception):
    """A resource did not reach the status waited for; `reason` is its FailureReason (or why the wait ended).

    (The SageMaker SDK raises UnexpectedStatusException here.) Each kind words MESSAGE its own way.
    """

    MESSAGE = "{name} failed: {reason}"

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(self.MESSAGE.format(name=name, reason=reason))
        self.name, self.reason = name, reason


class EndpointFailed(UnexpectedStatus):
    """An endpoint did not reach InService."""

    MESSAGE = "endpoint {name} is not in service: {reason}"

    @property
    def endpoint_name(self) -> str:
        return self.name


def wait_for(client: Any, waiter: str, **params: Any) -> str | None:
    """Run boto3's `waiter` with `params`, looking every POLL_S for up to TIMEOUT_S.

    Return None once it succeeds; else why it did not: the resource's FailureReason, the error
    that ended the wait, or botocore's account of the timeout."""
    config = {"Delay": POLL_S, "MaxAttempts": max(1, int(TIMEOUT_S / POLL_S))}
    try:
        client.get_waiter(waiter).wait(**params, WaiterConfig=config)
    except WaiterError as error:
        last: dict[str, Any] = error.last_response or {}
        return str(last.get("FailureReason") or last.get("Error", {}).get("Message") or error)
    return None
