"""The audit repository on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from modelbay.store.metadata import SUCCESS, AuditEvent, MetadataStore

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _event(request_id: str, at: datetime = T0, principal: str = "arn:aws:iam::000000000000:user/alice",
           service: str = "sagemaker", operation: str = "AddTags") -> AuditEvent:
    return AuditEvent(event_time=at, request_id=request_id, principal=principal, service=service,
                      operation=operation, outcome=SUCCESS, status_code=200)


def _ids(events: list[AuditEvent]) -> list[str]:
    return [event.request_id for event in events]


def test_an_event_comes_back_as_it_went_in(store: MetadataStore) -> None:
    event = AuditEvent(event_time=T0, request_id="req-1", principal="anonymous", service="s3",
                       operation="PutObject", outcome="AccessDeniedException", status_code=403,
                       resources=("bucket/key", "arn:aws:s3:::bucket"), source_ip="192.0.2.7",
                       error_message="User: anonymous is not authorized to perform: s3:PutObject")
    store.audit.append([event, _event("req-2")])
    assert store.audit.find(operation="PutObject") == [event]


def test_times_in_other_zones_come_back_as_the_same_instant_in_utc(store: MetadataStore) -> None:
    local = T0.astimezone(timezone(timedelta(hours=-5)))
    store.audit.append([_event("req", at=local)])
    [found] = store.audit.find()
    assert found.event_time == T0 and found.event_time.tzinfo == UTC


def test_find_is_newest_first_and_same_times_newest_appended_first(store: MetadataStore) -> None:
    store.audit.append([_event("middle", T0), _event("oldest", T0 - timedelta(seconds=1))])
    store.audit.append([_event("newest", T0 + timedelta(microseconds=1)), _event("middle-later", T0)])
    assert _ids(store.audit.find()) == ["newest", "middle-later", "middle", "oldest"]


def test_find_filters(store: MetadataStore) -> None:
    store.audit.append([
        _event("a", T0 - timedelta(minutes=2)),
        _event("b", T0 - timedelta(minutes=1), principal="bob"),
        _event("c", T0, service="s3", operation="GetObject"),
        _event("d", T0 + timedelta(minutes=1), operation="ListTags"),
    ])
    assert _ids(store.audit.find(since=T0 - timedelta(minutes=1))) == ["d", "c", "b"]  # since is inclusive
    assert _ids(store.audit.find(until=T0)) == ["b", "a"]  # until is exclusive
    assert _ids(store.audit.find(since=T0 - timedelta(minutes=1), until=T0)) == ["b"]
    assert _ids(store.audit.find(principal="bob")) == ["b"]
    assert _ids(store.audit.find(service="s3")) == ["c"]
    assert _ids(store.audit.find(operation="AddTags")) == ["b", "a"]
    assert _ids(store.audit.find(service="sagemaker", principal="bob", operation="AddTags")) == ["b"]
    assert _ids(store.audit.find(limit=2)) == ["d", "c"]


def test_find_failed_keeps_only_the_calls_that_did_not_succeed(store: MetadataStore) -> None:
    refused = AuditEvent(event_time=T0, request_id="refused", principal="anonymous", service="sagemaker",
                         operation="CreateModel", outcome="ValidationException", status_code=400,
                         error_message="Could not find model data")
    store.audit.append([_event("ok", T0 + timedelta(seconds=1)), refused])
    assert store.audit.find(failed=True) == [refused]
    assert _ids(store.audit.find(failed=True, operation="AddTags")) == []


def test_append_is_one_transaction(store: MetadataStore) -> None:
    broken = _event("broken")
    object.__setattr__(broken, "event_time", T0.replace(tzinfo=None))  # what __post_init__ would refuse
    with pytest.raises(Exception, match="naive datetime"):
        store.audit.append([_event("good"), broken])
    assert store.audit.find() == []


def test_events_need_timezone_aware_times() -> None:
    with pytest.raises(ValueError):
        _event("req", at=datetime(2026, 1, 1))
