from enum import StrEnum

import pytest

from modelbay.store.metadata.lifecycle import IllegalTransition, Lifecycle


class Light(StrEnum):
    RED = "Red"
    GREEN = "Green"
    OFF = "Off"


LIGHTS = Lifecycle({Light.RED: frozenset({Light.GREEN, Light.OFF}), Light.GREEN: frozenset({Light.RED}),
                    Light.OFF: frozenset()})


def test_ended_statuses_are_those_with_no_moves() -> None:
    assert LIGHTS.ended == {Light.OFF}


def test_allows_reads_the_table_with_stored_strings() -> None:
    assert LIGHTS.allows("Red", Light.GREEN)
    assert not LIGHTS.allows("Green", Light.OFF)
    assert not LIGHTS.allows("Red", Light.RED)  # staying is no move a request can ask for


def test_check_lets_a_status_stay_and_refuses_a_move_the_table_lacks() -> None:
    LIGHTS.check("light-1", "Green", Light.GREEN)
    LIGHTS.check("light-1", "Green", Light.RED)
    with pytest.raises(IllegalTransition, match="light-1: Off cannot move to Green"):
        LIGHTS.check("light-1", "Off", Light.GREEN)


def test_a_stored_status_outside_the_lifecycle_is_refused() -> None:
    with pytest.raises(ValueError, match="'Blue' is not a status"):
        LIGHTS.allows("Blue", Light.RED)
