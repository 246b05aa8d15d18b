"""The Application Auto Scaling repository on each backend: targets created and updated, policies and scheduled
actions keyed by their target, deregistration removing them, cooldown times, activities newest first."""

from __future__ import annotations

import pytest

from modelbay.store.metadata import MetadataStore, RecordNotFound
from modelbay.store.metadata.autoscaling import (
    DIMENSION,
    IN_PROGRESS,
    NAMESPACE,
    SUCCESSFUL,
    ScalableTargetNotFound,
    TargetKey,
)

KEY = TargetKey(NAMESPACE, "endpoint/e/variant/a", DIMENSION)
OTHER = TargetKey(NAMESPACE, "endpoint/e/variant/b", DIMENSION)


def test_register_creates_then_updates_what_is_given(store: MetadataStore) -> None:
    repository = store.autoscaling
    with pytest.raises(ValueError, match="both capacities"):
        repository.register(KEY, "arn:t", 1, None, "role", None)
    target, created = repository.register(KEY, "arn:t", 1, 4, "role", None)
    assert created and (target.min_capacity, target.max_capacity, target.arn) == (1, 4, "arn:t")
    assert target.suspended == {"DynamicScalingInSuspended": False, "DynamicScalingOutSuspended": False,
                                "ScheduledScalingSuspended": False}
    target, created = repository.register(KEY, "arn:new", None, 6, "role", {"DynamicScalingInSuspended": True})
    assert not created and (target.min_capacity, target.max_capacity, target.arn) == (1, 6, "arn:t")
    assert target.suspended["DynamicScalingInSuspended"] and not target.suspended["DynamicScalingOutSuspended"]
    repository.scaled(KEY, scale_out=True)
    found = repository.target(KEY)
    assert found is not None and found.last_scale_out is not None and found.last_scale_in is None


def test_deregister_removes_the_targets_policies_and_scheduled_actions_only(store: MetadataStore) -> None:
    repository = store.autoscaling
    for key in (KEY, OTHER):
        repository.register(key, f"arn:{key.resource_id}", 1, 2, "role", None)
        repository.put_policy(key, "p", f"arn:p:{key.resource_id}", "StepScaling", {"AdjustmentType": "x"}, [])
        repository.put_scheduled_action(key, "s", f"arn:s:{key.resource_id}", {"Schedule": "rate(1 hour)"})
    updated = repository.put_policy(KEY, "p", "arn:ignored", "TargetTrackingScaling", {"TargetValue": 1.0},
                                    [{"AlarmName": "a", "AlarmARN": "arn:a"}])
    assert (updated.arn, updated.policy_type, updated.alarms) == ("arn:p:endpoint/e/variant/a",
                                                                  "TargetTrackingScaling",
                                                                  ({"AlarmName": "a", "AlarmARN": "arn:a"},))
    assert repository.policy_by_arn("arn:p:endpoint/e/variant/b") is not None
    [removed] = repository.deregister(KEY)
    assert removed.name == "p" and repository.target(KEY) is None
    assert [p.key for p in repository.policies(NAMESPACE)] == [OTHER]
    assert [a.key for a in repository.scheduled_actions(NAMESPACE)] == [OTHER]
    with pytest.raises(ScalableTargetNotFound):
        repository.deregister(KEY)
    with pytest.raises(RecordNotFound):
        repository.delete_policy(KEY, "p")
    with pytest.raises(RecordNotFound):
        repository.delete_scheduled_action(KEY, "s")


def test_activities_end_once_and_list_newest_first(store: MetadataStore) -> None:
    repository = store.autoscaling
    repository.add_activity("a1", KEY, "Setting desired instance count to 2.", "c", IN_PROGRESS, "waiting", 2)
    repository.add_activity("a2", OTHER, "d", "c", SUCCESSFUL, "done")
    assert [a.activity_id for a in repository.activities(NAMESPACE)] == ["a2", "a1"]
    assert [a.activity_id for a in repository.activities(NAMESPACE, in_progress=True)] == ["a1"]
    repository.end_activity("a1", SUCCESSFUL, "done")
    repository.end_activity("a1", "Failed", "too late")  # an activity ends once
    [ended] = repository.activities(NAMESPACE, KEY.resource_id)
    assert (ended.status_code, ended.status_message, ended.desired) == (SUCCESSFUL, "done", 2)
    assert ended.end_time is not None and ended.end_time > ended.start_time
