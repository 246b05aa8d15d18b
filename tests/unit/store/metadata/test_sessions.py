"""STS sessions on every metadata backend: found by access key id as stored, purged a day after they expire."""

from __future__ import annotations

from datetime import timedelta

from modelbay.store.metadata import MetadataStore
from modelbay.store.metadata.sessions import PURGE_AFTER, SessionRecord
from tests.helpers import T0, Clock


def _session(key: str, expires_in: timedelta = timedelta(hours=1)) -> SessionRecord:
    return SessionRecord(key, b"sealed", "ab" * 32, T0 + expires_in, "AssumedRole", "builder", "/team/",
                         "AROAEXAMPLE", "nightly", T0, {"team": "ml"}, ("team",), '{"Version": "2012-10-17"}',
                         ("arn:aws:iam::aws:policy/ReadOnlyAccess",), "alice", True)


def test_a_session_is_found_by_its_access_key_id_as_it_was_added(store: MetadataStore) -> None:
    store.sessions.add(_session("ASIAAAAAAAAAAAAAAAAA"))
    store.sessions.add(SessionRecord("ASIABBBBBBBBBBBBBBBB", b"s", "cd" * 32, T0 + timedelta(hours=12), "Root"))
    assert store.sessions.find("ASIAAAAAAAAAAAAAAAAA") == _session("ASIAAAAAAAAAAAAAAAAA")
    root = store.sessions.find("ASIABBBBBBBBBBBBBBBB")
    assert root is not None and (root.kind, root.name, root.tags, root.mfa_authenticated_at) == ("Root", None, {}, None)
    assert store.sessions.find("ASIACCCCCCCCCCCCCCCC") is None


def test_sessions_expired_over_a_day_ago_are_purged_as_sessions_are_added(store: MetadataStore,
                                                                          clock: Clock) -> None:
    store.sessions.add(_session("ASIAOLDOLDOLDOLDOLDO", expires_in=timedelta(minutes=15)))
    store.sessions.add(_session("ASIALATELATELATELATE", expires_in=timedelta(hours=2)))
    clock.now = T0 + timedelta(minutes=15) + PURGE_AFTER  # the first expired a day ago; the next reading is later
    store.sessions.add(_session("ASIANEWNEWNEWNEWNEWN", expires_in=PURGE_AFTER * 2))
    assert store.sessions.find("ASIAOLDOLDOLDOLDOLDO") is None
    assert store.sessions.find("ASIALATELATELATELATE") is not None  # expired, but not a day ago: ExpiredToken
    assert store.sessions.find("ASIANEWNEWNEWNEWNEWN") is not None
