"""The Model Registry's repositories on every metadata backend: groups, versions numbered safely under concurrent
registration, unversioned packages, updates and their events, listings, and the transitions tables."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from modelbay.statuses import ModelApprovalStatus, ModelPackageStatus
from modelbay.store.metadata import MetadataStore, RecordExists
from modelbay.store.metadata import events as event_log
from modelbay.store.metadata.lifecycle import IllegalTransition
from modelbay.store.metadata.model_packages import (
    LIFECYCLE,
    STATE_CHANGE,
    Change,
    GroupNotEmpty,
    ModelPackageFilter,
    ModelPackageGroupNotFound,
    ModelPackageNotFound,
    ModelPackageRow,
)
from tests.helpers import T0

PREFIX = "arn:aws:sagemaker:us-east-1:000000000000"
SPEC: dict[str, Any] = {"InferenceSpecification": {"Containers": [{"Image": "modelbay/sklearn:1.2-1",
                                                                   "ModelDataUrl": "s3://b/model.tar.gz"}]}}
WHO = {"IamIdentity": {"Arn": "arn:aws:iam::000000000000:user/me"}}
PENDING = ModelApprovalStatus.PENDING_MANUAL_APPROVAL


def _group(store: MetadataStore, name: str) -> str:
    arn = f"{PREFIX}:model-package-group/{name.lower()}"
    store.model_package_groups.create(name, arn, "churn models", WHO)
    return arn


def _version(store: MetadataStore, group: str, approval: ModelApprovalStatus = PENDING) -> str:
    return store.model_packages.create_version(group, _group_arn(group), SPEC, approval, {"k": "v"}, WHO).arn


def _group_arn(name: str) -> str:
    return f"{PREFIX}:model-package-group/{name.lower()}"


def test_a_group_is_found_by_name_or_arn_and_deleted_once_empty(store: MetadataStore) -> None:
    arn = _group(store, "Churn")
    groups = store.model_package_groups
    by_name, by_arn = groups.get("Churn"), groups.get(arn.upper().replace("ARN:AWS:SAGEMAKER", "arn:aws:sagemaker"))
    assert by_name is not None and by_name == by_arn
    assert (by_name.status, by_name.description, by_name.created_by) == ("Completed", "churn models", WHO)
    assert groups.get("churn") is None  # names are case-sensitive
    with pytest.raises(RecordExists):
        _group(store, "CHURN")  # the same ARN
    version = _version(store, "Churn")
    with pytest.raises(GroupNotEmpty) as refused:
        groups.delete("Churn")
    assert refused.value.count == 1
    store.model_packages.delete(version)
    groups.delete("Churn")
    assert groups.get("Churn") is None
    with pytest.raises(ModelPackageGroupNotFound):
        groups.delete("Churn")


def test_a_group_keeps_its_policy_until_removed(store: MetadataStore) -> None:
    _group(store, "g")
    assert store.model_package_groups.set_policy("g", '{"Statement": []}').resource_policy == '{"Statement": []}'
    assert store.model_package_groups.set_policy("g", None).resource_policy is None
    with pytest.raises(ModelPackageGroupNotFound):
        store.model_package_groups.set_policy("nope", None)


def test_versions_count_from_one_and_are_never_reused(store: MetadataStore) -> None:
    _group(store, "Churn")
    first, second = _version(store, "Churn"), _version(store, "Churn")
    assert (first, second) == (f"{PREFIX}:model-package/churn/1", f"{PREFIX}:model-package/churn/2")
    store.model_packages.delete(second)
    assert _version(store, "Churn") == f"{PREFIX}:model-package/churn/3"
    package = store.model_packages.get(first.upper().replace("ARN:AWS:SAGEMAKER", "arn:aws:sagemaker"))
    assert package is not None
    assert (package.name, package.group_name, package.version, package.status, package.approval_status) == (
        "Churn", "Churn", 1, ModelPackageStatus.COMPLETED, PENDING)
    assert package.containers == SPEC["InferenceSpecification"]["Containers"]
    assert package.creation_time > T0 and package.customer_metadata == {"k": "v"}
    with pytest.raises(ModelPackageGroupNotFound):
        _version(store, "nope")


def test_concurrent_registrations_get_distinct_consecutive_versions(store: MetadataStore) -> None:
    _group(store, "Busy")
    with ThreadPoolExecutor(max_workers=8) as pool:
        arns = list(pool.map(lambda _: _version(store, "Busy"), range(24)))
    assert sorted(int(arn.rsplit("/", 1)[1]) for arn in arns) == list(range(1, 25))
    assert [p.version for p in store.model_packages.versions("Busy")] == list(range(1, 25))


def test_the_unique_index_is_the_backstop_against_a_repeated_version(store: MetadataStore) -> None:
    _group(store, "g")
    package = store.model_packages.get(_version(store, "g"))
    assert package is not None
    with pytest.raises(IntegrityError), store.db.write() as session:
        session.add(ModelPackageRow(
            name="g", arn=f"{PREFIX}:model-package/g/1-again", group_name="g", version=1, request={},
            approval_status=PENDING, approval_description=None, customer_metadata={}, status_details={},
            created_by={}, last_modified_by=None, status="Completed", creation_time=T0, last_modified_time=T0))


def test_an_unversioned_package_stands_alone(store: MetadataStore) -> None:
    arn = f"{PREFIX}:model-package/solo"
    package = store.model_packages.create_unversioned("Solo", arn, SPEC, None, {}, WHO)
    assert (package.name, package.group_name, package.version, package.approval_status) == ("Solo", None, None, None)
    assert "ModelPackageGroupName" not in package.members() and "ModelApprovalStatus" not in package.members()
    with pytest.raises(RecordExists):
        store.model_packages.create_unversioned("solo", arn, SPEC, None, {}, WHO)


def test_an_update_changes_approval_and_metadata_and_records_an_event_when_approval_changes(
        store: MetadataStore) -> None:
    _group(store, "g")
    arn = _version(store, "g")
    created = store.events.after(0)
    assert [(e.detail_type, e.resources, e.detail["ModelApprovalStatus"]) for e in created] == [
        (STATE_CHANGE, (arn,), "PendingManualApproval")]
    assert (created[0].source, created[0].region, created[0].account) == ("aws.sagemaker", "us-east-1", "000000000000")
    who = {"IamIdentity": {"Arn": "arn:aws:iam::000000000000:user/reviewer"}}
    updated = store.model_packages.update(arn, Change(
        approval_status=ModelApprovalStatus.APPROVED, approval_description="good AUC",
        customer_metadata={"auc": "0.91"}, metadata_to_remove=("k",), request={"ModelLifeCycle": {"Stage": "prod"}}),
        who)
    assert (updated.approval_status, updated.approval_description, updated.customer_metadata) == (
        "Approved", "good AUC", {"auc": "0.91"})
    assert updated.last_modified_by == who and updated.last_modified_time > updated.creation_time
    assert updated.members()["ModelLifeCycle"] == {"Stage": "prod"}
    [approved] = store.events.after(created[0].id)
    assert approved.detail["ModelApprovalStatus"] == "Approved"
    assert approved.detail["LastModifiedTime"] == updated.last_modified_time.isoformat()
    store.model_packages.update(arn, Change(customer_metadata={"x": "y"}), who)  # approval unchanged: no event
    assert store.events.after(approved.id) == [] and store.events.last_id() == approved.id
    with pytest.raises(ModelPackageNotFound):
        store.model_packages.update(f"{PREFIX}:model-package/g/9", Change(), who)


def test_the_event_log_keeps_the_most_recent(store: MetadataStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_log, "MAX_EVENTS", 3)
    _group(store, "g")
    arns = [_version(store, "g") for _ in range(5)]
    assert [e.resources[0] for e in store.events.after(0)] == arns[2:]
    assert len(store.events.after(0, limit=2)) == 2


def test_listing_filters_by_kind_group_and_approval(store: MetadataStore) -> None:
    _group(store, "a")
    _group(store, "b")
    first, _ = _version(store, "a", ModelApprovalStatus.APPROVED), _version(store, "a")
    other = _version(store, "b", ModelApprovalStatus.APPROVED)
    solo = store.model_packages.create_unversioned("solo", f"{PREFIX}:model-package/solo", SPEC, None, {}, WHO).arn

    def listed(**filters: Any) -> list[str]:
        page = store.model_packages.list(ModelPackageFilter(**filters), "CreationTime", True, None, 10)
        return [package.arn for package in page.items]

    assert listed() == [solo]  # unversioned packages unless asked otherwise
    assert listed(versioned=None) == [first, first.replace("/1", "/2"), other, solo]
    assert listed(versioned=True, approval_status="Approved") == [first, other]
    assert listed(versioned=True, group_name="b") == [other]


def test_the_lifecycle_allows_validation_moves_only() -> None:
    assert LIFECYCLE.allows("InProgress", ModelPackageStatus.COMPLETED)
    with pytest.raises(IllegalTransition):
        LIFECYCLE.check("p", "Completed", ModelPackageStatus.IN_PROGRESS)
    assert ModelPackageStatus.DELETING in LIFECYCLE.ended
