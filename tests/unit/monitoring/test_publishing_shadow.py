"""ShadowCopiesDropped: the copies the router dropped, recorded second by second from its running totals."""

from __future__ import annotations

from datetime import timedelta

from modelbay.monitoring.publishing import Publisher
from tests.unit.monitoring.test_publishing import Clock, clock, publisher, total

__all__ = ["clock", "publisher"]  # the fixtures this module uses


def test_dropped_copies_are_recorded_as_they_grow(publisher: Publisher, clock: Clock) -> None:
    for dropped in (3, 3, 5, 2):  # 2: the shadow was published again, its total began again
        publisher.copies_dropped([("ep", "v1", dropped)])
        clock.now += timedelta(seconds=1)
    recorded = total(publisher, "ShadowCopiesDropped")
    assert (recorded.sum, recorded.sample_count) == (3 + 2 + 2, 3)  # a second that dropped none records nothing
    assert publisher.copies_dropped_totals() == [("ep", "v1", 3 + 2 + 2)]  # Prometheus's counter never falls
