"""The router during a blue/green traffic shift: the new fleet takes its share, TargetVariant finds either fleet,
and the counts and placements see both."""

from __future__ import annotations

import collections
import math

import pytest

from modelbay.serving.router import Router, TrafficShift, VariantNotFound
from tests.unit.serving.conftest import Start
from tests.unit.serving.test_router import invoke, variant

pytestmark = pytest.mark.anyio


async def test_the_new_fleet_takes_its_share_of_the_invocations(router: Router, start: Start) -> None:
    blue, green = await start("blue"), await start("green")
    router.publish("ep", [variant("AllTraffic", 1, blue)], shift=TrafficShift((variant("AllTraffic", 1, green),), 0.2))
    bodies = collections.Counter([(await invoke(router)).body for _ in range(2000)])
    # binomial(2000, 0.2): mean 400, sd 17.9; 4.5 sd either side
    assert abs(bodies[b"x|green"] - 400) < 4.5 * math.sqrt(2000 * 0.2 * 0.8), bodies
    assert bodies[b"x|blue"] + bodies[b"x|green"] == 2000


async def test_publishing_a_larger_share_moves_the_traffic(router: Router, start: Start) -> None:
    blue, green = await start("blue"), await start("green")
    for share, expected in ((0.0, b"x|blue"), (1.0, b"x|green")):
        router.publish("ep", [variant("Blue", 1, blue)], shift=TrafficShift((variant("Green", 1, green),), share))
        assert {(await invoke(router)).body for _ in range(50)} == {expected}


async def test_a_target_variant_only_the_new_config_has_goes_to_the_new_fleet(router: Router, start: Start) -> None:
    blue, green = await start("blue"), await start("green")
    router.publish("ep", [variant("Blue", 1, blue)], shift=TrafficShift((variant("Green", 1, green),), 0.0))
    got = await invoke(router, target="Green")
    assert (got.variant, got.body) == ("Green", b"x|green")
    assert (await invoke(router, target="Blue")).body == b"x|blue"
    with pytest.raises(VariantNotFound):
        await invoke(router, target="Nope")


async def test_counts_and_placements_see_both_fleets(router: Router, start: Start) -> None:
    blue, green = await start("blue"), await start("green")
    router.publish("ep", [variant("AllTraffic", 1, blue)], shift=TrafficShift((variant("AllTraffic", 1, green),), 0.5))
    assert router.concurrency() == [("ep", "AllTraffic", 0, 2)]
    placement = router.placement("ep")
    assert placement is not None and sorted(p.instance_id for p in placement) == ["blue", "green"]


async def test_a_share_outside_zero_to_one_is_refused(router: Router, start: Start) -> None:
    green = await start("green")
    with pytest.raises(ValueError, match="share from 0 to 1"):
        router.publish("ep", [], shift=TrafficShift((variant("Green", 1, green),), 1.5))
