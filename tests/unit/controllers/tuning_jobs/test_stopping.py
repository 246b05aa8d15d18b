"""Early stopping's rules over objective curves: SageMaker's median rule and Hyperband's rungs."""

from __future__ import annotations

from modelbay.controllers.tuning_jobs.stopping import below_median, off_the_rungs, rungs, value_at


def test_rungs_grow_by_three_below_max_resource() -> None:
    assert list(rungs(1, 27)) == [1, 3, 9]
    assert list(rungs(2, 100)) == [2, 6, 18, 54]
    assert list(rungs(5, 5)) == []


def test_value_at_a_rung_is_the_first_at_or_past_it() -> None:
    curve = ((1, 0.1), (4, 0.4), (5, 0.5))
    assert value_at(curve, 3) == 0.4 and value_at(curve, 1) == 0.1 and value_at(curve, 6) is None


def test_the_median_rule_needs_earlier_trials_that_reached_the_step() -> None:
    short = ((1, 0.9),)
    assert not below_median(((1, 0.1), (2, 0.1)), [short, short, short], minimize=False)  # none reached step 2
    assert below_median(((1, 0.1),), [short, short, short], minimize=False)
    assert not below_median((), [short, short, short], minimize=False)


def test_hyperband_keeps_the_best_third_at_a_rung() -> None:
    earlier = [((1, value),) for value in (0.1, 0.2, 0.3, 0.4, 0.5)]  # 6 values with the new one: keep 2
    assert not off_the_rungs(((1, 0.45),), earlier, minimize=False, min_resource=1, max_resource=9)
    assert off_the_rungs(((1, 0.35),), earlier, minimize=False, min_resource=1, max_resource=9)
    assert not off_the_rungs(((1, 0.15),), earlier, minimize=True, min_resource=1, max_resource=9)
    assert not off_the_rungs(((1, 0.0),), earlier, minimize=False, min_resource=2, max_resource=9)  # below MinResource
