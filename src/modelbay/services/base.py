"""What every service function gets and may give back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from modelbay.config import Settings
from modelbay.platform import Platform
from modelbay.security.principal import Principal
from modelbay.store.metadata import MetadataStore
from modelbay.store.objects.base import ObjectStore

PermissionCheck = Callable[[Principal, str, str], None]


def allow_everything(principal: Principal, action: str, resource: str) -> None:
    """The permission check of calls made without an authorizer (tests of a service alone)."""


@dataclass(frozen=True)
class Context:
    """One request as a service sees it: no HTTP, just who asks, where, and with what."""

    platform: Platform
    request_id: str
    region: str
    principal: Principal
    permission_check: PermissionCheck = allow_everything  # the server's authorizer: raises AccessDenied

    def check_permission(self, action: str, resource: str) -> None:
        """Raise AccessDenied unless the caller may do `action` on `resource`: for what a call implies beyond its
        own action (reading an SSE-KMS object needs kms:Decrypt on its key, as S3 asks KMS on the caller's behalf)."""
        self.permission_check(self.principal, action, resource)

    @property
    def settings(self) -> Settings:
        return self.platform.settings

    @property
    def metadata(self) -> MetadataStore:
        return self.platform.metadata

    @property
    def objects(self) -> ObjectStore:
        return self.platform.objects

    def arn(self, service: str, resource: str) -> str:
        """arn:aws:<service>:<region>:<account>:<resource>; SageMaker lowercases names in ARNs."""
        return f"arn:aws:{service}:{self.region}:{self.principal.account_id}:{resource}"


@dataclass(frozen=True)
class Reply:
    """A result with a status other than the protocol's usual one (S3's 206 for a range)."""

    output: Mapping[str, Any]
    status: int


Result = Mapping[str, Any] | Reply
# A plain function runs in a worker thread (domain code is sync and may block); an `async def` one
# runs on the event loop itself, for the data plane, which must neither block nor pay a thread hop.
Handler = Callable[[Context, dict[str, Any]], Result] | Callable[[Context, dict[str, Any]], Awaitable[Result]]


def present(**members: Any) -> dict[str, Any]:
    """The members whose value is not None (absent members are left out of AWS answers)."""
    return {key: value for key, value in members.items() if value is not None}


H = TypeVar("H", bound=Callable[..., Any])


def data_event(handler: H) -> H:
    """Mark a handler as a data event (an invocation, not a change to resources): the audit trail
    does not record it, as CloudTrail records data events such as InvokeEndpoint only when asked.
    At thousands of calls a second, writing each to the database would cost the data plane dearly."""
    handler.is_data_event = True  # type: ignore[attr-defined]  # a marker the pipeline reads
    return handler


def is_data_event(handler: Handler | None) -> bool:
    return getattr(handler, "is_data_event", False)
