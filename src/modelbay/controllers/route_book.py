"""The endpoints' routing tables in the store, so that every server of the control plane routes invocations.

The router is in memory, and only the leading server runs the EndpointController that publishes its tables. So
the controller publishes through a RouteBook: a table goes to this server's router and data capture at once, and,
when it changed, into the store (store/metadata/routes.py); every other server's RouteFollower reads what changed
since it last looked and applies it to its own router and data capture.

A server that takes the lead has the tables the previous leader published. Its controller finds the instances it
can adopt (those its runtime sees); where it finds none of a variant yet (they ran under another server's runtime
state, on another machine or data directory), it starts new ones, and meanwhile the RouteBook keeps routing that
variant to the previous leader's instances: they serve until this server's own are ready, so the takeover leaves
no gap in answering.

Where the server answers from several processes (Settings.workers), the RouteBook, and the RouteFollower of a server
that follows, tell the RouterFleet when the store's tables changed: each returns once every worker applied them.
Each process admits its part of a serverless variant's MaxConcurrency (router_fleet.share_of).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from modelbay.config import Settings
from modelbay.platform import Platform
from modelbay.serving.router import Backend, TrafficShift, VariantRoute
from modelbay.serving.router_fleet import RouterFleet, share_of

FOLLOW_INTERVAL_S = 0.5  # how soon a follower applies a change the leader published


@dataclass(frozen=True)
class RouteTable:
    """What an endpoint is served by: its production variants, whether its invocations come from its queue only
    (an asynchronous endpoint), a blue/green deployment's traffic shift, its shadow variants, and its
    DataCaptureConfig (None: nothing captured)."""

    variants: tuple[VariantRoute, ...]
    queued: bool = False
    shift: TrafficShift | None = None
    shadows: tuple[VariantRoute, ...] = ()
    capture: Mapping[str, Any] | None = None


Applier = Callable[[str, RouteTable | None], None]  # serves an endpoint by a table (None: serves it no longer)


def apply(platform: Platform, endpoint: str, table: RouteTable | None) -> None:
    """Serve the endpoint by `table` on this server (None: serve it no longer)."""
    if table is None:
        platform.router.withdraw(endpoint)
        platform.capture.withdraw(endpoint)
        return
    shift = table.shift and replace(table.shift, variants=_shared(table.shift.variants, platform.settings))
    table = replace(table, variants=_shared(table.variants, platform.settings), shift=shift)
    platform.router.publish(endpoint, table.variants, queued=table.queued, shift=table.shift, shadows=table.shadows)
    platform.capture.publish(endpoint, table.capture)


def _shared(variants: tuple[VariantRoute, ...], settings: Settings) -> tuple[VariantRoute, ...]:
    """The variants as this front-door process admits them: its part of each MaxConcurrency (all of it, alone)."""
    return tuple(replace(v, max_concurrency=share_of(v.max_concurrency, settings.worker, settings.workers))
                 if v.max_concurrency is not None else v for v in variants)


class RouteBook:
    """The leader's side: applies each table here and records it in the store when it changed; bridges the
    variants this server has no instance of yet with the previous leader's (see the module's docstring)."""

    def __init__(self, platform: Platform, routers: RouterFleet | None = None) -> None:
        self.platform = platform
        self.routers = routers or RouterFleet(platform.router, platform.settings.region)
        self._recorded: dict[str, dict[str, Any] | None] = {}
        self._inherited: dict[str, RouteTable] = {}

    def take_over(self) -> None:
        """This server now leads: from the tables in the store, which the previous leader published (and this
        server followed), bridge what its controller has no instances of yet; record each table at its first
        publication (what this server recorded when it led before may have changed since)."""
        self._recorded.clear()
        self._inherited = {change.endpoint: decode(change.table)
                           for change in self.platform.metadata.routes.changed_since(0) if change.table is not None}

    def publish(self, endpoint: str, table: RouteTable) -> None:
        self._record(endpoint, self._bridged(endpoint, table))

    def withdraw(self, endpoint: str) -> None:
        self._inherited.pop(endpoint, None)
        self._record(endpoint, None)

    def drop(self, instance_ids: Collection[str]) -> None:
        """Take these instances (which the leader is about to stop as it shuts down) out of every recorded table,
        so that no server routes to them, nor a next leader bridges with them."""
        gone = frozenset(instance_ids)
        for change in self.platform.metadata.routes.changed_since(0):
            if change.table is not None:
                table = decode(change.table)
                shift = table.shift and replace(table.shift, variants=_without(table.shift.variants, gone))
                kept = replace(table, variants=_without(table.variants, gone), shadows=_without(table.shadows, gone),
                               shift=shift)
                if kept != table:
                    self._record(change.endpoint, kept)

    def _record(self, endpoint: str, table: RouteTable | None) -> None:
        apply(self.platform, endpoint, table)
        encoded = None if table is None else encode(table)
        if endpoint not in self._recorded or self._recorded[endpoint] != encoded:
            self.platform.metadata.routes.put(endpoint, encoded)
            self._recorded[endpoint] = encoded
            self.routers.tables_changed()

    def _bridged(self, endpoint: str, table: RouteTable) -> RouteTable:
        """`table`, its production variants without instances served by the previous leader's, until each has
        its own. A serverless variant's lack of instances is its scale (zero), not a takeover: it is left as is."""
        inherited = self._inherited.get(endpoint)
        if inherited is None:
            return table
        bare = {v.name for v in table.variants if not v.backends and v.max_concurrency is None}
        if not bare:
            del self._inherited[endpoint]
            return table
        theirs = {v.name: v.backends for v in inherited.variants}
        return replace(table, variants=tuple(replace(v, backends=theirs.get(v.name, ())) if v.name in bare else v
                                             for v in table.variants))


class RouteFollower:
    """A follower's side: applies the tables the leader recorded, each change once, in order."""

    def __init__(self, platform: Platform, applied: Applier | None = None) -> None:
        self.platform = platform
        self.applied = applied or functools.partial(apply, platform)  # where a table goes: this server's router
        self._version = 0
        self._routed: dict[str, frozenset[str]] = {}  # endpoint → the instances its table names

    def follow(self) -> bool:
        """Apply what changed since the last call (everything, the first time); whether anything did."""
        version = self._version
        for change in self.platform.metadata.routes.changed_since(self._version):
            table = None if change.table is None else decode(change.table)
            self.applied(change.endpoint, table)
            # swapped whole: `routed` may read it from another thread meanwhile
            self._routed = {**self._routed, change.endpoint: frozenset() if table is None else _instance_ids(table)}
            self._version = change.version
        return self._version != version

    def routed(self) -> frozenset[str]:
        """The instances some table names, as last followed."""
        return frozenset().union(*self._routed.values())


def _instance_ids(table: RouteTable) -> frozenset[str]:
    variants = (*table.variants, *table.shadows, *(table.shift.variants if table.shift else ()))
    return frozenset(backend.instance_id for variant in variants for backend in variant.backends)


def _without(variants: tuple[VariantRoute, ...], gone: frozenset[str]) -> tuple[VariantRoute, ...]:
    return tuple(replace(v, backends=tuple(b for b in v.backends if b.instance_id not in gone)) for v in variants)


def encode(table: RouteTable) -> dict[str, Any]:
    """`table` as a JSON value."""
    shift = table.shift
    return {"variants": [_encode_variant(v) for v in table.variants], "queued": table.queued,
            "shift": None if shift is None else {"variants": [_encode_variant(v) for v in shift.variants],
                                                 "share": shift.share},
            "shadows": [_encode_variant(v) for v in table.shadows],
            "capture": None if table.capture is None else dict(table.capture)}


def decode(data: Mapping[str, Any]) -> RouteTable:
    """The table `encode` gave `data` for."""
    shift = data["shift"]
    return RouteTable(tuple(_decode_variant(v) for v in data["variants"]), data["queued"],
                      None if shift is None else TrafficShift(tuple(_decode_variant(v) for v in shift["variants"]),
                                                              shift["share"]),
                      tuple(_decode_variant(v) for v in data["shadows"]), data["capture"])


def _encode_variant(variant: VariantRoute) -> dict[str, Any]:
    return {"name": variant.name, "weight": variant.weight, "max_concurrency": variant.max_concurrency,
            "backends": [{"instance_id": b.instance_id, "zone": b.zone, "urls": list(b.urls), "handoff": b.handoff}
                         for b in variant.backends]}


def _decode_variant(data: Mapping[str, Any]) -> VariantRoute:
    return VariantRoute(data["name"], data["weight"], tuple(
        Backend(b["instance_id"], b["zone"], tuple(b["urls"]), b.get("handoff"))  # tables from before: none
        for b in data["backends"]), data["max_concurrency"])
