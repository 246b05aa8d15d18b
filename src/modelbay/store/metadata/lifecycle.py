"""A resource family's statuses as a state machine: the moves a status may make, checked where rows are written.

Each family declares a StrEnum of its statuses and one Lifecycle of the moves between them. Its
repository checks every status change in its single write path, so the two ways a change can be
refused stay apart:
- a request that asks for a move its resource's status does not allow (StopTrainingJob on a job
  that has ended) is the caller's error: `allows` says so, and the repository raises
  StatusConflict, which the service turns into SageMaker's words;
- a controller that moves a resource where the table does not go is a bug: `check` raises
  IllegalTransition, which no service translates.
Recording progress without changing the status (a new secondary status, what runs) is no move.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

S = TypeVar("S", bound=StrEnum)


class IllegalTransition(Exception):
    """A status change the family's transitions table does not allow: a bug in the caller, never a user's error."""

    def __init__(self, name: str, current: str, new: str) -> None:
        super().__init__(f"{name}: {current} cannot move to {new}")
        self.current, self.new = current, new


@dataclass(frozen=True)
class Lifecycle(Generic[S]):
    """The statuses of one family and, for each, the statuses it may move to; one with none has ended."""

    moves: Mapping[S, frozenset[S]]

    @property
    def ended(self) -> frozenset[S]:
        """The statuses a resource never leaves."""
        return frozenset(status for status, targets in self.moves.items() if not targets)

    def allows(self, current: str, new: S) -> bool:
        """Whether a resource in `current` may move to `new` (staying where it is is no move)."""
        targets = next((targets for status, targets in self.moves.items() if status == current), None)
        if targets is None:
            raise ValueError(f"{current!r} is not a status of this lifecycle")
        return new in targets

    def check(self, name: str, current: str, new: S) -> None:
        """Raise IllegalTransition unless `new` is `current` or a move the table allows."""
        if new != current and not self.allows(current, new):
            raise IllegalTransition(name, current, new)
