"""What the endpoint and transform controller tests share: a bring-your-own model server's start, and
reconciling until a resource settles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar, cast

from tests.helpers import wait_until

# A model server that cannot load its model when the container's environment says so.
FAIL_TO_LOAD_IF_ASKED = """
if os.environ.get("FAIL_TO_LOAD"):
    sys.exit("could not load the model: " + os.environ["FAIL_TO_LOAD"])
"""


class _Stated(Protocol):
    @property
    def status(self) -> str: ...


S = TypeVar("S", bound=_Stated)


def reconcile_until(reconcile: Callable[[str], None], get: Callable[[str], S | None], name: str,
                    statuses: tuple[str, ...], timeout_s: float = 60) -> S:
    """Reconcile `name` until `get(name)` is in one of `statuses`; return it."""
    def settled() -> S | None:
        reconcile(name)
        found = get(name)
        return found if found is not None and found.status in statuses else None
    return cast(S, wait_until(settled, timeout_s, f"{name} to reach {statuses}"))
