"""The endpoint repository on every metadata backend: requests, the controller's progress, their races, and the
transitions table."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from modelbay.statuses import EndpointStatus
from modelbay.store.metadata import (
    EndpointNotFound,
    EndpointRepository,
    EndpointSpec,
    ListFilter,
    MetadataStore,
    RecordExists,
    StatusConflict,
    UnknownVariants,
    UpdateOutcome,
    VariantState,
)
from modelbay.store.metadata.endpoints import LIFECYCLE, Rollout, RolloutPhase
from modelbay.store.metadata.lifecycle import IllegalTransition
from tests.helpers import T0

SPEC = EndpointSpec(config={"ProductionVariants": [{"VariantName": "a", "ModelName": "m"}]},
                    models={"m": {"PrimaryContainer": {"Image": "modelbay/sklearn"}}})
NEW_SPEC = EndpointSpec(config={"ProductionVariants": [{"VariantName": "b", "ModelName": "m"}]}, models=SPEC.models)
IMAGE = {"SpecifiedImage": "modelbay/sklearn", "ResolvedImage": "modelbay/sklearn", "ResolutionTime": T0}


@pytest.fixture
def endpoints(store: MetadataStore) -> EndpointRepository:
    return store.endpoints


def _arn(name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:000000000000:endpoint/{name.lower()}"


def _create(endpoints: EndpointRepository, name: str = "e") -> None:
    endpoints.create(name, _arn(name), "config", [VariantState("a", 1.0, 2)], SPEC)


def _in_service(endpoints: EndpointRepository, name: str = "e") -> None:
    _create(endpoints, name)
    endpoints.advance(name, EndpointStatus.IN_SERVICE, variants=[VariantState("a", 0, 0, current_weight=1.0,
                                                                              current_instance_count=2)])


def test_create_then_get(endpoints: EndpointRepository) -> None:
    endpoints.create("E", _arn("E"), "config", [VariantState("a", 1.0, 2)], SPEC, {"RollingUpdatePolicy": {}})
    endpoint = endpoints.get("E")
    assert endpoint is not None
    assert (endpoint.name, endpoint.arn, endpoint.config_name, endpoint.status, endpoint.failure_reason) == (
        "E", _arn("e"), "config", "Creating", None)
    assert (endpoint.variants, endpoint.spec, endpoint.deployment_config) == (
        (VariantState("a", 1.0, 2),), SPEC, {"RollingUpdatePolicy": {}})
    assert (endpoint.pending_config_name, endpoint.pending_variants, endpoint.pending_spec) == (None, (), None)
    assert (endpoint.update_requested, endpoint.delete_requested, endpoint.generation) == (False, False, 0)
    assert endpoint.creation_time == endpoint.last_modified_time == T0 + timedelta(seconds=1)
    assert endpoint.spec.containers("m") == [{"Image": "modelbay/sklearn"}]
    with pytest.raises(RecordExists):
        _create(endpoints, "e")
    assert endpoints.names_to_reconcile() == ["E"]


def test_record_keeps_desired_values_and_round_trips_wire_dicts(endpoints: EndpointRepository) -> None:
    _create(endpoints)
    status = {"Status": "Creating", "StatusMessage": "starting", "StartTime": T0}
    reported = VariantState("a", 9.0, 9, current_weight=1.0, current_instance_count=1, deployed_images=(IMAGE,),
                            status=(status,))
    recorded = endpoints.advance("e", EndpointStatus.IN_SERVICE, variants=[reported, VariantState("zz", 1, 1)])
    assert recorded.variants == (VariantState("a", 1.0, 2, 1.0, 1, (IMAGE,), (status,)),)
    assert recorded.status == "InService"
    assert endpoints.advance("e", None, failure_reason="boom").failure_reason == "boom"
    assert endpoints.advance("e", EndpointStatus.IN_SERVICE).failure_reason == "boom"  # unchanged unless given
    with pytest.raises(EndpointNotFound):
        endpoints.advance("nope", EndpointStatus.FAILED)


def test_update_records_the_pending_config_until_it_is_finished(endpoints: EndpointRepository) -> None:
    _in_service(endpoints)
    updating = endpoints.request_update("e", "new", [VariantState("b", 1.0, 1)], NEW_SPEC, {"Blue": 1})
    assert (updating.status, updating.pending_config_name, updating.pending_variants, updating.pending_spec) == (
        "Updating", "new", (VariantState("b", 1.0, 1),), NEW_SPEC)
    assert (updating.generation, updating.deployed_generation) == (1, 0)  # the old fleet serves until the switch
    assert (updating.update_requested, updating.deployment_config) == (True, {"Blue": 1})
    assert updating.pending_since == updating.last_modified_time
    # the controller's pass over the old fleet reports progress, but cannot end the update
    still = endpoints.advance("e", EndpointStatus.IN_SERVICE,
                              pending_variants=[VariantState("b", 0, 0, current_weight=1.0)])
    assert (still.status, still.pending_variants[0].current_weight) == ("Updating", 1.0)
    done = endpoints.advance("e", EndpointStatus.IN_SERVICE, update=UpdateOutcome.DEPLOYED)
    assert (done.status, done.config_name, done.spec, done.generation) == ("InService", "new", NEW_SPEC, 1)
    assert done.deployed_generation == 1
    assert done.variants == (VariantState("b", 1.0, 1, current_weight=1.0),)
    assert (done.pending_config_name, done.pending_variants, done.pending_spec, done.update_requested) == (
        None, (), None, False)
    with pytest.raises(IllegalTransition):  # the controller ends only an update in progress
        endpoints.advance("e", EndpointStatus.IN_SERVICE, update=UpdateOutcome.DEPLOYED)


def test_a_failed_update_keeps_the_old_config_and_records_why(endpoints: EndpointRepository) -> None:
    _in_service(endpoints)
    endpoints.request_update("e", "new", [VariantState("b", 1.0, 1)], NEW_SPEC)
    failed = endpoints.advance("e", EndpointStatus.IN_SERVICE, failure_reason="image not found",
                               update=UpdateOutcome.ROLLED_BACK)
    assert (failed.status, failed.config_name, failed.failure_reason, failed.pending_config_name) == (
        "InService", "config", "image not found", None)
    assert failed.variants[0].current_instance_count == 2
    assert (failed.generation, failed.deployed_generation) == (1, 0)  # the failed fleet's label is never reused
    again = endpoints.request_update("e", "new", [VariantState("b", 1.0, 1)], NEW_SPEC)
    assert (again.generation, again.deployed_generation, again.failure_reason) == (2, 0, None)


def test_an_update_keeps_its_rollout_and_rolls_back_through_rolling_back(endpoints: EndpointRepository) -> None:
    _in_service(endpoints)
    updating = endpoints.request_update("e", "new", [VariantState("b", 1.0, 1)], NEW_SPEC, {"Blue": 1})
    assert updating.rollout == Rollout(RolloutPhase.PROVISIONING, 0, updating.last_modified_time,
                                       updating.last_modified_time)
    baking = replace(updating.rollout, phase=RolloutPhase.BAKING, step=1, phase_started=T0 + timedelta(seconds=5))
    assert endpoints.advance("e", EndpointStatus.UPDATING, rollout=baking).rollout == baking  # restart-safe
    back = replace(baking, phase=RolloutPhase.ROLLING_BACK, reason="alarm")
    rolling_back = endpoints.advance("e", EndpointStatus.ROLLING_BACK, rollout=back)
    assert (rolling_back.status, rolling_back.rollout) == ("RollingBack", back)
    # without its rollout, the controller's pass over the old fleet moves nothing while the update is in progress
    assert endpoints.advance("e", EndpointStatus.IN_SERVICE).status == "RollingBack"
    done = endpoints.advance("e", EndpointStatus.IN_SERVICE, failure_reason="alarm", update=UpdateOutcome.ROLLED_BACK)
    assert (done.status, done.config_name, done.failure_reason, done.rollout) == ("InService", "config", "alarm", None)
    assert done.deployment_config == {"Blue": 1}  # LastDeploymentConfig: the one this update followed
    assert endpoints.request_update("e", "new", [VariantState("b", 1.0, 1)], NEW_SPEC).deployment_config is None


@pytest.mark.parametrize("status", [EndpointStatus.CREATING, EndpointStatus.FAILED])
def test_requests_refused_by_status(endpoints: EndpointRepository, status: EndpointStatus) -> None:
    _create(endpoints)
    endpoints.advance("e", status)
    for request in (lambda: endpoints.request_update("e", "new", [], NEW_SPEC),
                    lambda: endpoints.request_weights("e", {"a": (2.0, None)})):
        with pytest.raises(StatusConflict) as caught:
            request()
        assert caught.value.status == status
    assert endpoints.get("e").status == status  # type: ignore[union-attr]
    with pytest.raises(EndpointNotFound):
        endpoints.request_update("nope", "new", [], NEW_SPEC)


def test_weights_set_desired_values_and_a_settled_status_ends_them(endpoints: EndpointRepository) -> None:
    _in_service(endpoints)
    with pytest.raises(UnknownVariants) as caught:
        endpoints.request_weights("e", {"a": (2.0, 3), "x": (1.0, None), "y": (None, 1)})
    assert caught.value.names == ["x", "y"]
    assert endpoints.get("e").variants[0].desired_weight == 1.0  # type: ignore[union-attr]  # nothing written
    updating = endpoints.request_weights("e", {"a": (None, 3)})
    assert (updating.status, updating.update_requested, updating.generation) == ("Updating", True, 0)
    assert (updating.variants[0].desired_weight, updating.variants[0].desired_instance_count) == (1.0, 3)
    assert endpoints.advance("e", EndpointStatus.UPDATING).update_requested
    settled = endpoints.advance("e", EndpointStatus.IN_SERVICE)
    assert (settled.status, settled.update_requested) == ("InService", False)


def test_delete_request_outranks_the_controllers_status(store: MetadataStore, endpoints: EndpointRepository) -> None:
    _create(endpoints)
    with pytest.raises(StatusConflict) as caught:
        endpoints.request_delete("e")  # SageMaker refuses while Creating
    assert caught.value.status == "Creating"
    endpoints.advance("e", EndpointStatus.FAILED, failure_reason="no image")
    deleting = endpoints.request_delete("e")
    assert (deleting.status, deleting.delete_requested, deleting.failure_reason) == ("Deleting", True, None)
    assert endpoints.advance("e", EndpointStatus.IN_SERVICE).status == "Deleting"
    with pytest.raises(StatusConflict):
        endpoints.request_delete("e")
    store.tags.add(_arn("e"), [("k", "v")])
    endpoints.delete("e")
    assert (endpoints.get("e"), endpoints.names_to_reconcile(), store.tags.list(_arn("e")).items) == (None, [], [])
    with pytest.raises(EndpointNotFound):
        endpoints.delete("e")


def test_list_filters_by_status_and_times(endpoints: EndpointRepository) -> None:
    for name in ("b", "a", "c"):  # created at t+1 .. t+3
        _create(endpoints, name)
    endpoints.advance("a", EndpointStatus.IN_SERVICE)  # t+4
    names = lambda **kw: [e.name for e in endpoints.list(**kw).items]  # noqa: E731
    assert names() == ["c", "a", "b"]
    assert names(filters=ListFilter(status="Creating"), sort_by="Name", ascending=True) == ["b", "c"]
    assert names(sort_by="Status", ascending=True) == ["b", "c", "a"]
    assert names(filters=ListFilter(modified_after=T0 + timedelta(seconds=3))) == ["a"]


def test_concurrent_requests_and_progress_lose_no_write(endpoints: EndpointRepository) -> None:
    """A weights request racing the controller's reports keeps its desired values and its Updating status."""
    _in_service(endpoints)
    go = threading.Barrier(2)

    def controller() -> None:
        go.wait()
        for count in range(20):
            endpoints.advance("e", None, variants=[VariantState("a", 0, 0, current_weight=1.0,
                                                                current_instance_count=count)])

    thread = threading.Thread(target=controller)
    thread.start()
    go.wait()
    endpoints.request_weights("e", {"a": (5.0, 7)})
    thread.join()
    endpoint = endpoints.get("e")
    assert endpoint is not None
    assert (endpoint.status, endpoint.variants[0].desired_weight, endpoint.variants[0].desired_instance_count,
            endpoint.variants[0].current_instance_count) == ("Updating", 5.0, 7, 19)


def test_the_transitions_table_is_checked_where_the_controller_moves_an_endpoint(
        endpoints: EndpointRepository) -> None:
    assert LIFECYCLE.ended == {EndpointStatus.DELETING}
    assert set(LIFECYCLE.moves) == set(EndpointStatus)
    _create(endpoints)
    assert endpoints.advance("e", EndpointStatus.FAILED, failure_reason="no image").status == "Failed"  # legal
    with pytest.raises(IllegalTransition, match="e: Failed cannot move to InService"):
        endpoints.advance("e", EndpointStatus.IN_SERVICE)
    assert endpoints.get("e").status == "Failed"  # type: ignore[union-attr]  # nothing written
    _create(endpoints, "f")
    with pytest.raises(IllegalTransition, match="f: Creating cannot move to Deleting"):
        endpoints.advance("f", EndpointStatus.DELETING)


def test_the_table_says_which_requests_a_status_allows(endpoints: EndpointRepository) -> None:
    updatable = {s for s in EndpointStatus if LIFECYCLE.allows(s, EndpointStatus.UPDATING)}
    deletable = {s for s in EndpointStatus if LIFECYCLE.allows(s, EndpointStatus.DELETING)}
    assert updatable == {EndpointStatus.IN_SERVICE}
    assert deletable == {EndpointStatus.IN_SERVICE, EndpointStatus.FAILED, EndpointStatus.OUT_OF_SERVICE,
                         EndpointStatus.UPDATE_ROLLBACK_FAILED}
    _in_service(endpoints)
    endpoints.request_weights("e", {"a": (2.0, None)})
    with pytest.raises(StatusConflict) as caught:
        endpoints.request_delete("e")  # Updating allows no delete
    assert caught.value.status == "Updating"
