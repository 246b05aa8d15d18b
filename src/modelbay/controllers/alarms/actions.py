"""What an alarm's actions do here: runners registered by ARN prefix, and the history entry each run leaves.

Application Auto Scaling registers a runner for its scaling policies' ARNs
(`arn:aws:autoscaling:<region>:<account>:scalingPolicy:...`); an action no runner claims (SNS, EC2,
Systems Manager) is not run here, only recorded in the alarm's history.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelbay.store.metadata.alarms import Alarm

log = logging.getLogger(__name__)

SCALING_POLICY_PREFIX = "arn:aws:autoscaling:"


@dataclass(frozen=True)
class AlarmEvent:
    """An action to run: `alarm` has just entered `alarm.state.value`, whose actions name `action`."""

    action: str
    alarm: Alarm

    @property
    def recent_values(self) -> list[float]:
        """The values the state was decided on, oldest first (from StateReasonData; empty when it has none)."""
        try:
            data = json.loads(self.alarm.state.reason_data or "{}")
        except ValueError:  # SetAlarmState's StateReasonData may be any text
            return []
        values = data.get("recentDatapoints") if isinstance(data, dict) else None
        return [float(value) for value in values] if isinstance(values, list) else []


# Runs the action and returns promptly (a reconcile pass waits for it); raising records the action as failed.
Runner = Callable[[AlarmEvent], None]


@dataclass(frozen=True)
class ActionOutcome:
    """The Action history entry of one action: its HistorySummary and HistoryData."""

    summary: str
    data: dict[str, Any]


class AlarmActions:
    """Runners of alarm actions by ARN prefix (the longest registered prefix of an action's ARN wins).
    Thread-safe."""

    def __init__(self) -> None:
        self._runners: dict[str, Runner] = {}
        self._lock = threading.Lock()

    def register(self, prefix: str, runner: Runner) -> None:
        """Run the actions whose ARN starts with `prefix` by calling `runner`; replaces a runner of that prefix."""
        with self._lock:
            self._runners[prefix] = runner

    def run(self, event: AlarmEvent) -> ActionOutcome:
        """Run the action, or record it as not supported here; never raises."""
        with self._lock:
            claims = [prefix for prefix in self._runners if event.action.startswith(prefix)]
            runner = self._runners[max(claims, key=len)] if claims else None
        base = {"stateUpdateTimestamp": int(event.alarm.state.updated.timestamp() * 1000),
                "notificationResource": event.action}
        if runner is None:
            return ActionOutcome(f"Failed to execute action {event.action}: not supported here",
                                 {"actionState": "Failed", **base,
                                  "error": "modelbay runs Application Auto Scaling policies only; "
                                           "this action is recorded, not run"})
        try:
            runner(event)
        except Exception as error:
            log.exception("alarm %s: action %s failed", event.alarm.name, event.action)
            return ActionOutcome(f"Failed to execute action {event.action}",
                                 {"actionState": "Failed", **base, "error": str(error) or type(error).__name__})
        return ActionOutcome(f"Successfully executed action {event.action}", {"actionState": "Succeeded", **base})
