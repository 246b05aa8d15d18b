"""The audit events' hash chain and LookupEvents' reading of them, on every backend."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from modelbay.store.metadata import SUCCESS, AuditEvent, MetadataStore
from modelbay.store.metadata.audit import GENESIS_HASH, EventQuery, chain_hash, cloudtrail_record
from modelbay.store.metadata.tables import AuditEventRow

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _event(request_id: str, at: datetime = T0, operation: str = "CreateModel", **fields: object) -> AuditEvent:
    defaults: dict[str, object] = {"principal": "arn:aws:iam::000000000000:root", "service": "sagemaker",
                                   "outcome": SUCCESS, "status_code": 200, "region": "us-east-1"}
    return AuditEvent(event_time=at, request_id=request_id, operation=operation, **(defaults | fields))  # type: ignore[arg-type]


def test_each_append_extends_one_chain_in_order(store: MetadataStore) -> None:
    first, second, third = _event("a"), _event("b"), _event("c", request_parameters={"ModelName": "m", "n": 1.5})
    store.audit.append([first, second])
    store.audit.append([third])
    chained = list(store.audit.chain(1, 3))
    assert [c.sequence for c in chained] == [1, 2, 3]
    assert [c.event for c in chained] == [first, second, third]
    expected = GENESIS_HASH
    for place, event in enumerate((first, second, third), start=1):
        expected = chain_hash(expected, place, event)
        assert chained[place - 1].chain_hash == expected
    assert store.audit.head() == (3, expected)


def test_the_rows_recorded_before_the_chain_are_chained_first_by_the_first_append(store: MetadataStore) -> None:
    store.audit.append([_event("old-1"), _event("old-2")])
    with store.db.write() as session:  # as revision 0028 leaves the rows it found
        session.execute(update(AuditEventRow).values(sequence=None, chain_hash=None, event_id=None))
    assert store.audit.head() is None
    store.audit.append([_event("new")])
    chained = list(store.audit.chain(1, 10))
    assert [c.event.request_id for c in chained] == ["old-1", "old-2", "new"]
    assert chained[0].event.event_id == "old-1"  # an old row's event id is its request id
    assert chained[1].chain_hash == chain_hash(chained[0].chain_hash or "", 2, chained[1].event)


def test_a_row_put_outside_the_chain_later_stays_outside(store: MetadataStore) -> None:
    store.audit.append([_event("a")])
    with store.db.write() as session:
        session.add(AuditEventRow(event_time=T0, request_id="forged", principal="p", service="s", operation="o",
                                  resources=[], outcome=SUCCESS, status_code=200))
    store.audit.append([_event("b")])
    assert [c.event.request_id for c in store.audit.unchained(10)] == ["forged"]
    assert [c.event.request_id for c in store.audit.chain(1, 10)] == ["a", "b"]


def test_lookup_pages_latest_first_within_the_region_and_time_range(store: MetadataStore) -> None:
    store.audit.append([_event(f"r{i}", T0 + timedelta(seconds=i)) for i in range(7)]
                       + [_event("paris", T0, region="eu-west-3")])
    query = EventQuery(region="us-east-1", since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=6))
    page, before = store.audit.lookup(query, None, 3)
    assert [e.request_id for e in page] == ["r5", "r4", "r3"]
    rest, end = store.audit.lookup(query, before, 3)
    assert [e.request_id for e in rest] == ["r2", "r1"] and end is None


@pytest.mark.parametrize(("attribute", "value", "expected"), [
    ("EventName", "DeleteModel", ["deleted"]), ("Username", "alice", ["by-alice"]), ("ReadOnly", "true", ["read"]),
    ("ReadOnly", "false", ["by-alice", "deleted"]), ("AccessKeyId", "AKIDALICE", ["by-alice"]),
    ("ResourceName", "my-model", ["deleted"]), ("ResourceType", "AWS::SageMaker::Model", ["deleted"]),
    ("EventSource", "s3.amazonaws.com", ["read"]), ("EventId", "event-7", ["read"])])
def test_lookup_by_each_attribute(store: MetadataStore, attribute: str, value: str, expected: list[str]) -> None:
    store.audit.append([
        _event("deleted", operation="DeleteModel", read_only=False, resources=("my-model",),
               resource_types=("AWS::SageMaker::Model",)),
        _event("by-alice", username="alice", access_key_id="AKIDALICE", read_only=False),
        _event("read", operation="ListBuckets", service="s3", event_source="s3.amazonaws.com", read_only=True,
               event_id="event-7")])
    found, _ = store.audit.lookup(EventQuery(attribute=attribute, value=value), None, 50)
    assert sorted(e.request_id for e in found) == sorted(expected)


def test_a_resource_filter_pages_through_rows_it_skips(store: MetadataStore) -> None:
    store.audit.append([_event(f"other-{i}") for i in range(1200)] + [_event("mine", resources=("x",))])
    store.audit.append([_event(f"later-{i}") for i in range(600)])
    found, before = store.audit.lookup(EventQuery(attribute="ResourceName", value="x"), None, 1)
    assert [e.request_id for e in found] == ["mine"]
    assert store.audit.lookup(EventQuery(attribute="ResourceName", value="x"), before, 1) == ([], None)


def test_a_cloudtrail_record_of_an_event_without_cloudtrail_fields_shows_what_it_has() -> None:
    record = cloudtrail_record(_event("old", outcome="ValidationException", error_message="no", status_code=400))
    assert record["userIdentity"] == {"arn": "arn:aws:iam::000000000000:root", "accountId": "000000000000"}
    assert record["eventSource"] == "sagemaker.amazonaws.com" and record["eventTime"] == "2026-03-01T12:00:00Z"
    assert (record["errorCode"], record["errorMessage"]) == ("ValidationException", "no")


def test_appends_at_once_from_many_writers_make_one_unbroken_chain(store: MetadataStore) -> None:
    def append_five(writer: int) -> None:
        for batch in range(5):
            store.audit.append([_event(f"w{writer}-{batch}-{i}") for i in range(3)])

    threads = [threading.Thread(target=append_five, args=(writer,)) for writer in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    chained = list(store.audit.chain(1, 1000))
    assert [c.sequence for c in chained] == list(range(1, 61))
    previous = GENESIS_HASH
    for c in chained:
        assert c.chain_hash == (previous := chain_hash(previous, c.sequence or 0, c.event))
